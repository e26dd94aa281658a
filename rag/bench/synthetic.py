"""Indexes and corpora the bench makes: real SciFact passages plus generated ones, at any size.

`scale_index` makes (and caches under the bench cache folder) the 100k/1M indexes: the 5,183 real
SciFact documents with their model vectors, then generated passages (random unit vectors, words drawn
from SciFact's vocabulary), written with index_folder.write_index (and a manifest.Manifest) so the app serves them as they are.
`write_generated_corpus` and `RandomEmbedder` make the article files and stand-in vectors of the
scale-rebuild part, which runs the real build() without the model. Nothing here measures anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ChunkParams
from ..index.embed import Embedder
from ..index.manifest import ArticleRecord, EmbedderInfo, Manifest
from .report import Say, quiet

GENERATOR_VERSION = 2  # 2: stored sentences (spans and random unit vectors); bump when write_scale_index writes different passages or vectors
PER_ARTICLE = 10  # generated passages per generated article (a long article's worth)
WORDS = (40, 160)  # generated passage length in words, uniform; the chunker's limit is 160


@dataclass(frozen=True)
class RealPassages:
    """Real documents with their model vectors: row i of `vectors` embeds texts[i]."""

    doc_ids: list[str]
    titles: list[str]
    texts: list[str]  # whitespace-normalised; the passage text and what was embedded
    vectors: np.ndarray
    source: str


def scifact_passages(beir: Any, embedder: Any, cache_dir: Path, say: Say = quiet) -> RealPassages:
    """SciFact's documents ("title text", as BEIR embeds them) and their vectors, embedded once and cached."""
    texts = [" ".join(f"{title} {text}".split()) for _, title, text in beir.docs]
    name = f"vectors-{beir.name}-{beir.fingerprint[:12]}-{embedder.fingerprint[:12]}-{embedder.precision}.npy"
    path = cache_dir / name
    try:
        vectors = np.load(path)
        if vectors.shape != (len(texts), embedder.dim):
            raise ValueError(f"shape {vectors.shape}")
    except (OSError, ValueError):
        say(f"embedding {len(texts):,} SciFact documents once ({embedder.precision}); cached in {path}")
        vectors = embedder.embed(texts, progress=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
    ids, titles = [d[0] for d in beir.docs], [d[1] for d in beir.docs]
    return RealPassages(
        ids, titles, texts, vectors, f"BEIR {beir.name} corpus.jsonl ({beir.fingerprint[:12]})"
    )


def generated_texts(real_texts: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """n passages of 40-160 words drawn independently from the real texts' word frequencies."""
    counts = Counter(w for t in real_texts for w in t.split())
    vocab = np.array(list(counts), dtype=object)
    p = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    p /= p.sum()
    lengths = rng.integers(WORDS[0], WORDS[1] + 1, n)
    out: list[str] = []
    for start in range(0, n, 50_000):
        part = lengths[start : start + 50_000]
        words = vocab[rng.choice(len(vocab), int(part.sum()), p=p)]
        ends = np.cumsum(part)
        out.extend(" ".join(words[e - k : e]) for k, e in zip(part.tolist(), ends.tolist(), strict=True))
    return out


def random_unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), dim), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def write_scale_index(
    root: Path,
    n: int,
    real: RealPassages,
    embedder_meta: EmbedderInfo,
    *,
    seed: int = 0,
    index_type: str = "auto",
    say: Say = quiet,
) -> dict[str, Any]:
    """corpus/ and index/ under root with n passages: the real ones first, then generated ones.

    Real documents are one article and one passage each; generated passages come ten to an article.
    Every article is a file whose bytes the manifest records, so the index is up to date with its corpus
    (the app serves it without rebuilding) and every citation slices its file. Returns the description.
    """
    from ..index.ann import HNSW, choose_index_type
    from ..index.index_folder import write_index
    from ..index.keyword import KEYWORD_MANIFEST, KeywordIndex
    from ..index.plan import PIPELINE_VERSION
    from ..index.sentence_store import split_passage

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_real = min(n, len(real.texts))
    corpus_dir, index_dir = root / "corpus", root / "index"
    shutil.rmtree(root, ignore_errors=True)
    say(f"{n:,} passages: generating {n - n_real:,} passages of text")
    texts = real.texts[:n_real] + generated_texts(real.texts, n - n_real, rng)
    say(f"{n:,} passages: writing the article files to {corpus_dir}")
    articles, chunks = _write_articles(corpus_dir, texts, real.titles[:n_real])
    say(f"{n:,} passages: keyword index ({time.perf_counter() - started:.0f} s so far)")
    keyword = KeywordIndex.build(texts)
    vectors = np.concatenate(
        [real.vectors[:n_real], random_unit_vectors(n - n_real, real.vectors.shape[1], rng)]
    )
    say(f"{n:,} passages: splitting sentences ({time.perf_counter() - started:.0f} s so far)")
    spans = [np.asarray(split_passage(t), dtype=np.int32).reshape(-1, 3) for t in texts]
    sentences = _random_sentences(spans, vectors.shape[1], rng)
    del spans
    chosen = choose_index_type(n, index_type)
    description = {
        "passages": n,
        "real_passages": n_real,
        "generated_passages": n - n_real,
        "articles": len(articles),
        "real": f"{real.source}: each document one article and one passage, with its model vector",
        "sentences": "spans split as a build does; every sentence's vector a random unit vector (the"
        " figures are speed, which does not depend on the values; embedding every sentence would take hours)",
        "generated": f"random unit vectors; text of {WORDS[0]}-{WORDS[1]} words drawn from the real passages'"
        f" word frequencies; {PER_ARTICLE} passages per article",
        "index_type": chosen,
        "seed": seed,
        "generator": GENERATOR_VERSION,
    }
    manifest = Manifest(
        embedder=embedder_meta,
        chunking=ChunkParams(max_words=0, overlap_sentences=0, prefix="none"),  # not chunked by rag
        articles=articles,
        chunk_count=n,
        index_type=chosen,
        hnsw=HNSW if chosen == "hnsw-ip" else None,
        keyword=KEYWORD_MANIFEST,
        pipeline=PIPELINE_VERSION,
        versions={"python": platform.python_version(), "numpy": np.__version__},
        bench=description,
    )
    say(f"{n:,} passages: writing the {chosen} index ({time.perf_counter() - started:.0f} s so far)")
    write_index(index_dir, vectors, chunks, keyword, manifest, sentences=sentences)
    description["seconds_to_make"] = round(time.perf_counter() - started, 1)
    say(f"{n:,} passages: made in {description['seconds_to_make']:.0f} s")
    return description


