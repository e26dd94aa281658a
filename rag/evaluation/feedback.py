"""Readers' feedback on answers, kept as labelled test questions that `rag eval` runs.

A thumbs-up keeps the answer's quoted sentences as the words that answer the question; a reader who
pastes the words that do answer it, or says the articles do not, gives the label directly. Each is one
line of the query-file format (queries.py), so the questions people really ask become regression tests:

    {"id": "fb-3f2a9c01", "question": "...", "quotes": ["..."], "answerable": true, "source": "feedback"}

Asking the same question again replaces its line. The file is rewritten whole through a temporary file
and a rename, so a crash leaves the old or the new file. It does not judge answers (answereval.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import QueryError

MAX_QUOTE_CHARS = 2000


def record(path: Path, question: str, *, quotes: list[str], answerable: bool, verdict: str) -> dict[str, Any]:
    """Add (or replace) the labelled question; `verdict` says where the label came from."""
    question = " ".join(question.split())
    quotes = [" ".join(q.split()) for q in quotes if q.strip()]
    if not question:
        raise QueryError("there is no question to keep feedback on - ask one first")
    if answerable and not quotes:
        raise QueryError("paste the words of the article that answer the question, or say it is not answered")
    if any(len(q) > MAX_QUOTE_CHARS for q in quotes):
        raise QueryError(
            f"a quote is longer than {MAX_QUOTE_CHARS:,} characters - keep the words that answer it"
        )
    qid = "fb-" + hashlib.sha1(question.lower().encode()).hexdigest()[:8]
    entry = {
        "id": qid,
        "question": question,
        "quotes": quotes if answerable else [],
        "answerable": answerable,
        "source": "feedback",
        "verdict": verdict,
        "added": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    kept = [e for e in read(path) if e.get("id") != qid] + [entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in kept)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return entry


def read(path: Path) -> list[dict[str, Any]]:
    """The feedback so far (none when the file does not exist yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
