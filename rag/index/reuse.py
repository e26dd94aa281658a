"""What a build takes from the previous index instead of embedding again.

`reusable_vectors` gives the previous index's passage vectors keyed by the text each embedded (so an edit
re-embeds only the passages it touched, and a renamed file nothing); `format2_vectors` the same from an
index of the older format 2, when upgrading; `gather_sentences` every passage's stored sentences, the
previous index's rows reused for a passage whose text is unchanged and the rest split and embedded. It
does not decide what changed (plan.py) or write anything (index_folder.py, append.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..types import Chunk
from . import manifest
from .index_folder import LoadedIndex
from .keyword import text_key
from .manifest import LEGACY_CHUNKS
from .sentence_store import (
    ENCODING,
    Encoded,
    StoredSentences,
    encode,
    reencoded,
    sentence_text,
    split_passage,
)

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], tuple[np.ndarray, float]]  # texts -> (unit vectors, seconds)


def reusable_vectors(previous: LoadedIndex) -> tuple[np.ndarray, dict[str, int]]:
    """The previous index's vectors, and each text key's row among them.

    The keys are the keyword index's: text_key of each passage's embedded text.
    """
    return previous.all_vectors(), {key: i for i, key in enumerate(previous.keyword.text_keys())}


def format2_vectors(index_dir: Path, fingerprint: str) -> tuple[np.ndarray, dict[str, int]]:
    """The vectors of an index in the previous format (2: vectors.faiss + chunks.jsonl), and each text
    key's row among them.

    Only a sound index of the same model counts; anything unreadable just means re-embedding.
    """
    import json

    nothing: tuple[np.ndarray, dict[str, int]] = (np.zeros((0, 0), np.float32), {})
    if manifest.older_format_fingerprint(index_dir, 2) != fingerprint:
        return nothing
    try:
        import faiss

        index = faiss.read_index(str(index_dir / "vectors.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal)
        lines = (index_dir / LEGACY_CHUNKS).read_text(encoding="utf-8").splitlines()  # as in format 3
        if len(lines) != len(vectors):
            return nothing
        texts = [Chunk.from_json(json.loads(line)).embed_text for line in lines]
    except Exception as exc:  # noqa: BLE001 - a damaged old index only costs re-embedding
        log.info("no vectors reused from %s: %s", index_dir, exc)
        return nothing
    log.info("reusing %d vectors from the format-2 index in %s", len(texts), index_dir)
    return np.asarray(vectors, np.float32), {text_key(t): i for i, t in enumerate(texts)}


def sentences_of(
    chunks: list[Chunk],
    stored: Callable[[Chunk], Encoded | None],
    dim: int,
    embed_sentences: Embed,
    encoding: str = ENCODING,
) -> tuple[StoredSentences, int, float]:
    """Every passage's sentences: `stored(chunk)`'s (in `encoding`) where the previous index has them, the
    rest split, embedded (a text found twice is embedded once) and encoded; (them, sentences embedded,
    seconds spent embedding)."""
    parts: list[Encoded] = []
    missing: dict[int, list[tuple[int, int, int]]] = {}  # chunk -> its spans, to embed
    for i, c in enumerate(chunks):
        part = stored(c)
        if part is None:
            part = (np.zeros((0, 3), np.int32), np.zeros((0, dim), np.float32), None)  # filled in below
            missing[i] = split_passage(c.text)
        parts.append(part)
    texts = {sentence_text(chunks[i].text, s, e): 0 for i, spans in missing.items() for s, e, _ in spans}
    seconds = 0.0
    if texts:
        vectors, seconds = embed_sentences(list(texts))
        rows, scales = encode(vectors, encoding)
        at = {t: j for j, t in enumerate(texts)}
        for i, spans in missing.items():
            picked = np.asarray(
                [at[sentence_text(chunks[i].text, s, e)] for s, e, _ in spans], dtype=np.int64
            )
            parts[i] = (
                np.asarray(spans, dtype=np.int32).reshape(-1, 3),
                rows[picked],
                None if scales is None else scales[picked],
            )
    embedded = sum(map(len, missing.values()))  # a text found twice is embedded once, counted twice
    return StoredSentences.gather(parts, dim, encoding), embedded, seconds


def gather_sentences(
    chunks: list[Chunk], previous: LoadedIndex | None, dim: int, embed_sentences: Embed
) -> tuple[StoredSentences, int, float]:
    """Every passage's sentences for a full write, the previous index's (read in one pass) reused for a
    passage whose text is unchanged (re-encoded when the previous index stores another encoding, as
    formats 3 to 6 do: int8); (them, sentences embedded, seconds spent embedding)."""
    stored = previous.sentences if previous is not None else None
    if previous is None or stored is None:
        return sentences_of(chunks, lambda c: None, dim, embed_sentences)
    old = {text_key(c.text): row for row, c in enumerate(previous.chunks)}
    spans, rows, scales = stored.encoded()
    if stored.encoding != ENCODING:
        log.info("re-encoding %d stored sentences from %s to %s", len(rows), stored.encoding, ENCODING)
        rows, scales = reencoded(rows, scales, dim, ENCODING), None

    def reused(chunk: Chunk) -> Encoded | None:
        row = old.get(text_key(chunk.text), -1)
        if row < 0:
            return None
        a, b = int(stored.offsets[row]), int(stored.offsets[row + 1])
        return spans[a:b], rows[a:b], None if scales is None else scales[a:b]

    return sentences_of(chunks, reused, dim, embed_sentences)