def _random_sentences(spans: list[np.ndarray], dim: int, rng: np.random.Generator) -> Any:
    """StoredSentences of these spans with random unit vectors, encoded 100,000 rows at a time: the
    5.3 million sentences of 1M passages took 8 GB as float32 and three times that while encoded."""
    from ..index.sentence_store import ENCODING, StoredSentences, encode

    total = sum(map(len, spans))
    rows: np.ndarray | None = None
    scales: np.ndarray | None = np.empty(total, np.float32) if ENCODING == "int8" else None
    for start in range(0, total, 100_000):  # the same draws as random_unit_vectors(total, dim, rng)
        block, block_scales = encode(random_unit_vectors(min(100_000, total - start), dim, rng), ENCODING)
        if rows is None:
            rows = np.empty((total, block.shape[1]), block.dtype)
        rows[start : start + len(block)] = block
        if scales is not None and block_scales is not None:
            scales[start : start + len(block)] = block_scales
    offsets = np.cumsum([0, *map(len, spans)], dtype=np.int64)
    spans_all = np.concatenate(spans) if spans else np.zeros((0, 3), np.int32)
    rows = rows if rows is not None else encode(np.zeros((0, dim), np.float32), ENCODING)[0]
    return StoredSentences(offsets, spans_all.astype(np.int32).reshape(-1, 3), rows, scales, ENCODING)


