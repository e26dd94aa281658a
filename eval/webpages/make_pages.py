"""Write the labelled test pages: advice bodies (bodies.py) inside the furniture of imaginary sites.

Each site saves its pages the way a reader would get them: copied from a browser as text (single
newlines, CRLF, a BOM), saved as Markdown by a clipper (front matter, image lines, link lists), saved as
HTML, or printed to PDF (fpdf2; browser header and footer lines on every page). The furniture is written
from what real relationship-advice and news sites carry (menus, breadcrumbs, bylines, "medically reviewed",
tables of contents, ads, share bars, newsletter and cookie prompts, author boxes, related and comment
blocks, footers), not from what the cleaner handles. Every furniture line is recorded with its kind in
labels.json, with the title, the real headings and the advice paragraphs; clean/ holds the same pages
with the furniture deleted by hand (title, headings, paragraphs as Markdown).

Run: .venv/bin/python eval/webpages/make_pages.py  (rewrites pages/, clean/ and labels.json)
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bodies import BODIES  # noqa: E402
from questions import QUESTIONS  # noqa: E402

# Written before any cleaning rule was tuned, and never used to tune one: two whole sites (lovelab,
# pairwise) and one page of four others.
HELD_OUT = {
    "lovelab-1",
    "lovelab-2",
    "pairwise-1",
    "pairwise-2",
    "mindwell-3",
    "heartnotes-3",
    "couplecraft-3",
    "together-2",
}


class Page:
    """A page being written: its parts in order and the labels of what they are."""

    def __init__(self, site: str, key: str) -> None:
        self.site, self.key = site, key
        self.body = BODIES[key]
        self.parts: list[str] = []
        self.boilerplate: list[dict[str, str]] = []

    def bp(self, kind: str, text: str, raw: str | None = None) -> None:
        self.boilerplate.append({"kind": kind, "text": text})
        self.parts.append(text if raw is None else raw)

    def raw(self, s: str) -> None:
        self.parts.append(s)

    @property
    def title(self) -> str:
        return self.body["title"]

    def sections(self) -> list[tuple[str, list[str]]]:
        return self.body["sections"]


def _items(para: str) -> list[str]:
    return [p.removeprefix("- ") for p in para.split("\n")] if para.startswith("- ") else []


# ---- text bodies --------------------------------------------------------------------------------


def body_text(
    page: Page, inserts: dict[tuple[int, int], list[tuple[str, str]]] | None = None, bullet: str = ""
) -> None:
    """Headings as bare lines, paragraphs as lines; inserts[(section, paragraph)] go before that paragraph."""
    inserts = inserts or {}
    for si, (heading, paras) in enumerate(page.sections()):
        for kind, text in inserts.get((si, -1), []):
            page.bp(kind, text)
        if heading:
            page.raw(heading)
        for pi, para in enumerate(paras):
            for kind, text in inserts.get((si, pi), []):
                page.bp(kind, text)
            items = _items(para)
            page.raw("\n".join(bullet + i for i in items) if items else para)


def body_md(page: Page, inserts: dict[tuple[int, int], list[tuple[str, str, str]]] | None = None) -> None:
    """Headings as ##, lists as '- '; inserts are (kind, text, markdown)."""
    inserts = inserts or {}
    for si, (heading, paras) in enumerate(page.sections()):
        for kind, text, raw in inserts.get((si, -1), []):
            page.bp(kind, text, raw)
        if heading:
            page.raw(f"## {heading}")
        for pi, para in enumerate(paras):
            for kind, text, raw in inserts.get((si, pi), []):
                page.bp(kind, text, raw)
            page.raw(para)


