"""The index manifest (manifest.json): the one module that reads or writes it.

A frozen `Manifest` says what an index folder holds: the format version, the embedder (name, dim,
fingerprint, precision), the chunking parameters, each article's file hash and passage count, the
counts, the vector index type (and HNSW graph parameters), the keyword index parameters, library
versions, the stored sentences (count and vector encoding; absent in an index built without them, which
is still read as before), and the size + sha256 of every other file. A full build writes
format 7; a build that appended a segment (segments.py: the passages of changed articles in files of
their own, the others' files hard-linked) writes format 8, whose "segments" lists each segment's file
prefix, rows and sentences. Formats 3 to 6 (the same, with float32 (3, 4) or float16 (5, 6) vectors and
int8 sentence vectors; 3 and 4 with uncompressed passages) are still read; a rag that reads only those
refuses 7 and 8 with its one-line error. `to_json` writes the
same JSON, key for key and in the same order, as every earlier index holds; `read` parses and checks one, and says what to run
when it cannot be used. Pattern: vicinity's BaseArgs.dump/load, plus the version it lacks.
It does not check the other files (index_folder.py, storage.py) or decide what to rebuild (build.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..config import ChunkParams
from ..errors import IndexLoadError, build_hint
from . import storage

FORMAT_VERSION = 8  # the newest format this rag reads: 8 has appended segments
BASE_FORMAT = 7  # what a full build writes (no segments)
# Formats 3 (base) and 4 (segments) stored each passage as an uncompressed JSON line and the vectors as
# float32; 5 and 6 compressed passages, float16 vectors and int8 sentence vectors. They are still read
# (and served), and the next build rewrites them in format 7 (vectors and sentences re-encoded, not
# re-embedded).
JSONL_FORMATS = (3, 4)
LEGACY_FORMATS = (*JSONL_FORMATS, 5, 6)
SEGMENTED_FORMATS = (4, 6, FORMAT_VERSION)
NAME = "manifest.json"
INDEX_TYPES = ("flat-ip", "hnsw-ip")  # exact inner product, or an HNSW graph re-scored exactly
# The other files of an index folder (index_folder.py says what each holds); the manifest records them.
VECTORS = "vectors.npy"  # int8 from format 7, float16 in 5 and 6, float32 before
GRAPH = "vectors.hnsw.faiss"
SLOTS = "vectors.slots.npy"
CHUNKS = "chunks.zlib"  # the passages, compressed in blocks (passage_file.py); format 5 on
LEGACY_CHUNKS = "chunks.jsonl"  # formats 3 and 4: one JSON line per passage
OFFSETS = "chunks.offsets.npy"  # where each block (formats 3-4: each line) of the chunks file starts
KEYWORD = "keyword"
# Each passage's sentences (sentence_store.py), in indexes built with them ("sentences" in the manifest).
SENTENCE_OFFSETS = "sentences.offsets.npy"
SENTENCE_SPANS = "sentences.spans.npy"
SENTENCE_VECTORS = "sentences.vectors.npy"
SENTENCE_SCALES = "sentences.scales.npy"  # int8 vectors only (formats 3 to 6)
SENTENCE_FILES = (SENTENCE_OFFSETS, SENTENCE_SPANS, SENTENCE_VECTORS, SENTENCE_SCALES)
SENTENCE_ENCODINGS = ("int4", "int8", "fp16")
# Format 4: the files of one segment's passages, each named with the segment's prefix ("" for the base,
# whose files keep the names above; "seg1." ... for appended ones), and the passage -> physical row map.
SEGMENT_FILES = (VECTORS, CHUNKS, OFFSETS, *SENTENCE_FILES)  # formats 3 and 4: LEGACY_CHUNKS for CHUNKS
ROWS = "rows.npy"
SEGMENT_PREFIX = "seg"
# What each article file was when the index was built (line_facts.py), so a build reads only changed files.
FACTS = "articles.facts.npz"


class ManifestError(ValueError):
    """What is wrong inside a manifest (a field missing or of the wrong kind); read() adds where and the fix."""


_KINDS: dict[type, str] = {str: "a string", int: "a whole number", Mapping: "an object"}


def _get(obj: Mapping[str, Any], key: str, kind: type, where: str = "") -> Any:
    """obj[key] checked to be a `kind`; ManifestError naming the field otherwise."""
    name = f"{where}.{key}" if where else key
    if not isinstance(obj, Mapping):
        raise ManifestError(f"{where or 'the manifest'} is not an object")
    if key not in obj:
        raise ManifestError(f"{name} is missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{name} is {value!r}, not {_KINDS.get(kind, kind.__name__)}")
    return value


@dataclass(frozen=True)
class EmbedderInfo:
    """The model that embedded the passages; questions must be embedded by the same one."""

    name: str
    dim: int
    fingerprint: str  # a hash of the model's files (embed.py)
    precision: str = "fp32"  # what the passages were embedded in: "fp32" | "bf16"

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> EmbedderInfo:
        where = "embedder"
        precision = _get(obj, "precision", str, where) if "precision" in obj else "fp32"
        return cls(
            _get(obj, "name", str, where),
            _get(obj, "dim", int, where),
            _get(obj, "fingerprint", str, where),
            precision,
        )


_TEXT_FIELDS = ("title", "title_source", "author", "url", "recurring")  # ArticleRecord's optional text


@dataclass(frozen=True)
class ArticleRecord:
    """One indexed article: its file (path relative to the corpus, sha256) and what was read from it."""

    path: str
    sha256: str
    chunks: int  # passages it yielded
    title: str = ""
    title_source: str = ""
    author: str = ""
    url: str = ""
    recurring: str = ""  # digest of the lines it shares with other articles (clean.py); "" for none

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "title": self.title,
            "title_source": self.title_source,
            "author": self.author,
            "url": self.url,
            "chunks": self.chunks,
        }
        return out | ({"recurring": self.recurring} if self.recurring else {})

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], article_id: str = "") -> ArticleRecord:
        # A record as write() makes it, checked in one pass: a million-passage manifest holds 105,000
        # of them, and the field by field checks below took a second of the app's start.
        if type(obj) is dict and type(obj.get("path")) is str and type(obj.get("sha256")) is str:
            chunks = obj.get("chunks")
            text = {k: obj[k] for k in _TEXT_FIELDS if k in obj}
            if type(chunks) is int and all(type(v) is str for v in text.values()):
                return cls(obj["path"], obj["sha256"], chunks, **text)
        where = f"articles[{article_id!r}]"
        text = {k: _get(obj, k, str, where) for k in _TEXT_FIELDS if k in obj}
        return cls(
            _get(obj, "path", str, where),
            _get(obj, "sha256", str, where),
            _get(obj, "chunks", int, where),
            **text,
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Articles(Mapping[str, ArticleRecord]):
    """The manifest's articles (id -> record, in corpus order), each parsed from its JSON record when it
    is first looked up. A million-passage manifest lists 105,000 articles: parsing and checking them all
    took 0.7-1.2 s of the app's start, before the first answer, which needs none of them. A record that
    is not as write() makes it raises ManifestError when it is read. `paths()` gives what the start's
    check needs (each article's path and sha256) without making a record of each."""

    def __init__(self, records: Mapping[str, Any]) -> None:
        self._records = records  # article id -> ArticleRecord, or its JSON record until it is read
        self._parsed: dict[str, ArticleRecord] = {}
        self.damaged = (
            ""  # read(): "<path> is damaged ({}) - <hint>", so a bad record says where and what to do
        )

    def __getitem__(self, article_id: str) -> ArticleRecord:
        record = self._parsed.get(article_id)
        if record is None:
            raw = self._records[article_id]
            try:
                record = raw if isinstance(raw, ArticleRecord) else ArticleRecord.from_json(raw, article_id)
            except ManifestError as exc:
                if self.damaged:
                    raise IndexLoadError(self.damaged.format(exc)) from None
                raise
            self._parsed[article_id] = record
        return record

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def paths(self) -> dict[str, str]:
        """Each article's corpus-relative path -> sha256; ManifestError if a record lacks them."""
        out = {}
        for article_id, raw in self._records.items():
            if isinstance(raw, ArticleRecord):
                out[raw.path] = raw.sha256
            elif (
                type(raw) is dict
                and type(path := raw.get("path")) is str
                and type(sha := raw.get("sha256")) is str
            ):
                out[path] = sha
            else:
                record = self[article_id]  # raises naming the field
                out[record.path] = record.sha256
        return out


@dataclass(frozen=True)
class Manifest:
    """What an index folder holds and how it was built (see the module docstring)."""

    embedder: EmbedderInfo
    chunking: ChunkParams
    articles: Mapping[str, ArticleRecord]  # article id -> record, in corpus order
    chunk_count: int  # passages in the index (counts.chunks)
    index_type: str = "flat-ip"
    hnsw: Mapping[str, Any] | None = None  # the graph's parameters (ann.HNSW), for "hnsw-ip"
    keyword: Mapping[str, Any] = field(default_factory=dict)  # keyword.KEYWORD_MANIFEST
    pipeline: int = 0  # plan.PIPELINE_VERSION: the cleaning and chunking code's version
    created: str = field(default_factory=_now)
    versions: Mapping[str, str] = field(default_factory=dict)  # library versions
    bench: Mapping[str, Any] | None = None  # how the bench generated the index, for its indexes only
    # {"count": sentences, "encoding": "int8" | "fp16"} when the sentences are stored; None: split and
    # embedded per question (indexes built before they were stored)
    sentences: Mapping[str, Any] | None = None
    # formats 4, 6 and 8: [{"prefix", "rows", "sentences"}] of the base and each appended segment, in physical
    # row order; None for formats 3, 5 and 7 (one segment, the base, whose rows are the passages in order)
    segments: tuple[Mapping[str, Any], ...] | None = None
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> storage.record()
    format: int = BASE_FORMAT

    @property
    def article_count(self) -> int:
        return len(self.articles)

    def with_files(self, files: Mapping[str, Mapping[str, Any]]) -> Manifest:
        """The manifest to write beside these files (their storage.record()s): format 8 with segments,
        else 7."""
        return replace(self, files=dict(files), format=FORMAT_VERSION if self.segments else BASE_FORMAT)

    @property
    def legacy(self) -> bool:
        """Format 3 to 6: read and served; the next build rewrites it in BASE_FORMAT."""
        return self.format in LEGACY_FORMATS

    @property
    def chunks_file(self) -> str:
        """The name of the passages file in this index's format."""
        return LEGACY_CHUNKS if self.format in JSONL_FORMATS else CHUNKS

    def to_json(self) -> dict[str, Any]:
        """The manifest.json object; key order as every earlier index has it."""
        out: dict[str, Any] = {
            "created": self.created,
            "pipeline": self.pipeline,
            "embedder": self.embedder.to_json(),
            "chunking": self.chunking.to_json(),
            "index_type": self.index_type,
        }
        if self.hnsw is not None:
            out["hnsw"] = dict(self.hnsw)
        out["keyword"] = dict(self.keyword)
        out["articles"] = {aid: record.to_json() for aid, record in self.articles.items()}
        out["counts"] = {"articles": self.article_count, "chunks": self.chunk_count}
        out["versions"] = dict(self.versions)
        if self.bench is not None:
            out["bench"] = dict(self.bench)
        if self.sentences is not None:
            out["sentences"] = dict(self.sentences)
        if self.segments is not None:
            out["segments"] = [dict(s) for s in self.segments]
        return out | {"format": self.format, "files": {name: dict(r) for name, r in self.files.items()}}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Manifest:
        """The manifest of a parsed manifest.json; ManifestError naming the first field that is wrong."""
        if not isinstance(obj, Mapping):
            raise ManifestError("it is not a JSON object")
        counts = _get(obj, "counts", Mapping)
        chunking = _get(obj, "chunking", Mapping)
        try:
            params = ChunkParams(**chunking)
        except TypeError:
            raise ManifestError(f"chunking has unknown fields ({', '.join(sorted(chunking))})") from None
        articles = _get(obj, "articles", Mapping)
        optional = {
            name: _get(obj, name, kind)
            for name, kind in (("created", str), ("pipeline", int), ("index_type", str), ("keyword", Mapping))
            if name in obj
        }
        optional |= {
            name: _get(obj, name, Mapping)
            for name in ("hnsw", "versions", "bench", "sentences")
            if name in obj
        }
        if "segments" in obj:
            segments = obj["segments"]
            if not isinstance(segments, list) or not segments:
                raise ManifestError(f"segments is {segments!r}, not a list of segments")
            optional["segments"] = tuple(
                {
                    "prefix": _get(seg, "prefix", str, f"segments[{i}]"),
                    "rows": _get(seg, "rows", int, f"segments[{i}]"),
                    "sentences": _get(seg, "sentences", int, f"segments[{i}]"),
                }
                for i, seg in enumerate(segments)
            )
        optional.setdefault("created", "")  # not "now": a manifest without a date has none
        manifest = cls(
            embedder=EmbedderInfo.from_json(_get(obj, "embedder", Mapping)),
            chunking=params,
            articles=Articles({str(aid): rec for aid, rec in articles.items()}),
            chunk_count=_get(counts, "chunks", int, "counts"),
            files=_get(obj, "files", Mapping),
            format=_get(obj, "format", int),
            **optional,
        )
        if "articles" in counts and _get(counts, "articles", int, "counts") != manifest.article_count:
            raise ManifestError(
                f"counts.articles is {counts['articles']} but {manifest.article_count} articles are listed"
            )
        return manifest

    def validate(self) -> None:
        """ManifestError when the fields cannot describe an index this rag reads."""
        if self.format not in (*LEGACY_FORMATS, BASE_FORMAT, FORMAT_VERSION):
            raise ManifestError(f"format is {self.format}, this rag reads format {FORMAT_VERSION}")
        if (self.format in SEGMENTED_FORMATS) != (self.segments is not None):
            raise ManifestError(f"format is {self.format} but segments is {self.segments!r}")
        if self.segments is not None:
            if self.sentences is None:
                raise ManifestError("segments without stored sentences")
            prefixes = [s["prefix"] for s in self.segments]
            if (
                prefixes[0] != ""
                or len(set(prefixes)) != len(prefixes)
                or any(
                    not p.startswith(SEGMENT_PREFIX) or not p.endswith(".") or "/" in p for p in prefixes[1:]
                )
            ):
                raise ManifestError(f"segments has the prefixes {prefixes}")
            if any(s["rows"] < 0 or s["sentences"] < 0 for s in self.segments):
                raise ManifestError("segments has a negative count")
        if self.embedder.dim <= 0:
            raise ManifestError(f"embedder.dim is {self.embedder.dim}, not a positive number")
        if self.chunk_count < 0:
            raise ManifestError(f"counts.chunks is {self.chunk_count}")
        if self.index_type not in INDEX_TYPES:
            raise ManifestError(f"index_type is {self.index_type!r}, not one of {', '.join(INDEX_TYPES)}")
        for name, record in self.files.items():
            if not isinstance(record, Mapping):
                raise ManifestError(f"files[{name!r}] is not an object")
        if self.sentences is not None:
            count = _get(self.sentences, "count", int, "sentences")
            encoding = _get(self.sentences, "encoding", str, "sentences")
            if count < 0 or encoding not in SENTENCE_ENCODINGS:
                raise ManifestError(f"sentences is {dict(self.sentences)!r}")

    @property
    def sentence_files(self) -> list[str]:
        """The stored-sentence files this index has (none for an index without stored sentences)."""
        if self.sentences is None:
            return []
        int8 = self.sentences.get("encoding") == "int8"
        return [name for name in SENTENCE_FILES if int8 or name != SENTENCE_SCALES]

    @property
    def physical_rows(self) -> int:
        """Rows stored in the segments' files: the passages, plus dead rows with segments."""
        return sum(s["rows"] for s in self.segments) if self.segments else self.chunk_count

    def segment_files(self, prefix: str) -> list[str]:
        """The names of one segment's files (formats 4, 6 and 8; prefix "" is the base)."""
        return [prefix + name for name in (VECTORS, self.chunks_file, OFFSETS, *self.sentence_files)]

    def dumps(self) -> bytes:
        """The bytes of manifest.json: json.dumps(indent=2, ensure_ascii=False)'s, byte for byte, made by
        orjson (json's indenting encoder is pure Python: 0.1 s at 3,500 articles, seconds at 100,000)."""
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2)


