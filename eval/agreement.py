"""How far a second reader agrees with the committed labels: is the answer target within a careful reader's reach?

    .venv/bin/python eval/agreement.py            # eval/second_reader.jsonl against eval/queries.jsonl

eval/second_reader.jsonl was written on 2026-12-01 by a second blind annotator (a helper given only the two
seed articles and the 151 questions, follow-ups with the question before them, never the labels or any
answer): per question whether the articles answer it, the 1-3 sentences it would quote as the answer
("best", best first) and every sentence a reader would accept ("accept"). Its "best" sentences are judged
against the committed accept labels exactly as `rag eval` judges an answer's quotes (answereval.hits):
that is the reader recall and precision a careful reader reaches, beside the composer's. Both readers are
helpers of the same kind, so this bounds what the labels ask, not what every person would accept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rag.evaluation.answereval import hits
from rag.evaluation.queries import QuoteLocator, load_queries

ROOT = Path(__file__).resolve().parent.parent


def main(second: Path) -> None:
    queries = load_queries(ROOT / "eval" / "queries.jsonl")
    other = {r["id"]: r for r in map(json.loads, second.read_text(encoding="utf-8").splitlines())}
    locate = QuoteLocator(
        {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("*.txt"))}
    )

    def accepted(sentence: str, labels: list[str]) -> bool:
        spans = [sp for label in labels for sp in locate.spans(label)]
        return any(hits(sp, at.path, at.start, at.end) for at in locate.spans(sentence) for sp in spans)

    for split in ("train", "test"):
        qs = [q for q in queries if q.split == split]
        both = [q for q in qs if q.answerable and other[q.qid]["answerable"]]
        declined = sum(q.answerable and not other[q.qid]["answerable"] for q in qs)
        answered = sum(not q.answerable and other[q.qid]["answerable"] for q in qs)
        quoted = [(q, s) for q in both for s in other[q.qid]["best"]]
        found = sum(any(accepted(s, q.accept) for s in other[q.qid]["best"]) for q in both)
        first = sum(accepted(other[q.qid]["best"][0], q.accept) for q in both)
        precision = sum(accepted(s, q.accept) for q, s in quoted) / len(quoted)
        n_answerable = sum(q.answerable for q in qs)
        print(
            f"{split}: the second reader declines {declined} of {n_answerable} answerable questions and answers"
            f" {answered} of {len(qs) - n_answerable} unanswerable ones; its quotes against the accept labels:"
            f" reader recall {found / len(both):.3f}, precision {precision:.3f} (its first sentence accepted"
            f" {first / len(both):.3f}; {len(quoted) / len(both):.1f} sentences an answer)"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "eval" / "second_reader.jsonl")