def body_html(page: Page, inserts: dict[tuple[int, int], list[tuple[str, str, str]]] | None = None) -> None:
    inserts = inserts or {}
    for si, (heading, paras) in enumerate(page.sections()):
        for kind, text, raw in inserts.get((si, -1), []):
            page.bp(kind, text, raw)
        if heading:
            page.raw(f'<h2 id="s{si}">{html.escape(heading)}</h2>')
        for pi, para in enumerate(paras):
            for kind, text, raw in inserts.get((si, pi), []):
                page.bp(kind, text, raw)
            items = _items(para)
            if items:
                page.raw("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
            else:
                page.raw(f"<p>{html.escape(para)}</p>")


def headings(page: Page) -> list[str]:
    return [h for h, _ in page.sections() if h]


def slug(page: Page) -> str:
    return page.key


# ---- sites ----------------------------------------------------------------------------------------

MINDWELL_RELATED = [
    "How to Stop Overthinking in a New Relationship",
    "7 Signs You're in a Healthy Relationship",
    "What Is Attachment Style? A Guide for Couples",
]


def mindwell(page: Page, n: int) -> str:
    """Copied from a browser: one line per element, single newlines, no blank lines."""
    page.bp("nav", "Skip to content")
    page.bp("nav", "Mindwell")
    page.bp("nav", "Search")
    page.bp("nav", "Relationships  Dating  Family  Wellness  Podcast")
    page.bp("nav", "Home  ›  Relationships  ›  Communication")
    page.raw(page.title)
    page.bp("byline", "By Priya Raman, LMFT  |  Updated March 3, 2025")
    page.bp("byline", "Medically reviewed by Daniel Ortiz, PhD")
    page.bp("byline", f"{5 + n} min read")
    page.bp("share", "Share")
    body_text(
        page, {(1, 1): [("ad", "Advertisement")], (2, 0): [("caption", "Image by Getty Images / Westend61")]}
    )
    page.bp("share", "Was this page helpful?")
    page.bp("share", "Yes  No")
    page.bp("related", "Related Articles")
    for t in MINDWELL_RELATED:
        page.bp("related", t)
    page.bp("share", "Get our weekly newsletter with practical tips for healthier relationships.")
    page.bp("share", "Enter your email")
    page.bp("share", "Subscribe")
    page.bp("footer", "About Us  Careers  Contact  Privacy Policy  Terms of Use  Editorial Process")
    page.bp("footer", "© 2025 Mindwell Media, Inc. All rights reserved.")
    return "\n".join(page.parts) + "\n"


def ledger(page: Page, n: int) -> str:
    """A newspaper's 'Love & Relationships' column copied as text, CRLF line endings (saved on Windows)."""
    page.bp("nav", "The Daily Ledger")
    page.bp("nav", "Subscribe   Sign In")
    page.bp("nav", "News | Opinion | Life | Love & Relationships | Money | Puzzles")
    page.bp("nav", "LIFE / RELATIONSHIPS")
    page.raw(page.title)
    page.bp("byline", "By Sam Whitaker")
    page.bp("byline", f"May {2 + n}, 2024 at 6:00 a.m. EDT")
    page.bp("share", "Share this article")
    page.bp("share", "Facebook  Twitter  Email  Copy link")
    page.bp("caption", "A couple talks over coffee at their kitchen table. (Getty Images)")
    body_text(
        page,
        {(1, 1): [("ad", "Story continues below advertisement")], (3, 0): [("ad", "Continue Reading Below")]},
    )
    page.bp(
        "bio",
        "Sam Whitaker writes about relationships and family life for The Daily Ledger. He lives in Ohio with his wife and two dogs.",
    )
    page.bp("related", "Most Read")
    page.bp("related", "1. The one question therapists say every couple should ask")
    page.bp("related", "2. Why more retirees are choosing to live apart together")
    page.bp("related", "3. Opinion: We need to talk about the mental load")
    page.bp("comments", f"Comments ({12 + n})")
    page.bp("comments", "Sign in to join the conversation")
    page.bp(
        "footer",
        "© 2024 The Daily Ledger Company. Terms of Service | Privacy Policy | Cookie Settings | Contact Us",
    )
    bom = "\ufeff" if n == 1 else ""
    return bom + "\r\n\r\n".join(page.parts) + "\r\n"


def heartnotes(page: Page, n: int) -> str:
    """A WordPress blog saved as Markdown by a clipper: menus, TOC, tags, author box, related, comments."""
    page.bp("nav", "Skip to content", "[Skip to content](#content)")
    page.bp("nav", "HeartNotes", "[HeartNotes](https://heartnotes.blog/)")
    page.bp(
        "nav",
        "Home About Blog Coaching Contact",
        "[Home](/) [About](/about) [Blog](/blog) [Coaching](/coaching) [Contact](/contact)",
    )
    page.raw(f"# {page.title}")
    page.bp(
        "byline",
        f"Posted on May {n + 1}, 2024 by Jess Morales — {9 + n} Comments",
        f"Posted on [May {n + 1}, 2024](https://heartnotes.blog/2024/05/) by [Jess Morales](/author/jess) — [{9 + n} Comments](#comments)",
    )
    page.bp(
        "caption",
        "couple holding hands",
        "![couple holding hands](https://heartnotes.blog/wp-content/uploads/hands.jpg)",
    )
    page.bp("caption", "Image via Shutterstock", "*Image via Shutterstock*")
    page.bp("toc", "Table of Contents", "**Table of Contents**")
    toc = "\n".join(f"- [{h}](#{h.lower().replace(' ', '-')})" for h in headings(page))
    for h in headings(page):
        page.boilerplate.append({"kind": "toc", "text": h})
    page.raw(toc)
    body_md(
        page,
        {
            (2, 0): [
                (
                    "related",
                    "Related: 5 Ways to Feel Closer to Your Partner Tonight",
                    "**Related:** [5 Ways to Feel Closer to Your Partner Tonight](/closer-tonight)",
                )
            ]
        },
    )
    page.bp(
        "nav",
        "Tags: communication, relationships, trust",
        "Tags: [communication](/tag/communication), [relationships](/tag/relationships), [trust](/tag/trust)",
    )
    page.bp(
        "share", "Share this: Facebook Pinterest Email", "Share this: [Facebook](#) [Pinterest](#) [Email](#)"
    )
    page.bp("bio", "About Jess Morales", "### About Jess Morales")
    page.bp(
        "bio",
        "Jess Morales is a certified relationship coach who helps couples communicate with more kindness. She has been writing HeartNotes since 2016.",
    )
    page.bp("related", "You May Also Like", "## You May Also Like")
    for t in (
        "Why He Pulls Away After Getting Close",
        "How to Know If It's Love or Infatuation",
        "The Secret to a Happy Marriage",
    ):
        page.bp("related", t, f"- [{t}](/{t.lower().replace(' ', '-')[:20]})")
    page.bp("comments", f"{9 + n} Comments", f"## {9 + n} Comments")
    page.bp("comments", "Mara says:", "**Mara** says:")
    page.bp("comments", "May 3, 2024 at 9:12 am")
    page.bp("comments", "This helped me so much, thank you! My boyfriend and I read it together last night.")
    page.bp("comments", "Reply", "[Reply](#respond)")
    page.bp("comments", "Tom K. says:", "**Tom K.** says:")
    page.bp("comments", "May 4, 2024 at 7:40 pm")
    page.bp("comments", "Great article, but I think you need to be careful not to overthink every message.")
    page.bp("comments", "Reply", "[Reply](#respond)")
    page.bp("comments", "Leave a Reply", "## Leave a Reply")
    page.bp("comments", "Your email address will not be published. Required fields are marked *")
    page.bp("comments", "Post Comment", "[Post Comment]")
    page.bp("footer", "© 2024 HeartNotes · Powered by WordPress")
    return "\n\n".join(page.parts) + "\n"


def kindred(page: Page, n: int) -> str:
    """A magazine page saved as Markdown with front matter by a note-taking app."""
    page.raw(
        f'---\ntitle: "{page.title}"\nauthor: Elena Park\nsource: https://kindredmag.com/love/{slug(page)}\n'
        f"created: 2024-09-1{n}\ntags: [clippings]\n---"
    )
    page.bp(
        "nav",
        "Kindred Magazine > Love > Dating",
        "[Kindred Magazine](https://kindredmag.com) > [Love](/love) > [Dating](/love/dating)",
    )
    page.raw(f"# {page.title}")
    page.bp(
        "byline",
        f"By Elena Park · September 1{n}, 2024 · 8 min read",
        f"**By [Elena Park](/people/elena-park)** · September 1{n}, 2024 · 8 min read",
    )
    page.bp(
        "ad",
        "Kindred is reader-supported. When you buy through links on our site, we may earn an affiliate commission.",
        "> Kindred is reader-supported. When you buy through links on our site, we may earn an affiliate commission.",
    )
    page.bp("toc", "In this article:", "**In this article:**")
    for _i, h in enumerate(headings(page), 1):
        page.boilerplate.append({"kind": "toc", "text": h})
    page.raw("\n".join(f"{i}. [{h}](#section-{i})" for i, h in enumerate(headings(page), 1)))
    body_md(
        page,
        {
            (1, 0): [
                (
                    "caption",
                    "Photo: Unsplash / Jane Doe",
                    "![](https://images.kindredmag.com/p1.jpg)\n*Photo: Unsplash / Jane Doe*",
                )
            ],
            (2, 0): [
                (
                    "related",
                    "Read more: The Little Habits That Keep Couples Happy",
                    "**Read more:** [The Little Habits That Keep Couples Happy](/love/little-habits)",
                )
            ],
        },
    )
    page.bp("share", "Did you find this article helpful?", "**Did you find this article helpful?** 👍 👎")
    page.bp("share", "Share: Facebook Pinterest Email", "Share: [Facebook](#) [Pinterest](#) [Email](#)")
    page.bp(
        "bio",
        "Elena Park is a senior editor at Kindred who covers dating and modern love. Her work has appeared in several national magazines.",
        "*Elena Park is a senior editor at Kindred who covers dating and modern love. Her work has appeared in several national magazines.*",
    )
    page.bp("related", "More from Kindred", "### More from Kindred")
    for t in (
        "The Best Gifts for Couples Who Have Everything",
        "Is It Normal to Fight Every Day?",
        "Our Editors' Favorite Date Ideas",
    ):
        page.bp("related", t, f"- [{t}](/love/x)")
    page.bp("share", "Sign up for The Kindred Letter, our free weekly newsletter about love and connection.")
    page.bp(
        "footer", "© 2024 Kindred Media Group. Privacy Notice · Do Not Sell My Personal Information · Terms"
    )
    return "\n\n".join(page.parts) + "\n"


def _html_page(page: Page, head: str, before: list[str], after: list[str]) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n{head}\n</head>\n<body>\n'
        + "\n".join(before)
        + "\n"
        + "\n".join(page.parts)
        + "\n"
        + "\n".join(after)
        + "\n</body>\n</html>\n"
    )


