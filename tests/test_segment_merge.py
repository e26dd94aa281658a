"""A merge of appended segments (append.MAX_SEGMENTS) changes no answer: the seed corpus with the real
model, many small appended segments, asked the same questions with and without the merge."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

from rag.assistant import Assistant
from rag.config import ChunkParams, Settings
from rag.index import append
from rag.index.build import build
from rag.index.index_folder import load_index

QUESTIONS = [
    "how do I avoid being clingy?",
    "why use mystery?",
    "what about texting?",
    "how do I build trust?",
    "when should I give someone space?",
    "what is the capital of France?",  # not covered: the abstention must not move either
]


NOTES = [
    "Texting less can say more. A short reply leaves room for the other person to reach out.",
    "Patience is a quiet kind of trust. Trust grows when promises are kept on ordinary days.",
    "Giving someone space is not distance. Space lets both people miss each other a little.",
    "Mystery is not hiding. It is leaving some of your life for the other person to discover.",
]


def _note(corpus: Path, i: int, extra: str = "") -> None:
    """A short article of its own: a small appended segment."""
    text = f"---\ntitle: Short Notes {i}\n---\n{NOTES[i]}{extra}\n"
    (corpus / f"note{i}.md").write_text(text, encoding="utf-8")


def _answers(corpus: Path, index: Path) -> list[dict]:
    assistant = Assistant(replace(Settings(), corpus_dir=corpus, index_dir=index))
    out = []
    for question in QUESTIONS:
        reply = assistant.ask(question).to_json()
        reply.pop("seconds")
        reply = json.loads(json.dumps(reply).replace(str(corpus), "CORPUS"))  # the copies' paths differ
        hits = [(p.chunk.chunk_id, p.rank, p.score) for p in assistant.search(question, k=10)]
        out.append({"question": question, "reply": reply, "search": hits})
    return out


def test_searches_and_answers_are_the_same_after_a_merge(
    seed_index, real_embedder, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(append, "MAX_SEGMENTS", 3)
    monkeypatch.setattr(append, "MAX_APPENDIX", 1.0)  # the seed base is 16 passages: let 4 more merge
    corpus, index = tmp_path / "merged" / "corpus", tmp_path / "merged" / "index"
    shutil.copytree(seed_index[0], corpus)
    shutil.copytree(seed_index[1], index)
    for step in range(3):  # three small segments, one with rows dying in an earlier one
        _note(corpus, step)
        if step == 1:
            _note(corpus, 0, " Edited at step 1.")
        assert build(corpus, index, real_embedder, ChunkParams()).segment > 0
    assert len(load_index(index).manifest.segments or ()) == 4
    _note(corpus, 1, " Edited by the merging build.")  # rows of a merged segment that die now
    _note(corpus, 3)
    unmerged = tmp_path / "unmerged"
    shutil.copytree(corpus, unmerged / "corpus")
    shutil.copytree(index, unmerged / "index", copy_function=os.link)

    report = build(corpus, index, real_embedder, ChunkParams())
    monkeypatch.setattr(append, "MAX_SEGMENTS", 16)
    plain = build(unmerged / "corpus", unmerged / "index", real_embedder, ChunkParams())

    assert report.merged == 3 and plain.merged == 0 and plain.segment == report.segment
    assert [s["prefix"] for s in load_index(index).manifest.segments or ()] == ["", "seg4."]
    assert len(load_index(unmerged / "index").manifest.segments or ()) == 5
    got, want = _answers(corpus, index), _answers(unmerged / "corpus", unmerged / "index")
    for a, b in zip(got, want, strict=True):
        assert a["search"] == b["search"], a["question"]
        assert a["reply"] == b["reply"], a["question"]
    assert any(not a["reply"]["abstained"] for a in got) and got[-1]["reply"]["abstained"]