def write(folder: Path, manifest: Manifest) -> None:
    """Write folder/manifest.json, synced (the index folder writes it last)."""
    storage.write_synced(folder / NAME, manifest.dumps())


def read(index_dir: Path, *, root: Path | None = None) -> Manifest:
    """The manifest of index_dir, parsed and checked; IndexLoadError naming the problem and the fix.

    `root` is where to read it from when that is not index_dir itself (a held folder, index_folder._held);
    messages name index_dir.
    """
    path = index_dir / NAME
    hint = build_hint(index_dir)
    damaged = f"{path} is damaged - {hint} to rebuild the index"
    try:
        data = ((root or index_dir) / NAME).read_bytes()
    except FileNotFoundError:
        raise IndexLoadError(f"{index_dir}/ has no {NAME}, so it is not a complete index - {hint}") from None
    except (OSError, ValueError):
        raise IndexLoadError(damaged) from None
    try:
        obj = orjson.loads(data)  # 2-3x json's speed: 32 MB at a million passages, read at every start
        version = int(obj["format"])
    except (ValueError, KeyError, TypeError):
        raise IndexLoadError(damaged) from None
    if version > FORMAT_VERSION:
        raise IndexLoadError(
            f"{index_dir}/ has index format {version}, this rag reads format {FORMAT_VERSION} - upgrade rag,"
            f" or {hint} to rebuild it in format {FORMAT_VERSION}"
        )
    if version < min(LEGACY_FORMATS):
        raise IndexLoadError(f"{index_dir}/ has the old index format {version} - {hint} to rebuild it")
    try:
        manifest = Manifest.from_json(obj)
        manifest.validate()
    except ManifestError as exc:
        raise IndexLoadError(f"{path} is damaged ({exc}) - {hint} to rebuild the index") from None
    if isinstance(manifest.articles, Articles):
        manifest.articles.damaged = f"{path} is damaged ({{}}) - {hint} to rebuild the index"
    return manifest


def older_format_fingerprint(index_dir: Path, version: int) -> str | None:
    """The embedder fingerprint in index_dir's manifest if it is of the older format `version`, else None
    (a build reuses such an index's vectors instead of re-embedding them)."""
    try:
        obj = json.loads((index_dir / NAME).read_text(encoding="utf-8"))
        if obj.get("format") != version:
            return None
        return str(obj["embedder"]["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