def couplecraft(page: Page, n: int) -> str:
    """A WordPress site saved as HTML ('Save page as'): header menu, sidebar, comments, footer."""
    t = html.escape(page.title)
    head = (
        f'<title>{t} - CoupleCraft</title>\n<meta property="og:title" content="{t}">\n'
        '<meta property="og:site_name" content="CoupleCraft">\n<script>window.dataLayer=[];</script>\n'
        "<style>.nav{display:flex}</style>"
    )
    page.bp("nav", "Skip to content", '<a class="skip-link" href="#main">Skip to content</a>')
    page.bp("nav", "CoupleCraft", '<header><div class="site-title"><a href="/">CoupleCraft</a></div>')
    page.bp(
        "nav",
        "Home Dating Marriage Communication Shop",
        '<nav class="nav"><ul><li><a href="/">Home</a></li><li><a href="/dating">Dating</a></li><li><a href="/marriage">Marriage</a></li><li><a href="/communication">Communication</a></li><li><a href="/shop">Shop</a></li></ul></nav></header>',
    )
    page.raw('<main id="main"><article>')
    page.raw(f'<h1 class="entry-title">{t}</h1>')
    page.bp(
        "byline",
        f"June {n + 4}, 2024 by Marcus Lee",
        f'<div class="entry-meta"><time datetime="2024-06-0{n + 4}">June {n + 4}, 2024</time> by <a href="/author/marcus">Marcus Lee</a></div>',
    )
    page.raw('<div class="entry-content">')
    body_html(
        page,
        {
            (1, 1): [("ad", "Advertisement", '<div class="ad-slot"><span>Advertisement</span></div>')],
            (2, 0): [
                (
                    "caption",
                    "Photo by Toa Heftiba on Unsplash",
                    '<figure><img src="/img/c.jpg" alt=""><figcaption>Photo by Toa Heftiba on Unsplash</figcaption></figure>',
                )
            ],
        },
    )
    page.raw("</div>")
    page.bp(
        "share",
        "Share this post: Facebook Twitter Pinterest",
        '<div class="share">Share this post: <a href="#">Facebook</a> <a href="#">Twitter</a> <a href="#">Pinterest</a></div>',
    )
    page.bp(
        "nav",
        "Filed Under: Communication, Marriage",
        '<footer class="entry-footer">Filed Under: <a href="#">Communication</a>, <a href="#">Marriage</a></footer>',
    )
    page.raw("</article>")
    page.bp(
        "bio",
        "Marcus Lee is a marriage counselor and the founder of CoupleCraft. He has worked with couples for over fifteen years.",
        '<div class="author-box"><p>Marcus Lee is a marriage counselor and the founder of CoupleCraft. He has worked with couples for over fifteen years.</p></div>',
    )
    page.bp("related", "Related Posts", '<section class="related"><h3>Related Posts</h3><ul>')
    for t2 in ("10 Questions to Ask Before Marriage", "How to Reconnect After an Argument"):
        page.bp("related", t2, f'<li><a href="#">{t2}</a></li>')
    page.raw("</ul></section>")
    page.bp("comments", "Leave a Comment", '<div id="comments"><h3>Leave a Comment</h3>')
    page.bp(
        "comments",
        "Your email address will not be published.",
        "<p>Your email address will not be published.</p></div>",
    )
    page.raw("</main>")
    page.bp("related", "Popular Posts", '<aside class="sidebar"><h4>Popular Posts</h4><ul>')
    page.bp(
        "related",
        "The 5 Love Languages Explained",
        '<li><a href="#">The 5 Love Languages Explained</a></li></ul>',
    )
    page.bp(
        "share",
        "Join 20,000 couples who get our free weekly tips!",
        "<p>Join 20,000 couples who get our free weekly tips!</p></aside>",
    )
    page.bp(
        "footer",
        "Copyright © 2024 CoupleCraft · Privacy Policy · Disclaimer",
        '<footer><p>Copyright © 2024 CoupleCraft · <a href="#">Privacy Policy</a> · <a href="#">Disclaimer</a></p></footer>',
    )
    return _html_page(page, head, [], [])


