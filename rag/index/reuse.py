"""What a build takes from the previous index instead of embedding again.

`reusable_vectors` gives the previous index's passage vectors keyed by the text each embedded (so an edit
re-embeds only the passages it touched, and a renamed file nothing); `format2_vectors` the same from an
index of the older format 2, when upgrading; `gather_sentences` every passage's stored sentences, the
previous index's rows reused for a passage whose text is unchanged and the rest split and embedded. It
does not decide what changed (plan.py) or write anything (index_folder.py, append.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..types import Chunk
from . import manifest
from .append import Embed
from .index_folder import LoadedIndex
from .keyword import text_key
from .manifest import CHUNKS
from .sentence_store import ENCODING, StoredSentences, encode, sentence_text, split_passage

log = logging.getLogger(__name__)


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
        lines = (index_dir / CHUNKS).read_text(encoding="utf-8").splitlines()  # the same name in format 2
        if len(lines) != len(vectors):
            return nothing
        texts = [Chunk.from_json(json.loads(line)).embed_text for line in lines]
    except Exception as exc:  # noqa: BLE001 - a damaged old index only costs re-embedding
        log.info("no vectors reused from %s: %s", index_dir, exc)
        return nothing
    log.info("reusing %d vectors from the format-2 index in %s", len(texts), index_dir)
    return np.asarray(vectors, np.float32), {text_key(t): i for i, t in enumerate(texts)}


def gather_sentences(
    chunks: list[Chunk], previous: LoadedIndex | None, dim: int, embed_sentences: Embed
) -> tuple[StoredSentences, int, float]:
    """Every passage's sentences (spans and encoded vectors), the previous index's reused for a passage
    whose text is unchanged; (them, sentences embedded, seconds spent embedding)."""
    old: dict[str, int] = {}
    stored = previous.sentences if previous is not None else None
    if stored is not None and stored.encoding == ENCODING:
        old = {text_key(c.text): row for row, c in enumerate(previous.chunks)}  # type: ignore[union-attr]
        old_spans, old_rows, old_scales = stored.encoded()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    missing: dict[int, list[tuple[int, int, int]]] = {}  # chunk -> its spans, to embed
    for i, c in enumerate(chunks):
        row = old.get(text_key(c.text), -1)
        if row >= 0 and stored is not None:
            a, b = int(stored.offsets[row]), int(stored.offsets[row + 1])
            parts.append((old_spans[a:b], old_rows[a:b], None if old_scales is None else old_scales[a:b]))
        else:
            parts.append((np.zeros((0, 3), np.int32), np.zeros((0, dim), np.float32), None))
            missing[i] = split_passage(c.text)
    texts = {sentence_text(chunks[i].text, s, e): 0 for i, spans in missing.items() for s, e, _ in spans}
    seconds, vectors = 0.0, np.zeros((0, dim), np.float32)
    if texts:
        vectors, seconds = embed_sentences(list(texts))
    rows, scales = encode(vectors, ENCODING)
    at = {t: j for j, t in enumerate(texts)}
    for i, spans in missing.items():
        picked = np.asarray([at[sentence_text(chunks[i].text, s, e)] for s, e, _ in spans], dtype=np.int64)
        parts[i] = (
            np.asarray(spans, dtype=np.int32).reshape(-1, 3),
            rows[picked],
            None if scales is None else scales[picked],
        )
    embedded = sum(map(len, missing.values()))  # a text found twice is embedded once, counted twice
    return StoredSentences.gather(parts, dim, ENCODING), embedded, seconds