def _write_articles(
    corpus_dir: Path, texts: list[str], real_titles: list[str]
) -> tuple[dict[str, ArticleRecord], list[Any]]:
    """Article files for the passages (real: one each; generated: PER_ARTICLE each); (manifest articles, chunks)."""
    from ..ingest.read import file_sha256
    from ..types import Chunk

    groups = [(f"scifact/{i // 1000:03d}/{i:07d}", [i], title) for i, title in enumerate(real_titles)]
    for a, start in enumerate(range(len(real_titles), len(texts), PER_ARTICLE)):
        rows = list(range(start, min(start + PER_ARTICLE, len(texts))))
        groups.append((f"generated/{a // 1000:04d}/{a:07d}", rows, f"Generated article {a}"))
    articles: dict[str, ArticleRecord] = {}
    chunks = []
    for article_id, rows, title in groups:
        path = f"{article_id}.txt"
        at = 0
        for j, row in enumerate(rows):
            text = texts[row]
            chunks.append(
                Chunk(f"{article_id}#{j}", article_id, path, title, "", at, at + len(text), text, text)
            )
            at += len(text) + 2
        data = ("\n\n".join(texts[row] for row in rows) + "\n").encode("utf-8")
        (corpus_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (corpus_dir / path).write_bytes(data)
        articles[article_id] = ArticleRecord(
            path, file_sha256(data), len(rows), title=title, title_source="front_matter"
        )
    return articles, chunks


def scale_key(n: int, real: RealPassages, embedder_meta: EmbedderInfo) -> str:
    """What a cached scale index depends on: passages, model, generator, index format and graph shape."""
    from ..index.ann import HNSW, choose_index_type
    from ..index.keyword_store import FORMAT_VERSION as KEYWORD_FORMAT
    from ..index.manifest import BASE_FORMAT

    index_type = choose_index_type(n)
    fields = {
        "n": n,
        "real": real.source,
        "vectors": hashlib.sha256(real.vectors.tobytes()).hexdigest()[:16],
        "embedder": embedder_meta.fingerprint,
        "generator": GENERATOR_VERSION,
        "format": BASE_FORMAT,  # the format of a full write, which makes the cached index
        "keyword": KEYWORD_FORMAT,  # a keyword folder of an older format would be searched as converted
        "index_type": index_type,
        # what shapes the graph; search-time settings (efSearch, refine) apply when it is loaded
        "hnsw": {k: HNSW.get(k) for k in ("M", "efConstruction", "storage")}
        if index_type == "hnsw-ip"
        else None,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def scale_index(
    n: int, real: RealPassages, embedder_meta: EmbedderInfo, cache_dir: Path, say: Say = quiet
) -> tuple[Path, Path, dict[str, Any]]:
    """(corpus_dir, index_dir, description) of the n-passage bench index, made unless cached."""
    from ..index.ann import choose_index_type

    root = cache_dir / f"scale-{n}-{scale_key(n, real, embedder_meta)}"
    stamp = root / "bench.json"
    try:
        description = json.loads(stamp.read_text(encoding="utf-8"))
        if description.get("index_type") != choose_index_type(n):  # a folder renamed by hand
            raise ValueError(f"{root} holds a {description.get('index_type')} index")
        say(f"{n:,} passages: reusing {root}")
    except (OSError, ValueError):
        description = write_scale_index(root, n, real, embedder_meta, say=say)
        stamp.write_text(json.dumps(description, indent=2), encoding="utf-8")  # last: marks it complete
    return root / "corpus", root / "index", {**description, "folder": str(root)}


class RandomEmbedder(Embedder):
    """Each text's vector is a random unit vector seeded by the text: stable, fast, not a model.

    It stands in for the model where embedding a million passages would take hours (the scale-rebuild
    part); its name says so, and it is never used for questions.
    """

    name = "random-384"

    def __init__(self) -> None:
        self.embedded = 0

    @property
    def dim(self) -> int:
        return 384

    @property
    def fingerprint(self) -> str:
        return "random-384-v1"

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.embedded += len(texts)
        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def write_generated_corpus(corpus_dir: Path, n_articles: int, paragraphs: int, seed: int = 0) -> None:
    """n_articles files of `paragraphs` paragraphs, eight Zipf-drawn sentences each (about 1.1 passages)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30_000)]
    corpus_dir.mkdir(parents=True)
    for a in range(n_articles):
        paras = []
        for _ in range(paragraphs):
            sentences = [
                " ".join(words[j] for j in rng.zipf(1.2, 18) % len(words)).capitalize() + "."
                for _ in range(8)
            ]
            paras.append(" ".join(sentences))
        text = f"Article {a}\n\n" + "\n\n".join(paras) + "\n"
        (corpus_dir / f"a{a:05d}.txt").write_text(text, encoding="utf-8")
