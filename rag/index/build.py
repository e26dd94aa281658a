"""Build or refresh the index from the corpus, embedding only what changed.

Follows the plan (plan.py: the corpus compared with the previous index's manifest): an article whose
file (path and sha256) is unchanged keeps its passages and vectors as they are; others are read, cleaned
and chunked again, and each passage's vector is taken from the previous index when (model fingerprint, sha256 of the embedded
text) matches, so an edit re-embeds only the passages it touched and a renamed file re-embeds nothing.
Each passage's sentences are split and embedded here too (sentence_store.py), and reused the same way:
a passage whose text is unchanged keeps its stored sentence rows; an index without them gets them added.
A different model, chunking or pipeline version forces a full, announced rebuild.
It does not define the on-disk format (manifest.py, index_folder.py) or the embedding model (embed.py).
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..config import ChunkParams
from ..errors import CorpusError
from ..ingest.read import discover
from .ann import HNSW, choose_index_type
from .append import append, why_full
from .embed import Embedder
from .folder_swap import build_lock, refuse_foreign
from .index_folder import write_index
from .keyword import KEYWORD_MANIFEST, KeywordIndex, text_key
from .line_facts import read_known
from .manifest import BASE_FORMAT, EmbedderInfo, Manifest
from .onnx_embed import ensure_export, small_batch_embedder
from .plan import PIPELINE_VERSION, Changes, Plan, changes, load_previous
from .reuse import Embed, format2_vectors, gather_sentences, reusable_vectors

log = logging.getLogger(__name__)

QUICK_EMBED_MAX = 256  # up to this many new passages are embedded without loading torch


@dataclass(frozen=True)
class BuildReport:
    """What a build did (or, for a dry run, would do)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    full_rebuild: str = ""  # the reason, or "" for an incremental build
    passages: int = 0
    embedded: int = 0
    reused: int = 0
    sentences: int = 0  # sentences stored (0 for a dry run)
    sentences_embedded: int = 0
    sentence_seconds: float = 0.0  # of embed_seconds, those spent embedding sentences
    seconds: float = 0.0
    embed_seconds: float = 0.0
    dry_run: bool = False
    wrote: bool = False
    segment: int = 0  # passages written as a new segment (append.py); 0 for a full write
    merged: int = 0  # appended segments merged into the new one (append.MAX_SEGMENTS); 0: none
    carried: int = 0  # passages those merged segments held, copied into the new one
    full_write: str = ""  # why the whole index was written (nothing when a segment was appended)
    store: str = ""  # the PostgreSQL store written (pgbuild.py), shown without its password
    transactions: int = 0  # the store's write transactions

    @classmethod
    def of(cls, planned: Changes, *, dry_run: bool, store: str = "") -> BuildReport:
        """The report of a build that has planned (plan.changes) and written nothing yet."""
        plan = planned.plan
        return cls(
            added=planned.added,
            changed=tuple(plan.status["changed"]),
            removed=planned.removed,
            unchanged=tuple(plan.status["unchanged"]),
            renamed=planned.renamed,
            full_rebuild=planned.full,
            passages=plan.passages,
            reused=plan.passages,
            dry_run=dry_run,
            store=store,
        )

    @property
    def up_to_date(self) -> bool:
        return not (self.full_rebuild or self.added or self.changed or self.removed or self.renamed)

    def lines(self) -> list[str]:
        """The human-readable report `rag build` prints."""
        out = []
        if self.full_rebuild:
            out.append(f"full rebuild: {self.full_rebuild}")
        out.append(
            f"articles: {len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed,"
            f" {len(self.unchanged)} unchanged, {len(self.renamed)} renamed"
        )
        verb = "to embed" if self.dry_run else "embedded"
        out.append(f"passages: {self.passages} ({self.embedded} {verb}, {self.reused} reused)")
        if self.wrote:
            reused = self.sentences - self.sentences_embedded
            out.append(
                f"sentences: {self.sentences} ({self.sentences_embedded} embedded in"
                f" {self.sentence_seconds:.2f} s, {reused} reused)"
            )
        if self.dry_run:
            out.append("dry run: nothing was written")
        elif not self.wrote:
            out.append(f"index is up to date ({self.seconds:.2f} s)")
        else:
            passage_seconds = self.embed_seconds - self.sentence_seconds
            rate = f", {self.embedded / passage_seconds:.1f} passages/s" if passage_seconds > 0 else ""
            out.append(f"built in {self.seconds:.2f} s (embedding {self.embed_seconds:.2f} s{rate})")
            if self.store:
                out.append(f"wrote {self.store} in {self.transactions} transaction(s)")
            elif self.merged:
                out.append(
                    f"wrote a segment of {self.segment} passages merged with {self.merged} appended segments"
                    f" ({self.carried} passages); the base's files are linked"
                )
            elif self.segment or not self.full_write:
                out.append(f"wrote a segment of {self.segment} passages; the other files are linked")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "unchanged": list(self.unchanged),
            "renamed": [list(pair) for pair in self.renamed],
            "full_rebuild": self.full_rebuild,
            "passages": self.passages,
            "embedded": self.embedded,
            "reused": self.reused,
            "sentences": self.sentences,
            "sentences_embedded": self.sentences_embedded,
            "sentence_seconds": round(self.sentence_seconds, 3),
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "dry_run": self.dry_run,
            "wrote": self.wrote,
            "segment": self.segment,
            "merged": self.merged,
            "carried": self.carried,
            "full_write": self.full_write,
            "store": self.store,
            "transactions": self.transactions,
        }