def steadymind(page: Page, n: int) -> str:
    """A health publisher's article saved as HTML: medical review, key takeaways, TOC, sources, cookie banner."""
    t = html.escape(page.title)
    head = (
        f'<title>{t} | SteadyMind Health</title>\n<meta name="description" content="Expert tips.">\n'
        f'<meta property="og:title" content="{t}">'
    )
    page.bp(
        "share",
        "We use cookies to improve your experience. Accept all",
        '<div id="cookie-banner">We use cookies to improve your experience. <button>Accept all</button></div>',
    )
    page.bp("nav", "SteadyMind Health", '<header><a href="/" class="logo">SteadyMind Health</a>')
    page.bp(
        "nav",
        "Conditions Wellness Relationships Find a Therapist",
        '<nav><a href="#">Conditions</a> <a href="#">Wellness</a> <a href="#">Relationships</a> <a href="#">Find a Therapist</a></nav></header>',
    )
    page.raw("<main><article>")
    page.bp(
        "nav",
        "Relationships › Communication",
        '<ol class="breadcrumb"><li><a href="#">Relationships</a></li><li>›</li><li><a href="#">Communication</a></li></ol>',
    )
    page.raw(f"<h1>{t}</h1>")
    page.bp(
        "byline", "Written by Dana Fields, LCSW", '<div class="byline"><p>Written by Dana Fields, LCSW</p>'
    )
    page.bp("byline", "Medically reviewed by Alan Cho, MD", "<p>Medically reviewed by Alan Cho, MD</p>")
    page.bp("byline", f"Updated on January {n + 10}, 2025", f"<p>Updated on January {n + 10}, 2025</p></div>")
    page.bp("toc", "Table of Contents", '<nav class="toc"><p>Table of Contents</p><ul>')
    for i, h in enumerate(headings(page)):
        page.bp("toc", h, f'<li><a href="#s{i + 1}">{html.escape(h)}</a></li>')
    page.raw("</ul></nav>")
    body_html(page, {(2, 0): [("ad", "Advertisement", '<div class="ad">Advertisement</div>')]})
    page.bp("share", "Was this helpful?", '<div class="feedback"><p>Was this helpful?</p>')
    page.bp("share", "Yes No", "<button>Yes</button> <button>No</button></div>")
    page.bp("references", "Sources", '<section class="sources"><h3>Sources</h3><ol>')
    page.bp(
        "references",
        "Gottman JM. The Seven Principles for Making Marriage Work. Harmony; 2015.",
        "<li>Gottman JM. The Seven Principles for Making Marriage Work. Harmony; 2015.</li>",
    )
    page.bp(
        "references",
        "American Psychological Association. Marriage and divorce. 2023.",
        "<li>American Psychological Association. Marriage and divorce. 2023.</li></ol></section>",
    )
    page.raw("</article></main>")
    page.bp(
        "footer",
        "© 2025 SteadyMind Health. This content is for informational purposes and is not medical advice.",
        "<footer><p>© 2025 SteadyMind Health. This content is for informational purposes and is not medical advice.</p>",
    )
    page.bp(
        "footer",
        "About Careers Advertise Privacy Policy",
        '<p><a href="#">About</a> <a href="#">Careers</a> <a href="#">Advertise</a> <a href="#">Privacy Policy</a></p></footer>',
    )
    return _html_page(page, head, [], [])


