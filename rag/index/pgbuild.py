"""`rag build --store`: the corpus built into the PostgreSQL store, only what changed written.

`build_store` follows the folder build's plan (plan.py) against the store's own manifest facts (rag_meta,
rag_articles): an unchanged article is neither read from the store nor written; a changed or added
article's passages are written whole (pgwrite.Writer), their vectors, BM25 tokens and sentences taken from
the store's rows of the same text where there are some (keyed by text, as reuse.py does for the folder:
an edit re-embeds only the passages it touched, a renamed file nothing) and embedded otherwise; a removed
article is deleted. `batch` articles go in one transaction, the deletions in the last one, all under the
store's build lock (a second build refuses at once, naming the holder's server pid). A store of another
model, chunking, pipeline or format is rewritten in a single transaction (PostgreSQL's DDL is
transactional: a build killed meanwhile leaves the previous collection; readers wait on its locks
while it commits). A first build, into an empty store, writes batch by batch with the HNSW index built
once at the end; killed, it leaves whole articles, and the next build writes only the rest.
It does not read or chunk articles (plan.py), define the schema (pgstore.py) or serve (pgindex.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ChunkParams
from ..errors import CorpusError
from ..ingest.read import discover
from ..types import Chunk
from .build import BuildReport, embedders
from .embed import Embedder
from .keyword import text_key, tokenize
from .manifest import EmbedderInfo, Manifest
from .onnx_embed import ensure_export
from .pgindex import ARTICLES, manifest_of
from .pgstore import FORMAT_VERSION, PgStore, shown_dsn
from .pgwrite import ArticlePassages, Encoded
from .plan import PIPELINE_VERSION, Plan, changes
from .reuse import sentences_of
from .sentence_store import from_bytes, in_encoding
from .storage import as_served

Progress = Callable[[float, str], None]
_REUSABLE = (
    "SELECT p.embed_text, p.text, p.embedding, p.tokens, s.spans, s.vectors, s.scales FROM rag_passages p"
    " LEFT JOIN rag_sentences s ON s.passage = p.id"
)


@dataclass(frozen=True)
class _Previous:
    manifest: Manifest


@dataclass
class _Reusable:
    """What the store already holds, by text: vectors and tokens by embed_text, sentences by text."""

    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    sentences: dict[str, Encoded] = field(default_factory=dict)


def build_store(
    corpus_dir: Path,
    store: PgStore,
    embedder: Embedder,
    params: ChunkParams,
    *,
    dry_run: bool = False,
    progress: bool = False,
    on_progress: Progress | None = None,
    batch: int = 64,
) -> BuildReport:
    """Bring the store up to date with corpus_dir (see the module docstring); what was done."""
    report_progress = on_progress or (lambda fraction, stage: None)
    started = time.perf_counter()
    with nullcontext() if dry_run else store.build_lock():
        files = discover(corpus_dir)
        if not files:
            raise CorpusError(f"{corpus_dir}/ has no .txt or .md articles - add some, then build")
        previous, problem = stored_manifest(store)
        planned = changes(corpus_dir, files, previous, problem, embedder, params, dry_run=dry_run)
        plan, full, gone = planned.plan, planned.full, list(planned.gone)
        report = BuildReport.of(planned, dry_run=dry_run, store=f"the store at {shown_dsn(store.dsn)}")
        if previous is not None and report.up_to_date:
            if not dry_run:
                ensure_export(embedder)  # a no-op once the question model is exported
            return replace(report, seconds=time.perf_counter() - started)
        fresh = [
            (aid, part)
            for aid, part in zip(plan.articles, plan.parts, strict=True)
            if not isinstance(part, str)
        ]
        same_model = previous is not None and previous.manifest.embedder.fingerprint == embedder.fingerprint
        changed = {aid for aid, _ in fresh} | set(gone)
        reusable = _reusable(store, None if full else changed) if same_model else _Reusable()
        keys = [text_key(c.embed_text) for _, part in fresh for c in part]
        embedded = sum(k not in reusable.vectors for k in keys)
        report = replace(report, embedded=embedded, reused=plan.passages - embedded)
        if dry_run:
            return replace(report, seconds=time.perf_counter() - started)

        report_progress(0.05, "loading the model" if embedded else "writing")
        embed_passages, embed_sentences = embedders(embedder, progress, report_progress)
        items, counts = _items(plan, fresh, keys, reusable, embed_passages, embed_sentences, embedder)
        report_progress(0.9, "writing the store")
        info = EmbedderInfo(
            embedder.name, counts.dim, embedder.fingerprint, getattr(embedder, "precision", "fp32")
        )
        facts: dict[str, Any] = {
            "embedder": info.to_json(),
            "chunking": params.to_json(),
            "pipeline": PIPELINE_VERSION,
        }
        if previous is None and not problem.startswith("the store is format"):
            store.create(**facts)  # a first build: whole articles batch by batch, the HNSW index at the end
            with store.bulk_load():
                transactions = _write(store, items, gone, batch, report_progress)
        elif full:
            transactions = _rewrite(store, items, facts, report_progress)
        else:
            store.create(**facts)  # the same facts; puts back an HNSW index a killed first build left out
            transactions = _write(store, items, gone, batch, report_progress)
        ensure_export(embedder)
        return replace(
            report,
            wrote=True,
            sentences=_stored_sentences(store),
            sentences_embedded=counts.sentences_embedded,
            sentence_seconds=counts.sentence_seconds,
            embed_seconds=counts.embed_seconds,
            transactions=transactions,
            seconds=time.perf_counter() - started,
        )


def stored_manifest(store: PgStore) -> tuple[_Previous | None, str]:
    """The store's manifest facts (as the build plans against them, and `rag info` shows them), or None
    and why there are none."""
    meta = store.meta()
    if "embedder" not in meta:
        return None, f"the store at {shown_dsn(store.dsn)} is empty"
    if meta.get("format") != FORMAT_VERSION:
        return None, f"the store is format {meta.get('format')}; this rag writes format {FORMAT_VERSION}"
    articles = store.connection.execute(ARTICLES).fetchall()
    return _Previous(manifest_of(meta, articles, sum(int(n) for *_, n in articles), None)), ""


def _stored_sentences(store: PgStore) -> int:
    """The sentences the store holds now (each passage's spans are 3 int32 a sentence), as the folder
    build reports the sentences its index holds."""
    found = store.connection.execute("SELECT coalesce(sum(octet_length(spans)), 0) FROM rag_sentences")
    return int(found.fetchone()[0]) // 12


def _reusable(store: PgStore, article_ids: set[str] | None) -> _Reusable:
    """The store's passages of these articles (None: all) by text, for the passages about to be written."""
    store.ready()
    dim = store.dim()
    where, args = (
        ("", ()) if article_ids is None else (" WHERE p.article_id = ANY(%s)", (sorted(article_ids),))
    )
    out = _Reusable()
    for embed_text, text, vector, tokens, spans, rows, scales in store.connection.execute(
        _REUSABLE + where, args
    ).fetchall():
        key = text_key(embed_text)
        out.vectors[key] = vector.to_numpy().astype(np.float32)
        out.tokens[key] = list(tokens)
        if spans is not None:
            # int8 rows of a store written before index format 7 are re-encoded as int4
            out.sentences[text_key(text)] = in_encoding(from_bytes(spans, rows, scales, dim), dim)
    return out


@dataclass(frozen=True)
class _Counts:
    dim: int
    sentences_embedded: int
    sentence_seconds: float
    embed_seconds: float


def _items(
    plan: Plan,
    fresh: list[tuple[str, list[Chunk]]],
    keys: list[str],
    reusable: _Reusable,
    embed_passages: Callable[[list[str]], tuple[np.ndarray, float]],
    embed_sentences: Callable[[list[str]], tuple[np.ndarray, float]],
    embedder: Embedder,
) -> tuple[list[ArticlePassages], _Counts]:
    """Each fresh article's passages with vectors, tokens and sentences: the store's where it has the same
    text, the rest embedded (a text found twice is embedded once) and tokenised."""
    every = [c for _, part in fresh for c in part]
    to_embed = {k: c.embed_text for k, c in zip(keys, every, strict=True) if k not in reusable.vectors}
    new, seconds = embed_passages(list(to_embed.values()))
    # the vectors the folder index serves (int8 on disk, renormalised when read): both stores rank alike
    new = as_served(new)
    dim = int(new.shape[1]) if len(new) else len(next(iter(reusable.vectors.values()), [])) or embedder.dim
    at = {k: i for i, k in enumerate(to_embed)}
    vectors = np.array(
        [reusable.vectors[k] if k in reusable.vectors else new[at[k]] for k in keys], np.float32
    ).reshape(-1, dim)
    missing = [c.embed_text for k, c in zip(keys, every, strict=True) if k not in reusable.tokens]
    made = iter(tokenize(missing)) if missing else iter(())
    tokens = [reusable.tokens[k] if k in reusable.tokens else next(made) for k in keys]
    stored, sentences_embedded, sentence_seconds = sentences_of(
        every, lambda c: reusable.sentences.get(text_key(c.text)), dim, embed_sentences
    )
    offsets = stored.offsets.tolist()
    items, at_row = [], 0
    for aid, part in fresh:
        rows = range(at_row, at_row + len(part))
        sentences = [
            (
                stored.spans[offsets[r] : offsets[r + 1]],
                stored.vectors[offsets[r] : offsets[r + 1]],
                None if stored.scales is None else stored.scales[offsets[r] : offsets[r + 1]],
            )
            for r in rows
        ]
        items.append(
            ArticlePassages(
                aid, plan.articles[aid].to_json(), part, vectors[rows.start : rows.stop],
                tokens[rows.start : rows.stop], sentences,
            )
        )  # fmt: skip
        at_row = rows.stop
    counts = _Counts(dim, sentences_embedded, sentence_seconds, seconds + sentence_seconds)
    return items, counts


def _write(
    store: PgStore, items: Sequence[ArticlePassages], gone: Sequence[str], batch: int, report: Progress
) -> int:
    """`batch` articles a transaction, the removed articles deleted in the last one; the transactions."""
    groups = [items[i : i + batch] for i in range(0, len(items), batch)] or [[]]
    transactions, done = 0, 0
    for n, group in enumerate(groups):
        last = n == len(groups) - 1
        if not group and not (last and gone):
            continue
        with store.transaction() as tx:
            for item in group:
                tx.replace_article(item)
                done += 1
                report(0.9 + 0.07 * done / max(len(items), 1), f"writing {item.article_id}")
            for aid in gone if last else ():
                tx.delete_article(aid)
        transactions += 1
    return transactions


def _rewrite(
    store: PgStore, items: Sequence[ArticlePassages], facts: dict[str, Any], report: Progress
) -> int:
    """The whole store replaced in one transaction (another model, chunking, pipeline or format)."""
    from psycopg.types.json import Jsonb

    conn = store.connection
    with conn.transaction():
        generation = store.generation() if "generation" in store.meta() else 0
        store.reset()
        store.create(**facts)
        conn.execute("UPDATE rag_meta SET value = %s WHERE key = 'generation'", (Jsonb(generation),))
        with store.bulk_load():
            _write(store, items, (), max(len(items), 1), report)
    return 1
