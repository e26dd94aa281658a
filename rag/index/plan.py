"""What a build has to do: the corpus compared with the previous index, article by article.

`plan_build` surveys the corpus (line_facts.py: each file's sha256 and line keys, read only where its stat
differs from what the previous index kept): an article whose path, sha256 and recurring-line digest match
the previous manifest is *unchanged* (its passages are taken from the previous index, read only if the build
goes on to write); any other is read, cleaned and chunked again (*changed* or *added*). `renames` pairs an
added article with a removed one of the same bytes; `full_rebuild_reason` says why nothing can be reused
(another model, chunking or pipeline version, or no usable previous index). It does not embed or write
(build.py) and does not clean or chunk itself (read.py, chunk.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..config import ChunkParams
from ..errors import CorpusError, IndexLoadError
from ..ingest.chunk import chunk_article
from ..ingest.read import article_sha256, read_article
from ..ingest.titles import folder_titles, with_title
from ..types import Chunk
from .embed import Embedder
from .index_folder import LoadedIndex, load_index
from .line_facts import Known, Survey, survey
from .manifest import ArticleRecord, Manifest

log = logging.getLogger(__name__)

# Bump when cleaning or chunking changes what passages an unchanged file yields.
# 2: passages are capped in characters too (chunk.CHARS_PER_WORD), so over-long tokens are cut.
PIPELINE_VERSION = 2


class Previous(Protocol):
    """What a plan reads of the previous build: its manifest (a folder index, or the PostgreSQL store's facts)."""

    @property
    def manifest(self) -> Manifest: ...


@dataclass
class Plan:
    """Per article, in corpus order: its fresh chunks, or (unchanged) the article id to take them from
    the previous index, which is read only if the build goes on to write."""

    parts: list[list[Chunk] | str] = field(default_factory=list)
    articles: dict[str, ArticleRecord] = field(default_factory=dict)
    status: dict[str, list[str]] = field(
        default_factory=lambda: {"added": [], "changed": [], "unchanged": []}
    )
    facts: Survey | None = None  # what each file was found to be: the index keeps it (line_facts.py)

    @property
    def passages(self) -> int:
        return sum(len(p) if isinstance(p, list) else self.articles[p].chunks for p in self.parts)

    def materialize(self, previous: LoadedIndex | None) -> list[Chunk]:
        """All chunks in order, the unchanged articles' read from the previous index in one pass."""
        kept = {p for p in self.parts if isinstance(p, str)}
        by_article: dict[str, list[Chunk]] = {aid: [] for aid in kept}
        for chunk in previous.chunks if previous is not None and kept else ():
            if chunk.article_id in by_article:
                by_article[chunk.article_id].append(chunk)
        return [c for p in self.parts for c in (p if isinstance(p, list) else by_article[p])]


def load_previous(index_dir: Path) -> tuple[LoadedIndex | None, str]:
    try:
        # the graph mapped: a build that grows it reads it then (index_folder.growable_graph)
        return load_index(index_dir), ""
    except IndexLoadError as exc:
        if not index_dir.exists():
            return None, "no index yet"
        log.warning("previous index is unusable: %s", exc)
        return None, f"the previous index is unusable ({exc})"


def full_rebuild_reason(
    previous: Previous | None, problem: str, embedder: Embedder, params: ChunkParams
) -> str:
    if previous is None:
        return problem
    m = previous.manifest
    if m.embedder.fingerprint != embedder.fingerprint:
        old = m.embedder.name
        return f"model changed ({old} -> {embedder.name})" if old != embedder.name else "model files changed"
    if m.chunking != params:
        return f"chunking changed ({_diff(m.chunking.to_json(), params.to_json())})"
    if m.pipeline != PIPELINE_VERSION:
        return f"cleaning/chunking code changed (pipeline {m.pipeline} -> {PIPELINE_VERSION})"
    return ""


def _diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    return ", ".join(f"{k} {old.get(k)} -> {new[k]}" for k in new if old.get(k) != new[k])


def plan_build(
    corpus_dir: Path,
    files: list[Path],
    previous: Previous | None,
    params: ChunkParams,
    *,
    incremental: bool,
    dry_run: bool = False,
    known: Known | None = None,
) -> Plan:
    """The plan of a build; `known`: what the previous index kept of each file (line_facts.read_known),
    so that files whose stat is unchanged are not read."""
    plan = Plan()
    prev_articles = previous.manifest.articles if previous else {}
    by_path = {record.path: aid for aid, record in prev_articles.items()}
    # each file's hash and line keys, read only where its stat differs from what the index kept, and the
    # furniture that recurs across articles (clean.py)
    found = plan.facts = survey(corpus_dir, files, known)
    titles: dict[Path, dict[str, str]] = {}  # folder -> the titles set in the Library
    for i, path in enumerate(files):
        rel = found.rels[i]
        data = None
        raw = found.sha256(i)
        if raw is None:  # not readable as an article: read_article says why
            data = _read(corpus_dir, path, rel)
            sha = article_sha256(path, data)
        else:
            folder = path.parent
            if folder not in titles:
                titles[folder] = folder_titles(folder)
            sha = with_title(raw, titles[folder].get(path.name, ""))
        old_id = by_path.get(rel)
        old = prev_articles.get(old_id or "")
        # a digest of the lines it shares with other articles: when it changes, it is cleaned again
        recurring = found.recurring(i, old.recurring if old is not None and old.sha256 == sha else None)
        if incremental and old_id and old and old.sha256 == sha and old.recurring == recurring:
            aid, chunks, state, record = old_id, None, "unchanged", old
        else:
            if data is None:
                data = _read(corpus_dir, path, rel)
                sha = article_sha256(path, data)
            article = read_article(corpus_dir, path, data, found.common, keep_copy=not dry_run)
            aid, chunks = article.article_id, chunk_article(article, params)
            state = "changed" if aid in prev_articles else "added"
            record = ArticleRecord(
                path=rel,
                sha256=sha,
                chunks=len(chunks),
                title=article.title,
                title_source=article.title_source,
                author=article.author,
                url=article.url,
                recurring=recurring,
            )
        if aid in plan.articles:
            raise CorpusError(
                f"{corpus_dir}/{plan.articles[aid].path} and {corpus_dir}/{rel} both give the article id"
                f" {aid!r} - rename one of them"
            )
        plan.articles[aid] = record
        plan.status[state].append(aid)
        plan.parts.append(aid if chunks is None else chunks)
    return plan


def _read(corpus_dir: Path, path: Path, rel: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CorpusError(
            f"{corpus_dir}/{rel} cannot be read ({exc.strerror}) - check its permissions"
        ) from None


@dataclass(frozen=True)
class Changes:
    """What a build has to do against the previous state (an index folder or a store): the plan, why
    everything is written again ("" when not), and the articles added, removed and renamed."""

    plan: Plan
    full: str
    added: tuple[str, ...]  # new articles, renames left out
    removed: tuple[str, ...]  # articles gone, renames left out
    renamed: tuple[tuple[str, str], ...]  # (old id, new id): the same bytes under another path
    gone: tuple[str, ...]  # every previous article the plan no longer holds (removed and renamed away)


def changes(
    corpus_dir: Path,
    files: list[Path],
    previous: Any,
    problem: str,
    embedder: Embedder,
    params: ChunkParams,
    *,
    dry_run: bool = False,
    known: Known | None = None,
) -> Changes:
    """The plan of a build against `previous` (anything with a manifest; None: nothing to reuse, and
    `problem` says why), for both kinds of build (build.py, pgbuild.py)."""
    full = full_rebuild_reason(previous, problem, embedder, params)
    plan = plan_build(corpus_dir, files, previous, params, incremental=not full, dry_run=dry_run, known=known)
    prev_articles = previous.manifest.articles if previous is not None else {}
    gone = [aid for aid in prev_articles if aid not in plan.articles]
    renamed = renames(plan, prev_articles, gone)
    added = tuple(a for a in plan.status["added"] if a not in {new for _, new in renamed})
    removed = tuple(a for a in gone if a not in {old for old, _ in renamed})
    return Changes(plan, full, added, removed, tuple(renamed), tuple(gone))


def renames(
    plan: Plan, prev_articles: Mapping[str, ArticleRecord], removed: list[str]
) -> list[tuple[str, str]]:
    """(old path, new path) for added articles whose bytes equal a removed article's."""
    gone = {prev_articles[aid].sha256: aid for aid in removed}
    pairs = []
    for aid in plan.status["added"]:
        old = gone.pop(plan.articles[aid].sha256, None)
        if old is not None:
            pairs.append((old, aid))
    return pairs
