"""Combine rankings and tidy result lists: reciprocal rank fusion, merging of overlapping passages.

Reciprocal rank fusion (Cormack et al. 2009) scores a row by sum(weight / (k + rank)) over the rankings
that hold it, so dense and keyword results combine without calibrating their scores against each other.
Merging joins passages of one article whose spans overlap (neighbours sharing a sentence) into one
passage spanning both, so a top-k list shows k different pieces of evidence and every merged passage is
still one exact span of the original file. It does not search (retrieve.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from .types import Chunk, Passage

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[int]], *, k: int = RRF_K, weights: Mapping[str, float] | None = None
) -> list[tuple[int, float, dict[str, int]]]:
    """(row, fused score, {ranking name: 1-based rank}) best first; ties keep the first ranking's order."""
    fused: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, rows in rankings.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, row in enumerate(rows, start=1):
            fused[row] = fused.get(row, 0.0) + w / (k + rank)
            ranks.setdefault(row, {})[name] = rank
    order = sorted(fused, key=lambda row: -fused[row])
    return [(row, fused[row], ranks[row]) for row in order]


def merge_overlapping(passages: Iterable[Passage], k: int) -> list[Passage]:
    """The first k distinct pieces of evidence: a passage overlapping a better one is merged into it.

    `passages` may be a generator: it is read only until a (k+1)-th distinct passage turns up.
    """
    kept: list[Passage] = []
    for p in passages:
        for i, q in enumerate(kept):
            a, b = q.chunk, p.chunk
            if a.article_id == b.article_id and b.start < a.end and a.start < b.end:
                kept[i] = replace(q, chunk=_union(a, b), why={**q.why, "merged_with": b.chunk_id})
                break
        else:
            if len(kept) == k:
                break
            kept.append(p)
    return [replace(p, rank=rank) for rank, p in enumerate(kept, start=1)]


def _union(a: Chunk, b: Chunk) -> Chunk:
    """One chunk spanning two overlapping chunks of the same article (texts are exact spans)."""
    left, right = (a, b) if a.start <= b.start else (b, a)
    text = left.text if right.end <= left.end else left.text + right.text[left.end - right.start :]
    section = (
        a.section if a.section == b.section else " | ".join(dict.fromkeys((left.section, right.section)))
    )
    return replace(
        a,
        chunk_id=f"{left.chunk_id}+{right.chunk_id.rsplit('#', 1)[-1]}",
        section=section,
        start=left.start,
        end=max(left.end, right.end),
        text=text,
        embed_text="",
    )
