"""The article text and title of a saved web page (.html/.htm), through trafilatura.

trafilatura finds the main content of a page (its readability-style scoring and jusText fallback drop
menus, sidebars, comment forms and footers) and writes it as Markdown, so headings stay headings for
clean.py, which then removes what furniture is left inside the content (ads, prompts, credits). The
title comes from the page's own metadata: og:title, else the single <h1>, else <title> without the
site name. It does not classify lines (clean.py) or store the text (extract.py keeps the copy).
"""

from __future__ import annotations

import re

from ..errors import CorpusError

_SITE_SEP = re.compile(r"\s+[|–—·:-]\s+|\s+[|–—]\s*|\s*[|–—]\s+")


def extract(data: bytes, where: str) -> tuple[str, str]:
    """(Markdown text of the article, title) of an HTML page; CorpusError when it holds no article."""
    import lxml.html
    import trafilatura

    try:
        tree = lxml.html.document_fromstring(data)
    except (ValueError, lxml.etree.ParserError) as exc:
        raise CorpusError(f"{where} is not a readable HTML page ({exc}) - save the page again") from None
    body = trafilatura.extract(
        tree,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        deduplicate=False,
    )
    if not body or not body.strip():
        raise CorpusError(
            f"{where}: no article text found in this HTML page (empty, broken or built by scripts)"
            " - save the page again once it has loaded, or paste its text"
        )
    return _plain(body).strip() + "\n", page_title(tree)


_EMPHASIS = re.compile(r"(?<![\\*\w])(\*\*|\*|__)(?=\S)(.+?)(?<=\S)(?<!\\)\1(?![*\w])")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")


def _plain(markdown: str) -> str:
    """trafilatura's Markdown with inline emphasis marks and backslash escapes removed, so quotes read as
    the page does; headings ('#') and list items ('- ') stay for clean.py."""
    return _ESCAPE.sub(r"\1", _EMPHASIS.sub(r"\2", markdown))


def page_title(tree: object) -> str:
    """og:title, else the only <h1>, else <title> with the site name cut off; '' when none."""
    og = tree.xpath("//meta[@property='og:title' or @name='og:title' or @name='twitter:title']/@content")  # type: ignore[attr-defined]
    if og and og[0].strip():
        return " ".join(og[0].split())
    h1 = [" ".join(h.text_content().split()) for h in tree.xpath("//h1")]  # type: ignore[attr-defined]
    h1 = [h for h in h1 if h]
    if len(h1) == 1:
        return h1[0]
    titles = tree.xpath("//title")  # type: ignore[attr-defined]
    title = " ".join(titles[0].text_content().split()) if titles else ""
    parts = [p for p in _SITE_SEP.split(title) if p.strip()]
    if len(parts) > 1:  # "Site — Headline" or "Headline | Site": the longest part is the headline
        return max(parts, key=len).strip()
    return title or (h1[0] if h1 else "")
