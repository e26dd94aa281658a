"""An incremental build that writes only what changed: a new segment, the rest hard-linked (format 6).

When a few articles of an index change, build() comes here instead of rewriting the index: the passages
of changed and added articles go into a new segment's files (segments.py), the new index folder
hard-links every file of the previous segments, and only the small files are written again (rows.npy,
the graph's slots, the keyword index, the manifest). Unchanged articles' passages are not read at all:
their rows follow from the previous manifest (articles in corpus order, each with its passage count).
The folder is still written beside the index and swapped in whole (folder_swap.py), so a build killed at
any moment leaves the old index or the new one. When the appended segments would pass MAX_SEGMENTS, the
build merges them with its new one into a single segment (their live passages copied: vectors, sentences,
token ids; nothing embedded or tokenised again), leaving the base untouched: the cost is that of the
appended passages, not of the index. `why_full` and append() say when a full write (which compacts every
segment into one base, format 7) is due instead: too many dead rows, merged segments grown past
MAX_APPENDIX of the base or MAX_MERGE_ROWS, another model or encoding, or `rag build --compact`.
It does not plan the build or embed (build.py), or own the format (manifest.py, index_folder.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..types import Chunk
from . import ann, passage_file, storage
from . import manifest as manifest_io
from .folder_swap import refuse_foreign, swap_in
from .index_folder import LoadedIndex, growable_graph
from .keyword import KeywordIndex, text_key
from .manifest import FACTS, GRAPH, KEYWORD, ROWS, SEGMENT_PREFIX, SLOTS, Manifest
from .plan import Plan
from .reuse import Embed, Encoded, sentences_of
from .segments import merged_rows, segment_paths
from .sentence_store import ENCODING, StoredSentences

MAX_SEGMENTS = 16  # appended segments (besides the base) before a build merges them into one
MAX_DEAD_ROWS = 0.2  # share of stored rows that no passage uses any more before a build compacts
# A merge that would hold more passages than MAX_APPENDIX of the base's rows, or than MAX_MERGE_ROWS,
# compacts everything instead (a full write). The share: past it the appended passages are no longer a
# small part of the index (Lucene's log merge policy merges a level into the next at a tenth of it,
# mergeFactor 10). The count: a merge copies each passage it carries (about 0.15 ms of CPU a passage,
# measured at 100k, docs/benchmarks.md), so 20,000 keep the merging build near the 5 s a one-article
# build is held to, at any size of index.
MAX_APPENDIX = 0.1
MAX_MERGE_ROWS = 20_000
# Passages without a graph node (searched exactly, ann.search) before a build adds them to the graph and
# writes it again: at 384-d, 10,000 rows cost a question about 2 ms and 15 MB of memory.
MAX_TAIL = 10_000


@dataclass(frozen=True)
class Appended:
    """What an appending build did."""

    embedded: int  # passages embedded
    sentences: int  # sentences of all passages
    sentences_embedded: int
    embed_seconds: float  # passages and sentences
    sentence_seconds: float
    segment_rows: int  # passages new in this build's segment
    merged: int = 0  # appended segments merged into it (0: none)
    carried: int = 0  # passages they held that it took over


def why_full(previous: LoadedIndex | None, full: str, compact: bool) -> str:
    """Why this build must write the whole index ("" when it may append a segment)."""
    if previous is None or full:
        return full or "no previous index"
    m = previous.manifest
    if compact:
        return "compaction asked for (rag build --compact)"
    if m.sentences is None or m.sentences.get("encoding") != ENCODING:
        return "the previous index stores no sentences, or in another encoding"
    if m.legacy:
        return f"the previous index is in the older format {m.format}"
    if previous.keyword.outdated:
        return previous.keyword.outdated
    return ""


def append(
    index_dir: Path,
    previous: LoadedIndex,
    plan: Plan,
    manifest: Manifest,
    embed_passages: Embed,
    embed_sentences: Embed,
) -> Appended | str:
    """Write the index of `plan` as `previous` plus one segment (merged with the appended ones past
    MAX_SEGMENTS) and swap it in; or, with nothing written, why a full write is due: too many dead rows,
    a graph to build afresh, merged segments too big, rows that do not add up."""
    prev = previous.manifest
    ranges, at = {}, 0
    for aid, record in prev.articles.items():  # rows follow the articles, in manifest order
        ranges[aid] = (at, at + record.chunks)
        at += record.chunks
    if at != prev.chunk_count:
        return "the previous manifest's passages do not add up: rewriting"
    prev_rows = previous.layout.rows if previous.layout is not None else np.arange(at, dtype=np.int64)
    unchanged = {p for p in plan.parts if isinstance(p, str)}
    reusable = _reusable(previous, [ranges[aid] for aid in prev.articles if aid not in unchanged])

    stored = prev.physical_rows
    rows, old_rows, fresh, at = [], [], [], 0  # fresh: (row, chunk) of the new segment's passages
    for part in plan.parts:
        if isinstance(part, str):
            a, b = ranges[part]
            rows.append(prev_rows[a:b])
            old_rows.append(np.arange(a, b, dtype=np.int64))
            at += b - a
            continue
        for chunk in part:
            key = text_key(chunk.embed_text)
            fresh.append((at, chunk))
            at += 1
            rows.append(np.array([stored + len(fresh) - 1], dtype=np.int64))
            old_rows.append(np.array([reusable[0].get(key, -1)], dtype=np.int64))
    new_rows = np.concatenate([np.zeros(0, np.int64), *rows])
    previous_rows = np.concatenate([np.zeros(0, np.int64), *old_rows])
    segments = list(prev.segments or [_base(prev)])
    merge_from = segments[0]["rows"] if len(segments) > MAX_SEGMENTS else None  # base + MAX_SEGMENTS
    carried = np.zeros(0, np.int64)  # the merged segments' live rows, by the previous index's passage
    renumbered = new_rows  # the passages' rows once written: renumbered by a merge
    if merge_from is not None:
        renumbered, moved = merged_rows(new_rows, merge_from)
        if len(moved) > min(MAX_APPENDIX * merge_from, MAX_MERGE_ROWS):
            return (
                f"{len(segments) - 1} appended segments would merge into {len(moved):,} passages, over"
                f" {MAX_APPENDIX:.0%} of the base's {merge_from:,} or {MAX_MERGE_ROWS:,}: compacting"
            )
        passage_of = np.full(stored, -1, np.int64)
        passage_of[prev_rows] = np.arange(len(prev_rows))
        carried = passage_of[moved[moved < stored]]
        stored = merge_from + len(moved) - len(fresh)  # what the base and the merged segment hold
    if (stored + len(fresh) - len(new_rows)) / max(stored + len(fresh), 1) > MAX_DEAD_ROWS:
        return f"over {MAX_DEAD_ROWS:.0%} of the stored rows dead: compacting"
    graph, planned = None, None
    if prev.index_type == "hnsw-ip":
        assert previous.slots is not None
        graph = ann.Graph(previous.vectors, previous.slots, prev.hnsw)
        planned = ann.extension(graph, previous_rows)  # nothing below changes the graph before it is used
        if planned is None:
            return "the graph is due to be built afresh"

    chunks = [previous.chunks[r] for r in carried.tolist()] + [c for _, c in fresh]
    sources = np.concatenate([carried, previous_rows[[r for r, _ in fresh]]])
    vectors, embedded, seconds = _vectors(previous, chunks, sources, embed_passages)
    vectors = storage.as_served(vectors)  # the graph takes these
    by_text = reusable[1] | {text_key(c.text): r for c, r in zip(chunks, carried.tolist(), strict=False)}
    sentences, sentences_embedded, sentence_seconds = _sentences(previous, chunks, by_text, embed_sentences)
    prefix = _next_prefix(prev)
    texts = [c.embed_text for _, c in fresh]
    keyword = previous.keyword.appended(prefix, new_rows, texts, merge_from=merge_from)
    grown, slots = None, None
    if graph is not None:
        assert planned is not None
        slots, tail = planned
        if len(tail) > MAX_TAIL:  # the graph takes the tail in, and is written again
            in_segment = np.full(len(new_rows), -1, dtype=np.int64)
            in_segment[[r for r, _ in fresh]] = len(carried) + np.arange(len(fresh))

            def take(rows: np.ndarray) -> np.ndarray:
                out = np.empty((len(rows), vectors.shape[1]), np.float32)
                here = in_segment[rows] >= 0
                out[here] = vectors[in_segment[rows[here]]]
                out[~here] = previous.exact.take(previous_rows[rows[~here]])  # rows of the old tail
                return out

            grown = ann.extend(growable_graph(previous), previous_rows, take)
            assert grown is not None
            slots = None
    if merge_from is not None:
        new_rows = renumbered
        segments = segments[:1]
    offsets = previous.sentences.offsets  # type: ignore[union-attr]
    new_sentences = sentences.count - int(sentences.offsets[len(carried)])  # of the fresh passages
    live_sentences = new_sentences + sum(
        int(offsets[ranges[a][1]] - offsets[ranges[a][0]]) for a in unchanged
    )
    _write(
        index_dir,
        previous,
        manifest,
        segments,
        prefix,
        vectors,
        chunks,
        sentences,
        new_rows,
        keyword,
        grown,
        slots,
        plan.facts.dumps() if plan.facts is not None else None,
    )
    return Appended(
        embedded=embedded,
        sentences=live_sentences,
        sentences_embedded=sentences_embedded,
        embed_seconds=seconds + sentence_seconds,
        sentence_seconds=sentence_seconds,
        segment_rows=len(fresh),
        merged=len(prev.segments or [None]) - 1 if merge_from is not None else 0,
        carried=len(carried),
    )


def _base(prev: Manifest) -> dict[str, Any]:
    """The base segment of an index written whole (format 7)."""
    assert prev.sentences is not None  # why_full: only an index with stored sentences is appended to
    return {"prefix": "", "rows": prev.chunk_count, "sentences": int(prev.sentences["count"])}


def _next_prefix(prev: Manifest) -> str:
    """The file prefix of the segment an append adds (seg1. after the base)."""
    used = [int(s["prefix"][len(SEGMENT_PREFIX) : -1]) for s in (prev.segments or ())[1:]]
    return f"{SEGMENT_PREFIX}{1 + max(used, default=0)}."


def _reusable(previous: LoadedIndex, ranges: list[tuple[int, int]]) -> tuple[dict[str, int], dict[str, int]]:
    """The rows of the previous index's changed and removed articles, by the key of their embedded text
    (vectors) and of their text (sentences): what an edit or a rename reuses instead of embedding."""
    by_embed: dict[str, int] = {}
    by_text: dict[str, int] = {}
    for a, b in ranges:
        for row in range(a, b):
            chunk = previous.chunks[row]
            by_embed.setdefault(text_key(chunk.embed_text), row)
            by_text.setdefault(text_key(chunk.text), row)
    return by_embed, by_text


def _vectors(
    previous: LoadedIndex, chunks: list[Any], sources: np.ndarray, embed: Embed
) -> tuple[np.ndarray, int, float]:
    """The new segment's passage vectors: the previous index's where the text is the same, else embedded."""
    dim = previous.manifest.embedder.dim
    vectors = np.zeros((len(chunks), dim), np.float32)
    reused = sources >= 0
    if reused.any():
        vectors[reused] = previous.exact.take(sources[reused])
    todo = {c.embed_text: 0 for c, r in zip(chunks, reused.tolist(), strict=True) if not r}
    seconds = 0.0
    if todo:
        fresh, seconds = embed(list(todo))
        at = {t: i for i, t in enumerate(todo)}
        vectors[~reused] = fresh[
            [at[c.embed_text] for c, r in zip(chunks, reused.tolist(), strict=True) if not r]
        ]
    return vectors, len(todo), seconds


def _sentences(
    previous: LoadedIndex, chunks: list[Any], by_text: dict[str, int], embed: Embed
) -> tuple[StoredSentences, int, float]:
    """The new segment's sentences: the previous index's rows for a passage of the same text (read per
    passage), else split and embedded."""
    stored = previous.sentences
    assert stored is not None

    def reused(chunk: Chunk) -> Encoded | None:
        row = by_text.get(text_key(chunk.text), -1)
        return stored.encoded_passage(row) if row >= 0 else None

    return sentences_of(chunks, reused, previous.manifest.embedder.dim, embed)


def _write(
    index_dir: Path,
    previous: LoadedIndex,
    manifest: Manifest,
    segments: list[Mapping[str, Any]],
    prefix: str,
    vectors: np.ndarray,
    chunks: list[Any],
    sentences: StoredSentences,
    rows: np.ndarray,
    keyword: KeywordIndex,
    graph: ann.Graph | None,
    slots: np.ndarray | None,
    facts: bytes | None,
) -> None:
    """The new folder: the files of the previous `segments` kept linked, the new segment and the small
    files written, manifest last; then swapped in. With `slots` (each node's new row) the graph file is
    linked too; with `graph` it is written again."""
    import faiss

    prev = previous.manifest
    linked = [name for s in segments for name in prev.segment_files(s["prefix"])]
    linked += [GRAPH] if slots is not None else []
    tmp = index_dir.parent / f".{index_dir.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        files = {name: prev.files[name] for name in linked}
        for name in linked:  # never rewritten: a file is written once, into a fresh folder
            storage.link(index_dir / name, tmp / name)

        def put(name: str, data: Any) -> None:
            storage.write_synced(tmp / name, data)
            files[name] = storage.record(tmp / name)

        paths = {role: path.name for role, path in segment_paths(tmp, prefix, manifest.chunks_file).items()}
        put(paths["vectors"], storage.npy_writer(storage.stored_vectors(vectors)))
        blocks, offsets = passage_file.encode(chunks)
        put(paths["chunks"], storage.parts_writer(blocks))
        put(paths["offsets"], storage.npy_writer(offsets))
        put(paths["sentence_offsets"], storage.npy_writer(sentences.offsets))
        put(paths["spans"], storage.npy_writer(sentences.stored_spans()))
        put(paths["sentence_vectors"], storage.npy_writer(sentences.vectors))
        if sentences.scales is not None:
            put(paths["scales"], storage.npy_writer(sentences.scales))
        put(ROWS, storage.npy_writer(rows))
        if graph is not None:
            serialized = faiss.serialize_index(graph.index)
            put(GRAPH, storage.parts_writer([serialized.data]))
            del serialized
            put(SLOTS, storage.npy_writer(graph.slots))
        if slots is not None:
            put(SLOTS, storage.npy_writer(slots))
        keyword.save(tmp / KEYWORD, link_from=index_dir / KEYWORD)  # its segments' files linked too
        if facts is not None:
            put(FACTS, facts)  # what each article file was (line_facts.py): small, written again
        segments = [*segments, {"prefix": prefix, "rows": len(chunks), "sentences": sentences.count}]
        manifest = replace(
            manifest,
            segments=tuple(segments),
            sentences={"count": sum(s["sentences"] for s in segments), "encoding": sentences.encoding},
        )
        manifest_io.write(tmp, manifest.with_files(files))
        storage.fsync_path(tmp)
        refuse_foreign(index_dir)
        swap_in(tmp, index_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