def bonded(page: Page, n: int) -> str:
    """A small site saved as HTML with a newsletter pop-up, sticky share bar and a 'trending' block."""
    t = html.escape(page.title)
    head = f"<title>Bonded — {t}</title>"
    page.bp("nav", "Bonded", '<div class="top"><a href="/">Bonded</a>')
    page.bp(
        "nav", "Menu Search Log in", '<span>Menu</span> <span>Search</span> <a href="/login">Log in</a></div>'
    )
    page.bp(
        "share",
        "Don't miss out! Get our best relationship advice delivered to your inbox.",
        '<div class="popup"><p>Don\'t miss out! Get our best relationship advice delivered to your inbox.</p>',
    )
    page.bp("share", "No thanks", "<button>No thanks</button></div>")
    page.raw('<div class="post">')
    page.raw(f"<h1>{t}</h1>")
    page.bp(
        "byline", f"by Nora Quinn · {n + 4} min read", f'<p class="meta">by Nora Quinn · {n + 4} min read</p>'
    )
    page.bp(
        "share",
        "Tweet Share Pin Email",
        '<div class="sticky-share"><a>Tweet</a> <a>Share</a> <a>Pin</a> <a>Email</a></div>',
    )
    body_html(
        page,
        {
            (1, 0): [
                (
                    "related",
                    "Trending: Why Some Couples Never Fight",
                    '<p class="trending"><b>Trending:</b> <a href="#">Why Some Couples Never Fight</a></p>',
                )
            ]
        },
    )
    page.raw("</div>")
    page.bp("related", "Trending Now", '<div class="trending-box"><h3>Trending Now</h3>')
    for t2 in (
        "Signs Your Partner Is Your Best Friend",
        "What Secure Attachment Looks Like",
        "How to Split Chores Fairly",
    ):
        page.bp("related", t2, f'<p><a href="#">{t2}</a></p>')
    page.raw("</div>")
    page.bp(
        "footer",
        "Bonded is a participant in affiliate programs. © 2023 Bonded Media LLC",
        "<footer><small>Bonded is a participant in affiliate programs. © 2023 Bonded Media LLC</small></footer>",
    )
    return _html_page(page, head, [], [])


