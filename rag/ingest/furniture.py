"""Tell what kind of page furniture one line of an article is, from the line alone.

Each rule describes a kind of line that web pages carry around an article (navigation, bylines, share
and newsletter prompts, ads, image credits, footers, and the headers that open a related-links, table
of contents, comments, sources or author-box block), by its shape and vocabulary, never by the
literal text of one site. Lines are given as their visible text (Markdown marks and link targets
already removed by clean.py). It does not look at a line's neighbours or at other articles (clean.py
does: blocks, position on the page, lines that recur across the corpus).
"""

from __future__ import annotations

import re

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?"
    r"|\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}|\d+\s+(?:minutes?|hours?|days?|weeks?|months?|years?)\s+ago"
    r"|(?:yesterday|today)\b)",
    re.I,
)
_BYLINE = re.compile(
    r"^(?:by\s+\w|written by|words by|posted\b|published\b|updated\b|last updated|(?:medically |clinically )?"
    r"reviewed by|fact[- ]checked by|edited by|contributor\b)|\b\d+\s*(?:-\s*)?(?:min(?:ute)?s?|minutes?)\s+read\b"
    r"|^reading time\b",
    re.I,
)
AUTHOR = re.compile(r"\b[Bb]y\s+(?:dr\.?\s+)?([A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){1,2})")
_AD = re.compile(
    r"^(?:advertisement|advertising|sponsored(?: content)?|ad|promoted|(?:continue|keep) reading below"
    r"|(?:the )?(?:story|article) continues below(?: (?:this )?(?:ad|advertisement))?|scroll to continue)$",
    re.I,
)
_DISCLOSURE = re.compile(
    r"\b(?:affiliate (?:commission|links?|programs?)|reader-supported|earn a commission)\b", re.I
)
_SOCIAL_WORDS = frozenset(
    [
        "share",
        "tweet",
        "pin",
        "email",
        "e-mail",
        "facebook",
        "twitter",
        "x",
        "pinterest",
        "linkedin",
        "whatsapp",
        "reddit",
        "threads",
        "bluesky",
        "print",
        "copy",
        "link",
        "flipboard",
        "messenger",
        "telegram",
        "on",
        "this",
        "via",
        "save",
        "article",
        "post",
        "story",
        "page",
        "follow",
        "us",
        "instagram",
        "youtube",
        "tiktok",
    ]
)
_PROMPT = re.compile(
    r"newsletter|in(?:to)? your inbox|(?:enter|type) your email|your email address|we use cookies"
    r"|\bcookies?\b.*\b(?:accept|consent|settings|preferences|policy)\b|^accept(?: all)?(?: cookies)?$"
    r"|(?:was|is|did you find) this (?:\w+ )?(?:helpful|useful)|^(?:yes|no)\s+(?:no|yes)$|^no,? thanks$"
    r"|\b\d+\s+(?:likes?|restacks?|shares?)\b",
    re.I,
)
# words that are a prompt only on a short line that is not a sentence ("Subscribe", "Sign in to comment")
_WEAK_PROMPT = re.compile(
    r"\b(?:subscribe|sign up|sign in|log in|register|donate|join (?:now|free|us))\b", re.I
)
_CREDIT = re.compile(
    r"^(?:photo|image|illustration|picture|graphic|video|credit|source|photograph)s?(?:\s+(?:credit|by|via|courtesy"
    r"(?: of)?)|\s*:)|\b(?:getty images|shutterstock|istock(?:photo)?|unsplash|pexels|adobe stock|ap photo|reuters"
    r"|alamy|westend61)\b",
    re.I,
)
_FOOTER = re.compile(
    r"©|\(c\)\s*\d{4}|\bcopyright\b|all rights reserved|\bprivacy (?:policy|notice)\b|\bterms (?:of (?:use|service)"
    r"|and conditions)\b|do not sell my|\bcookie (?:settings|preferences|policy)\b"
    r"|\bpowered by (?:wordpress|ghost|substack|squarespace|wix|blogger|medium|hugo|jekyll|shopify)\b",
    re.I,
)
_SKIP = re.compile(r"^(?:skip to|jump to) (?:main )?(?:content|navigation|menu|footer)\b", re.I)
_TAGS = re.compile(
    r"^(?:tags?|tagged(?: with)?|filed (?:under|in)|categor(?:y|ies)|topics?|posted in)\s*:?\s+\S", re.I
)
_BREADCRUMB_SEP = re.compile(r"\s*(?:›|»|>|/|\\|→|::)\s*")
_MENU_SEP = re.compile(r"\s{2,}|\s*[|·•∙]\s*")
_UTILITY = frozenset(
    [
        "menu",
        "search",
        "home",
        "log",
        "in",
        "login",
        "sign",
        "in",
        "out",
        "register",
        "subscribe",
        "account",
        "my",
        "close",
        "open",
        "toggle",
        "navigation",
        "main",
        "shop",
        "cart",
        "donate",
        "newsletter",
    ]
)