def build(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    params: ChunkParams,
    *,
    dry_run: bool = False,
    progress: bool = False,
    on_progress: Callable[[float, str], None] | None = None,
    index_type: str = "auto",
    compact: bool = False,
) -> BuildReport:
    """Bring index_dir up to date with corpus_dir; the previous index keeps serving until the swap.

    `progress` shows a terminal progress bar; `on_progress(fraction, stage)` reports to a UI. A change
    to an index is written as a segment (append.py) unless a full write is due or `compact` asks for one.
    """
    report_progress = on_progress or (lambda fraction, stage: None)
    started = time.perf_counter()
    refuse_foreign(index_dir)  # a build replaces the folder whole: never one that is not an index
    with nullcontext() if dry_run else build_lock(index_dir):
        refuse_foreign(index_dir)  # again, now that no other build can change it
        files = discover(corpus_dir)
        if not files:
            raise CorpusError(f"{corpus_dir}/ has no .txt or .md articles - add some, then build")
        previous, problem = load_previous(index_dir)
        known = read_known(index_dir, previous.manifest) if previous is not None else None
        planned = changes(
            corpus_dir, files, previous, problem, embedder, params, dry_run=dry_run, known=known
        )
        plan, full = planned.plan, planned.full
        chosen_type = choose_index_type(plan.passages, index_type)
        old_type = previous.manifest.index_type if previous is not None else None
        if not full and previous is not None and old_type != chosen_type:
            full = f"index type changed ({old_type} -> {chosen_type}); vectors are reused, not re-embedded"
        if not full and previous is not None and previous.manifest.sentences is None:
            full = "the index has no stored sentences: adding them (passage vectors reused)"
        if not full and previous is not None and previous.manifest.legacy:
            full = (
                f"index format {previous.manifest.format} -> {BASE_FORMAT}: vectors stored as int8 and"
                " sentence vectors as int4 (re-encoded, not embedded)"
            )
        report = BuildReport.of(replace(planned, full=full), dry_run=dry_run)
        outdated = previous is not None and previous.keyword.outdated
        if previous and report.up_to_date and not (compact and previous.manifest.segments) and not outdated:
            if not dry_run:  # decided from file hashes: no passage or vector is read
                ensure_export(embedder)  # a no-op once the question model is exported
            return replace(report, seconds=time.perf_counter() - started)
        why = why_full(previous, full, compact)
        if not dry_run and previous is not None and not why:
            report_progress(0.05, "writing a segment")
            embed_passages, embed_sentences = embedders(embedder, progress, report_progress)
            dim = previous.manifest.embedder.dim
            new_manifest = _manifest(embedder, dim, params, plan, chosen_type, plan.passages)
            done = append(index_dir, previous, plan, new_manifest, embed_passages, embed_sentences)
            if not isinstance(done, str):
                report_progress(0.97, "exporting the question model")
                ensure_export(embedder)
                return replace(
                    report,
                    wrote=True,
                    embedded=done.embedded,
                    reused=plan.passages - done.embedded,
                    sentences=done.sentences,
                    sentences_embedded=done.sentences_embedded,
                    sentence_seconds=done.sentence_seconds,
                    embed_seconds=done.embed_seconds,
                    segment=done.segment_rows,
                    merged=done.merged,
                    carried=done.carried,
                    seconds=time.perf_counter() - started,
                )
            why = done

        chunks = plan.materialize(previous)
        same_model = previous is not None and previous.manifest.embedder.fingerprint == embedder.fingerprint
        # Vectors to reuse: an array and each text key's row in it (the previous index's, or a format-2
        # index's when upgrading, which does not re-embed).
        old_vectors = np.zeros((0, 0), np.float32)
        old_rows: dict[str, int] = {}
        if previous is not None and same_model:
            old_vectors, old_rows = reusable_vectors(previous)
        elif previous is None and not dry_run:
            old_vectors, old_rows = format2_vectors(index_dir, embedder.fingerprint)
            if old_rows:
                full = f"index format 2 -> {BASE_FORMAT}: rewritten, its vectors reused"
        keys = [text_key(c.embed_text) for c in chunks]  # the keyword index's row keys too
        source = np.array([old_rows.get(k, -1) for k in keys], dtype=np.int64)  # -1: embed it
        to_embed = {
            k: c.embed_text for k, c, row in zip(keys, chunks, source.tolist(), strict=True) if row < 0
        }
        new_passages = int((source < 0).sum())
        report = replace(report, full_rebuild=full, embedded=new_passages, reused=len(chunks) - new_passages)
        if dry_run:
            return replace(report, seconds=time.perf_counter() - started)

        report_progress(0.05, "loading the model" if to_embed else "writing")
        embed_passages, embed_sentences = embedders(embedder, progress, report_progress)
        fresh, embed_seconds = embed_passages(list(to_embed.values()))
        report_progress(0.95, "writing the index")
        dim = int(fresh.shape[1]) if len(fresh) else int(previous.vectors.d) if previous else embedder.dim
        reuse_sentences = previous if previous is not None and same_model else None
        sentences, sentences_embedded, sentence_seconds = gather_sentences(
            chunks, reuse_sentences, dim, embed_sentences
        )
        embed_seconds += sentence_seconds
        vectors = np.empty((len(keys), dim), np.float32)
        reused = source >= 0
        if reused.any():
            vectors[reused] = old_vectors[source[reused]]
        if to_embed:
            at = {k: i for i, k in enumerate(to_embed)}  # a text found twice is embedded once
            vectors[~reused] = fresh[[at[k] for k, row in zip(keys, source.tolist(), strict=True) if row < 0]]
        del old_vectors
        texts = [c.embed_text for c in chunks]
        keyword = KeywordIndex.build(
            texts, keys=keys, previous=previous.keyword if previous is not None else None
        )
        graph = previous if previous is not None and same_model and not full else None
        write_index(
            index_dir,
            vectors,
            chunks,
            keyword,
            _manifest(embedder, dim, params, plan, chosen_type, len(chunks)),
            previous=graph,
            previous_rows=source if graph else None,
            sentences=sentences,
            facts=plan.facts.dumps() if plan.facts is not None else None,
        )
        report_progress(0.97, "exporting the question model")
        ensure_export(embedder)
        return replace(
            report,
            wrote=True,
            full_write=why or "a full write",
            sentences=sentences.count,
            sentences_embedded=sentences_embedded,
            sentence_seconds=sentence_seconds,
            embed_seconds=embed_seconds,
            seconds=time.perf_counter() - started,
        )