def lovelab(page: Page, n: int) -> str:
    """An advice column copied as text with blank lines (held-out site)."""
    page.bp("nav", "LoveLab")
    page.bp("nav", "Ask a Question  Columns  Quizzes  About")
    page.bp("nav", "You are here: Home » Columns » Ask LoveLab")
    page.raw(page.title)
    page.bp("byline", f"Posted {n + 1} weeks ago by Dr. Irene Vasquez")
    page.bp("byline", "Reading time: 4 minutes")
    page.bp("share", "Share on Facebook   Share on X   Share via Email")
    body_text(
        page,
        {(2, 0): [("ad", "ADVERTISEMENT"), ("caption", "Illustration: Maya Chen for LoveLab")]},
        bullet="• ",
    )
    page.bp("share", "Have a question for Dr. Vasquez? Send it to us, anonymously.")
    page.bp("bio", "About the author")
    page.bp(
        "bio",
        "Dr. Irene Vasquez is a clinical psychologist specialising in couples therapy. She answers reader questions every Tuesday.",
    )
    page.bp("comments", "Discussion (3)")
    page.bp("comments", "anna_b  ·  2 days ago")
    page.bp("comments", "I wish I had read this ten years ago.")
    page.bp("comments", "Load more comments")
    page.bp("footer", "LoveLab © 2022–2025  ·  Contact  ·  Privacy  ·  Cookie preferences")
    return "\n\n".join(page.parts) + "\n"


