"""The passages' records on disk: the one module that writes and reads chunks.zlib (and reads the
chunks.jsonl of older indexes).

Format 5 (and 6, with segments) stores the passages BLOCK (4) at a time: each block is the JSON lines of
BLOCK passages, zlib-compressed, and chunks.offsets.npy (int64, blocks + 1) says where each block starts.
A passage is read by one pread of its block and one decompression (about 3 kB of text at 100k); the block last
read is kept, so reading an article's passages in turn decompresses each block once. A record holds the
passage's text once: its `embed_text` is left out when it is the text with whitespace collapsed, and
only its head (title and section) is kept when it is that head, a newline and the collapsed text
(chunk.embed_text makes them so); any other embed_text is stored whole. The text is stored as it is in
the article, so citations and the evaluation read exactly what they did.
Formats 3 and 4 stored one uncompressed JSON line per passage (both texts) with line offsets; they are
still read (LEGACY), so an index of those formats answers until the next build rewrites it.
It does not know which passages an index holds (index_folder.py, segments.py).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson

from ..errors import IndexLoadError
from ..types import Chunk
from .storage import OpenFile

# Passages per compressed block, fixed for the format (chunks.offsets.npy's length is checked against it).
# At 100k: 4 take 442 B a passage and about 30 us to inflate one, 8 take 411 B and twice the time; a
# question reads tens of passages.
BLOCK = 4
LEVEL = 6  # zlib's default level: 3 takes 2% more disk, 9 longer to write for under 1% less
LEGACY = "jsonl"  # formats 3 and 4: one JSON line per passage, line offsets
BLOCKS = "zlib"  # formats 5 and 6: BLOCK passages per zlib block, block offsets


def _record(chunk: Chunk) -> dict[str, Any]:
    """A chunk's JSON record, its embed_text reduced to what the text does not already say."""
    out = chunk.to_json()
    body = _collapsed(chunk.text)
    embed = out.pop("embed_text")
    if embed != body:
        if embed.endswith("\n" + body):
            out["embed_head"] = embed[: -len(body) - 1]
        else:
            out["embed_text"] = embed
    return out


def _collapsed(text: str) -> str:
    """The text with whitespace collapsed (as chunk.embed_text does it; 4x faster than a regex)."""
    return " ".join(text.split())


def _chunk(obj: dict[str, Any]) -> Chunk:
    """The chunk of a stored record (either format)."""
    if "embed_text" not in obj:
        body = _collapsed(obj["text"])
        head = obj.get("embed_head")
        obj["embed_text"] = body if head is None else f"{head}\n{body}"
    return Chunk.from_json(obj)


def encode(chunks: Sequence[Chunk]) -> tuple[list[bytes], np.ndarray]:
    """(the compressed blocks, their offsets) of the passages, in order: what chunks.zlib holds."""
    blocks = []
    for start in range(0, len(chunks), BLOCK):
        lines = [orjson.dumps(_record(c)) for c in chunks[start : start + BLOCK]]
        blocks.append(zlib.compress(b"\n".join(lines), LEVEL))
    return blocks, np.cumsum([0, *map(len, blocks)], dtype=np.int64)


def expected_offsets(encoding: str, passages: int) -> int:
    """How many entries chunks.offsets.npy has for this many passages."""
    return passages + 1 if encoding == LEGACY else -(-passages // BLOCK) + 1


class PassageFile:
    """One segment's passages, read on demand through a descriptor held open."""

    def __init__(self, file: OpenFile | None, offsets: np.ndarray, passages: int, encoding: str) -> None:
        self._file, self._offsets, self._passages, self._encoding = file, offsets, passages, encoding
        self._last: tuple[int, list[bytes]] = (-1, [])  # the block last read, split into lines
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._passages

    def get(self, i: int) -> Chunk:
        if self._file is None or not 0 <= i < self._passages:
            raise IndexError(i)
        if self._encoding == LEGACY:
            start, end = int(self._offsets[i]), int(self._offsets[i + 1])
            return _chunk(orjson.loads(self._file.read(start, end - start)))
        return _chunk(orjson.loads(self._block(i // BLOCK)[i % BLOCK]))

    def _block(self, b: int) -> list[bytes]:
        with self._lock:
            last, lines = self._last
        if last != b:
            assert self._file is not None
            start, end = int(self._offsets[b]), int(self._offsets[b + 1])
            try:
                lines = zlib.decompress(self._file.read(start, end - start)).split(b"\n")
            except zlib.error:  # files over storage.HASH_UP_TO are not hashed on every load
                raise IndexLoadError(
                    f"passages {b * BLOCK}-{b * BLOCK + BLOCK - 1} of the index are damaged - rebuild the index"
                ) from None
            with self._lock:
                self._last = (b, lines)
        return lines

    def __iter__(self) -> Iterator[Chunk]:
        """Every passage in order, the whole file read at once (builds)."""
        if self._file is None or not self._passages:
            return
        data = self._file.read(0, int(self._offsets[-1]))
        if self._encoding == LEGACY:
            yield from (_chunk(orjson.loads(line)) for line in data.splitlines())
            return
        for b in range(len(self._offsets) - 1):
            block = data[int(self._offsets[b]) : int(self._offsets[b + 1])]
            yield from (_chunk(orjson.loads(line)) for line in zlib.decompress(block).split(b"\n"))
