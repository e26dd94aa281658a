"""The text and title of a PDF article, through pdfminer.six's layout analysis.

pdfminer.six reports every text line with its position and size, which is what turns a PDF back into
paragraphs: a line that reaches the right margin continues in the next line, a larger gap or a change
of font size starts a new paragraph, and lines that repeat at the top or bottom of several pages
(running headers and footers, page numbers) are left out. The title is the largest line of the first
page. A PDF with no text layer (scanned), an encrypted one or a broken one is a one-line CorpusError.
It does not classify lines (clean.py) or store the text (extract.py keeps the copy).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from ..errors import CorpusError

# typeset ligatures back to letters, so "ﬁnd" is found by a search for "find"
_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st", "\u00ad": ""}
)


@dataclass(frozen=True)
class _Line:
    page: int
    x0: float
    x1: float
    top: float  # distance from the page's top
    height: float
    text: str


def extract(data: bytes, where: str) -> tuple[str, str]:
    """(text of the article, one paragraph per block separated by blank lines; title)."""
    lines, widths = _read_lines(data, where)
    if not any(ln.text for ln in lines):
        raise CorpusError(
            f"{where} has no text layer (a scanned PDF?) - run OCR on it or paste its text as a .txt file"
        )
    lines = _drop_running_lines(lines)
    title = max(
        (ln for ln in lines if ln.page == 0 and len(ln.text.split()) >= 2),
        key=lambda ln: ln.height,
        default=None,
    )
    return _paragraphs(lines, widths), title.text if title else ""


def _read_lines(data: bytes, where: str) -> tuple[list[_Line], dict[int, float]]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer, LTTextLine
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfpage import PDFTextExtractionNotAllowed
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psexceptions import PSException

    lines: list[_Line] = []
    widths: dict[int, float] = {}
    try:
        for p, page in enumerate(extract_pages(io.BytesIO(data), laparams=LAParams())):
            widths[p] = page.width
            for box in page:
                if not isinstance(box, LTTextContainer):
                    continue
                for line in box:
                    if isinstance(line, LTTextLine):
                        text = " ".join(line.get_text().translate(_LIGATURES).split())
                        if text:
                            lines.append(_Line(p, line.x0, line.x1, page.height - line.y1, line.height, text))
    except (PDFPasswordIncorrect, PDFEncryptionError, PDFTextExtractionNotAllowed):
        raise CorpusError(
            f"{where} is an encrypted PDF - save a copy without a password and add that"
        ) from None
    except (PDFSyntaxError, PSException, ValueError, TypeError, KeyError, AssertionError, IndexError) as exc:
        raise CorpusError(f"{where} is not a readable PDF ({type(exc).__name__}) - export it again") from None
    return lines, widths


def _drop_running_lines(lines: list[_Line]) -> list[_Line]:
    """Lines that recur, digits aside, on two or more pages are running headers and footers."""
    pages = {ln.page for ln in lines}
    if len(pages) < 2:
        return lines
    seen: dict[str, set[int]] = {}
    for ln in lines:
        seen.setdefault(re.sub(r"\d+", "#", ln.text), set()).add(ln.page)
    return [ln for ln in lines if len(seen[re.sub(r"\d+", "#", ln.text)]) < 2]


def _paragraphs(lines: list[_Line], widths: dict[int, float]) -> str:
    right = {p: max((ln.x1 for ln in lines if ln.page == p), default=w) for p, w in widths.items()}
    out: list[str] = []
    prev: _Line | None = None
    for ln in lines:
        joins = (
            prev is not None
            and abs(ln.height - prev.height) <= 0.15 * prev.height
            and prev.x1 >= right[prev.page] - 0.12 * widths[prev.page]  # the previous line was full
            and (ln.page != prev.page or 0 <= ln.top - prev.top <= 2.2 * prev.height)
        )
        if joins:  # a word broken at the line's end ("self-" + "esteem") is joined without a space
            out[-1] += ("" if out[-1].endswith("-") and ln.text[:1].islower() else " ") + ln.text
        else:
            out.append(ln.text)
        prev = ln
    return "\n\n".join(out) + "\n"