def pairwise(page: Page, n: int) -> str:
    """A newsletter post (Substack-like) saved as Markdown (held-out site)."""
    page.bp("nav", "Pairwise", "[Pairwise](https://pairwise.news)")
    page.bp(
        "nav",
        "Subscribe Sign in",
        "[Subscribe](https://pairwise.news/subscribe) [Sign in](https://pairwise.news/login)",
    )
    page.raw(f"# {page.title}")
    page.bp(
        "byline", "Notes on love, from a couples therapist", "### Notes on love, from a couples therapist"
    )
    page.bp(
        "byline",
        f"Ruth Adler · Mar {n + 8}, 2025",
        f"[Ruth Adler](https://pairwise.news/@ruth) · Mar {n + 8}, 2025",
    )
    page.bp("share", f"{40 + n} 7 Share", f"{40 + n} 7 [Share](https://pairwise.news/p/x)")
    body_md(
        page,
        {
            (3, -1): [
                (
                    "share",
                    "Pairwise is a reader-supported publication. To receive new posts and support my work, consider becoming a free or paid subscriber.",
                    "> Pairwise is a reader-supported publication. To receive new posts and support my work, consider becoming a free or paid subscriber.",
                )
            ]
        },
    )
    page.bp(
        "share",
        "Type your email... Subscribe",
        "Type your email... [Subscribe](https://pairwise.news/subscribe)",
    )
    page.bp("share", f"{40 + n} Likes · 7 Restacks", f"{40 + n} Likes · 7 Restacks")
    page.bp("comments", "Discussion about this post", "#### Discussion about this post")
    page.bp("comments", "Comments Restacks", "Comments Restacks")
    page.bp("comments", "Jordan Mills · Mar 12", "[Jordan Mills](https://x) · Mar 12")
    page.bp("comments", "Sharing this with my husband tonight.")
    page.bp("comments", "Reply Share", "Reply Share")
    page.bp("related", "Ready for more?", "#### Ready for more?")
    page.bp(
        "footer",
        "© 2025 Ruth Adler · Privacy ∙ Terms ∙ Collection notice",
        "© 2025 Ruth Adler · [Privacy](#) ∙ [Terms](#) ∙ [Collection notice](#)",
    )
    return "\n\n".join(page.parts) + "\n"


