"""BEIR test sets: read corpus.jsonl, queries.jsonl and qrels/test.tsv, and lay the corpus out as files.

Each document becomes one article file holding `title + " " + text` (the BEIR convention), with its id
in front matter, so the benchmark goes through the same build path as user articles (read, clean, chunk,
embed, index) and a document's passages carry the document id as their article_id. Files are rewritten
only when the dataset changes. It does not score anything (evaluate.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import QueryError
from .queries import Query


@dataclass(frozen=True)
class BeirSet:
    name: str
    docs: list[tuple[str, str, str]]  # (doc id, title, text)
    queries: list[Query]  # the test queries: those with judgements
    qrels: dict[str, dict[str, int]]
    fingerprint: str  # sha256 of corpus.jsonl


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise QueryError(
            f"{path} is missing - a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/test.tsv"
        )
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                obj["_id"] = str(obj["_id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise QueryError(
                    f'{path} line {n} is not a JSON object with an "_id" - fix or remove it'
                ) from None
            rows.append(obj)
    return rows


def load_beir(beir_dir: Path, split: str = "test") -> BeirSet:
    """Read a BEIR folder; QueryError naming the file and line for anything malformed."""
    corpus_path = beir_dir / "corpus.jsonl"
    docs = [(d["_id"], str(d.get("title") or ""), str(d.get("text") or "")) for d in _jsonl(corpus_path)]
    texts = {q["_id"]: str(q.get("text") or "") for q in _jsonl(beir_dir / "queries.jsonl")}
    qrels_path = beir_dir / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise QueryError(f"{qrels_path} is missing - a BEIR folder holds qrels/{split}.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if n == 1 and row[:1] == ["query-id"]:
                continue
            try:
                qid, doc_id, grade = row[0], row[1], int(row[2])
            except (IndexError, ValueError):
                raise QueryError(f"{qrels_path} line {n} is not 'query-id<TAB>corpus-id<TAB>score'") from None
            if qid not in texts:
                raise QueryError(f"{qrels_path} line {n}: query {qid} is not in queries.jsonl")
            qrels.setdefault(qid, {})[doc_id] = grade
    queries = [Query(qid, texts[qid]) for qid in sorted(qrels, key=_natural)]
    digest = hashlib.sha256(corpus_path.read_bytes()).hexdigest()
    return BeirSet(beir_dir.resolve().name, docs, queries, qrels, digest)


def _natural(qid: str) -> tuple[int, str]:
    return (int(qid), "") if qid.isdigit() else (1 << 62, qid)


def write_corpus(beir: BeirSet, corpus_dir: Path) -> None:
    """One article file per document (id in front matter); skipped when already written for this data."""
    stamp = corpus_dir / ".dataset-sha256"
    if stamp.is_file() and stamp.read_text().strip() == beir.fingerprint:
        return
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for old in corpus_dir.glob("*.txt"):
        old.unlink()
    for n, (doc_id, title, text) in enumerate(beir.docs):
        body = f"{title} {text}".strip()
        name = re.sub(r"[^\w.-]", "_", doc_id)[:80]
        # the title in front matter keeps a short Title-Case document from being read as a bare title;
        # JSON is valid YAML and quotes any id or title safely
        front = json.dumps({"id": doc_id, "title": title}, ensure_ascii=False)
        (corpus_dir / f"{n:07d}-{name}.txt").write_text(f"---\n{front}\n---\n{body}\n", encoding="utf-8")
    stamp.write_text(beir.fingerprint)


def published_figures(beir_dir: Path, model_name: str) -> dict[str, float]:
    """Figures for this model from the dataset README's table ('| <model>, dense | nDCG@10 | Recall@100 |')."""
    readme = beir_dir / "README.md"
    if not readme.is_file():
        return {}
    short = model_name.rstrip("/").rsplit("/", 1)[-1].lower()
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].lower() == f"{short}, dense":
            try:
                return {"nDCG@10": float(cells[1]), "R@100": float(cells[2])}
            except ValueError:
                return {}
    return {}
