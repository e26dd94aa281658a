"""Combine rankings and tidy result lists: score fusion, rank fusion, merging of overlapping passages.

Two ways to fuse the dense and keyword rankings of one question:
- z-score fusion (the default; CombSUM over standardised scores, Fox & Shaw 1994, Lee 1997): each
  ranker's scores are standardised over its top rows (the fusion depth: minus their mean, over their
  standard deviation) and a row's fused score is the weighted sum of its standardised scores. A row
  below a ranker's top rows, or missing from its list, counts the lowest of them (or, where the
  ranker says what it left out, as BM25 does with rows scoring 0, that score, counted in the mean and
  deviation). Unlike ranks, the scores keep how far ahead a ranker's top hit is, so a confident ranker
  outvotes an unsure one; standardising makes cosines and BM25 scores comparable without weights
  fitted to a data set. A ranker whose scores are all equal (counting any it says it left out) adds
  nothing.
- reciprocal rank fusion (Cormack et al. 2009) scores a row by sum(weight / (k + rank)) over the
  rankings that hold it; it sees only ranks.
Merging joins passages of one article whose spans overlap (neighbours sharing a sentence) into one
passage spanning both, so a top-k list shows k different pieces of evidence and every merged passage is
still one exact span of the original file. It does not search (retrieve.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from ..types import Chunk, Passage

RRF_K = 60

Fused = list[tuple[int, float, dict[str, int]]]  # (row, fused score, {ranking name: 1-based rank})


def _weight(weights: Mapping[str, float] | None, name: str) -> float:
    return 1.0 if weights is None else weights.get(name, 1.0)


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[int]], *, k: int = RRF_K, weights: Mapping[str, float] | None = None
) -> Fused:
    """(row, fused score, {ranking name: 1-based rank}) best first; ties keep the first ranking's order."""
    fused: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, rows in rankings.items():
        w = _weight(weights, name)
        for rank, row in enumerate(rows, start=1):
            fused[row] = fused.get(row, 0.0) + w / (k + rank)
            ranks.setdefault(row, {})[name] = rank
    order = sorted(fused, key=lambda row: -fused[row])
    return [(row, fused[row], ranks[row]) for row in order]


def zscore_fusion(
    scored: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    weights: Mapping[str, float] | None = None,
    window: int | None = None,
    unreturned: Mapping[str, tuple[int, float]] | None = None,
) -> Fused:
    """(row, fused score, {ranking name: 1-based rank}) best first, from each ranker's (rows, scores).

    Rows are in the ranker's order, best first; ties keep the first ranking's order.
    - `window`: each ranker is standardised over its first `window` rows (default: all it returned),
      and rows below them, or missing, count the window's lowest standardised score. So asking a
      ranker for a longer list adds candidates below the others but never reorders the first ones.
    - `unreturned`: per ranker, (count, score) of rows inside the window it scored but left out (BM25
      leaves out rows scoring 0). They count in its mean and deviation, and the lowest score is
      theirs; so one keyword match among many passages stands out, where a list of one would have no
      spread at all.
    """
    standard: dict[str, tuple[dict[int, float], float]] = {}  # name -> ({row: z}, lowest z)
    ranks: dict[int, dict[str, int]] = {}
    windowed: dict[int, int] = {}  # rows inside some ranker's window -> first-seen order, for ties
    for name, (rows, values) in scored.items():
        if len(rows) != len(values):
            raise ValueError(f"ranking {name!r} has {len(rows)} rows but {len(values)} scores")
        if not len(rows):
            continue
        x = np.asarray(values, dtype=np.float64)
        if not np.isfinite(x).all():  # a damaged vector: such a row counts as the list's lowest
            finite = x[np.isfinite(x)]
            x = np.where(np.isfinite(x), x, finite.min() if finite.size else 0.0)
        for row in rows[: window or len(rows)]:
            windowed.setdefault(int(row), len(windowed))
        head = x[: window or len(x)]
        count, rest = (unreturned or {}).get(name, (0, 0.0))
        if count > 0:
            head = np.concatenate([head, np.full(count, rest)])
        mean, sd = float(head.mean()), float(head.std())
        if sd > 1e-12:
            z = (x - mean) / sd
            lowest = float(((head - mean) / sd).min())
        else:
            z, lowest = np.zeros_like(x), 0.0
        z = np.maximum(z, lowest)  # below the window: as low as the window goes, no lower
        standard[name] = (dict(zip(map(int, rows), z.tolist(), strict=True)), lowest)
        for rank, row in enumerate(rows, start=1):
            ranks.setdefault(int(row), {})[name] = rank

    fused = {
        row: sum(_weight(weights, name) * z.get(row, lowest) for name, (z, lowest) in standard.items())
        for row in ranks
    }
    # Ties: rows inside a window first, in the order the windows list them, so that a longer list
    # (rows below the windows) cannot reorder them; then the rest in the order the lists give.
    order = sorted(fused, key=lambda row: (-fused[row], windowed.get(row, len(windowed))))
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
                kept[i] = replace(q, chunk=_union(a, b), why=replace(q.why, merged_with=b.chunk_id))
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