def together_pdf(page: Page, n: int, path: Path) -> None:
    """A page printed to PDF from a browser: date/title header and URL/page-number footer on each page."""
    from fpdf import FPDF

    url = f"https://togetherweekly.com/love/{slug(page)}"
    stamp = f"11/{n + 3}/25, 9:4{n} PM"
    header = f"{stamp}    {page.title} | Together Weekly"

    class Printed(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", size=8)
            self.cell(0, 6, header, new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", size=8)
            self.cell(0, 6, f"{url}    {self.page_no()}/{{nb}}")

    pdf = Printed(format="A4")
    pdf.set_title(f"{page.title} | Together Weekly")
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    page.boilerplate.append({"kind": "nav", "text": header})
    page.boilerplate.append({"kind": "footer", "text": f"{url}    1/2"})

    def line(kind: str, text: str, size: int = 11, style: str = "") -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.multi_cell(0, size * 0.55, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        if kind:
            page.boilerplate.append({"kind": kind, "text": text})

    line("nav", "TOGETHER WEEKLY", 9, "B")
    line("nav", "Love   Family   Sex & Intimacy   Advice Column   Subscribe", 9)
    line("", page.title, 20, "B")
    line("byline", f"By Chloe Bennett   |   November {n + 3}, 2025", 9)
    line("caption", "Illustration by Sofia Ramos for Together Weekly", 8, "I")
    for si, (heading, paras) in enumerate(page.sections()):
        if heading:
            line("", heading, 14, "B")
        for pi, para in enumerate(paras):
            if si == 2 and pi == 0:
                line("ad", "ADVERTISEMENT", 8)
            items = _items(para)
            if items:
                for it in items:
                    line("", "- " + it)
            else:
                line("", para)
    line("share", "Enjoyed this article? Get Together Weekly in your inbox every Friday.", 10, "B")
    line("related", "Keep reading", 12, "B")
    line("related", "Is your relationship ready for a pet?", 10)
    line("related", "The quiet habits of couples who last", 10)
    line("footer", "Together Weekly is published by Hearth & Home Media. © 2025 All rights reserved.", 8)
    pdf.output(str(path))


SITES = [
    ("mindwell", ".txt", mindwell, ["rebuild-trust", "clingy", "money-talk"]),
    ("ledger", ".txt", ledger, ["long-distance", "apologise", "listening"]),
    ("heartnotes", ".md", heartnotes, ["jealousy", "quality-time", "boundaries"]),
    ("kindred", ".md", kindred, ["in-laws", "after-baby"]),
    ("couplecraft", ".html", couplecraft, ["moving-in", "trust-issues", "criticism"]),
    ("steadymind", ".html", steadymind, ["spark", "breakup-recovery"]),
    ("bonded", ".html", bonded, ["texting"]),
    ("together", ".pdf", None, ["gratitude", "mismatched-libido"]),
    ("lovelab", ".txt", lovelab, ["fair-fighting", "dating-apps"]),
    ("pairwise", ".md", pairwise, ["friendship-couple", "stonewalling"]),
]
EXTRA = [("bonded", ".html", bonded, "love-languages")]


def hand_cleaned(page: Page) -> str:
    out = [f"# {page.title}"]
    for heading, paras in page.sections():
        if heading:
            out.append(f"## {heading}")
        out.extend(paras)
    return "\n\n".join(out) + "\n"


def main() -> None:
    pages_dir, clean_dir = HERE / "pages", HERE / "clean"
    for d in (pages_dir, clean_dir):
        d.mkdir(exist_ok=True)
        for f in d.iterdir():
            f.unlink()
    labels = []
    jobs = [(site, ext, fn, key, n) for site, ext, fn, keys in SITES for n, key in enumerate(keys, 1)]
    jobs += [(site, ext, fn, key, 2) for site, ext, fn, key in EXTRA]
    for site, ext, fn, key, n in jobs:
        name = f"{site}-{n}"
        page = Page(site, key)
        path = pages_dir / f"{name}{ext}"
        if ext == ".pdf":
            together_pdf(page, n, path)
        else:
            path.write_bytes(fn(page, n).encode("utf-8"))
        (clean_dir / f"{name}.md").write_text(hand_cleaned(page), encoding="utf-8")
        question, answer = QUESTIONS[key]
        labels.append(
            {
                "file": path.name,
                "site": site,
                "split": "held_out" if name in HELD_OUT else "tuning",
                "title": page.title,
                "headings": headings(page),
                "advice": [p for _, paras in page.sections() for p in paras],
                "boilerplate": page.boilerplate,
                "question": question,
                "answer": answer,
            }
        )
    (HERE / "labels.json").write_text(
        json.dumps(labels, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"{len(labels)} pages, {sum(len(x['boilerplate']) for x in labels)} boilerplate lines")


if __name__ == "__main__":
    main()