HEADERS: dict[str, re.Pattern[str]] = {
    "related": re.compile(
        r"^(?:related(?: posts?| articles?| stories| reading| content| links)?|you (?:may|might|will) also"
        r" (?:like|enjoy)|more (?:from|like this)\b.{0,30}|(?:most|more) (?:read|popular|viewed|shared)"
        r"|popular(?: posts| now| articles| stories)?|trending(?: now| stories| articles)?|keep reading|read next"
        r"|what to read next|recommended(?: for you| reading| stories)?|up next|further reading|ready for more\??"
        r"|don'?t miss|editor'?s picks|latest(?: posts| articles| stories)?)\s*:?$",
        re.I,
    ),
    "toc": re.compile(
        r"^(?:table of contents|contents|in this (?:article|post|guide|story)|jump to(?: section)?|on this page"
        r"|what'?s (?:in|inside) (?:this|the) (?:article|post)|article contents|quick links)\s*:?$",
        re.I,
    ),
    "comments": re.compile(
        r"^(?:\d+\s+(?:comments?|responses?|replies|reactions)|comments?|(?:comments?|responses?|replies|discussion)"
        r"\s*\(\d+\))\s*:?$|^(?:leave|post|add|write)"
        r" a (?:reply|comment|response)|^join the (?:discussion|conversation)|^discussion about this\b"
        r"|^(?:sign|log) in to (?:comment|reply|join)|^your email address will not be published|^show comments"
        r"|^load more comments|^view (?:all )?\d* ?comments",
        re.I,
    ),
    "references": re.compile(
        r"^(?:sources?|references|citations|bibliography|works cited|studies cited|resources)\s*:?$", re.I
    ),
    "bio": re.compile(
        r"^(?:about (?:the )?(?:author|writer|expert)s?|meet the (?:author|writer)|about [A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){1,2})\s*:?$"
    ),
}
INLINE_LINK = re.compile(
    r"^(?:related(?: posts?| articles?| stories| reading)?|read (?:more|also|next|this)|also read|see also|more"
    r"|recommended|trending|don'?t miss|you (?:may|might) also like|more from [\w ]{1,30}|suggested reading"
    r"|listen|watch|popular)\s*[:\-–—]\s*\S",
    re.I,
)
PAGER = re.compile(
    r"^(?:pages?\s*:?\s*(?:\d+[\s,|]*)+|page\s+\d+\s+(?:of|/)\s*\d+|\d+\s*/\s*\d+"
    r"|(?:[«‹<]\s*)?(?:previous|prev|next|older|newer)(?:\s+(?:page|post|article|posts))?(?:\s*[»›>])?)$",
    re.I,
)
_URL = re.compile(r"^(?:https?://|www\.)\S+(?:\s+\d+\s*/\s*\d+)?$", re.I)


def words(s: str) -> list[str]:
    return re.findall(r"[^\W_][\w'’.-]*", s)


def is_sentence(s: str) -> bool:
    """Running text: four words or more ending like a sentence."""
    return len(words(s)) >= 4 and bool(re.search(r"[.!?…][\"”’)\]*_]*$", s))


def line_kind(s: str) -> str | None:
    """The furniture kind of a line's visible text, or None when nothing about the line itself says so."""
    n = len(words(s))
    if n > 40:  # no rule below takes a line this long: skip them (most lines of an article)
        return None
    low = s.casefold()
    sentence = is_sentence(s)
    if _SKIP.match(s) or _TAGS.match(s) or _URL.match(s):
        return "nav"
    if PAGER.match(s):
        return "pager"
    if _AD.match(s) or (_DISCLOSURE.search(s) and n <= 40):
        return "ad"
    if INLINE_LINK.match(s):
        return "link"
    for kind, pattern in HEADERS.items():
        if pattern.match(s):
            return kind
    if _FOOTER.search(s) and n <= 30:
        return "footer"
    if n <= 25 and _PROMPT.search(s) and not _advice_voice(s):
        return "share"
    if n <= 12 and not sentence and _WEAK_PROMPT.search(s):
        return "share"
    tokens = [t for t in re.split(r"[\s|·•,]+", low) if t]
    if tokens and all(t.strip(".:!") in _SOCIAL_WORDS or t.isdigit() for t in tokens) and n <= 12:
        return "share"
    if _CREDIT.search(s) and n <= 18 and not sentence:
        return "caption"
    if n <= 20 and not sentence and (_BYLINE.search(s) or (DATE.search(s) and n <= 12)):
        return "byline"
    if _BYLINE.match(s) and n <= 30 and AUTHOR.search(s):
        return "byline"
    if not sentence and (_breadcrumb(s) or _menu(s)):
        return "nav"
    return None


def _advice_voice(s: str) -> bool:
    """A long sentence that merely mentions signing up ("sign up for a dance class together")."""
    return (
        is_sentence(s) and len(words(s)) > 12 and not re.search(r"newsletter|inbox|subscribe|cookie", s, re.I)
    )


def _breadcrumb(s: str) -> bool:
    parts = [p for p in _BREADCRUMB_SEP.split(s) if p]
    return (
        len(parts) >= 2
        and bool(_BREADCRUMB_SEP.search(s))
        and all(len(p.split()) <= 4 for p in parts)
        and (len(parts) >= 3 or s.split()[0].casefold() in ("home", "you"))
        or s.casefold().startswith("you are here")
    )


def _menu(s: str) -> bool:
    """Three or more short items in a row ("Home  Dating  Family", "News | Life | Money"), or utility words."""
    tokens = s.casefold().split()
    if tokens and all(t in _UTILITY for t in tokens):
        return True
    parts = [p for p in _MENU_SEP.split(s.strip()) if p]
    return len(parts) >= 3 and all(len(p.split()) <= 3 for p in parts) and len(s.split()) <= 20