def embedders(
    embedder: Embedder, progress: bool, report: Callable[[float, str], None]
) -> tuple[Embed, Embed]:
    """(embed passages, embed sentences) for a build. A few texts (an edited or added article) go through
    the ONNX export: it loads in well under a second, where importing torch and loading the model takes
    several. Nothing to embed loads no model."""

    def passages(texts: list[str]) -> tuple[np.ndarray, float]:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32), 0.0
        runner = (small_batch_embedder(embedder) if len(texts) <= QUICK_EMBED_MAX else None) or embedder
        started = time.perf_counter()
        runner.load()
        return _embed_in_slices(runner, texts, progress, report), time.perf_counter() - started

    def sentences(texts: list[str]) -> tuple[np.ndarray, float]:
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32), 0.0
        runner = (small_batch_embedder(embedder) if len(texts) <= QUICK_EMBED_MAX * 8 else None) or embedder
        started = time.perf_counter()
        runner.load()
        report(0.6, f"embedding {len(texts)} sentences")
        return runner.embed(texts, progress=progress and len(texts) >= 64), time.perf_counter() - started

    return passages, sentences


def _embed_in_slices(
    embedder: Embedder, texts: list[str], progress: bool, report: Callable[[float, str], None]
) -> np.ndarray:
    """Embed in slices so a UI can show progress (the terminal bar covers the whole run)."""
    if progress:
        return embedder.embed(texts, progress=progress and len(texts) >= 64)
    step = 256
    parts = []
    for start in range(0, len(texts), step):
        report(
            0.1 + 0.85 * start / len(texts),
            f"embedding passages {start + 1}-{min(start + step, len(texts))} of {len(texts)}",
        )
        parts.append(embedder.embed(texts[start : start + step]))
    return np.concatenate(parts)


def _manifest(
    embedder: Embedder, dim: int, params: ChunkParams, plan: Plan, index_type: str, n_chunks: int
) -> Manifest:
    return Manifest(
        embedder=EmbedderInfo(
            embedder.name, dim, embedder.fingerprint, getattr(embedder, "precision", "fp32")
        ),
        chunking=params,
        articles=plan.articles,
        chunk_count=n_chunks,
        index_type=index_type,
        hnsw=HNSW if index_type == "hnsw-ip" else None,
        keyword=KEYWORD_MANIFEST,
        pipeline=PIPELINE_VERSION,
        versions=_versions(),
    )


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "rag": __version__}
    for dist in (
        "faiss-cpu",
        "numpy",
        "sentence-transformers",
        "torch",
        "transformers",
        "sentencex",
        "bm25s",
        "onnxruntime",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out
