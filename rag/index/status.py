"""Is the index there, sound, and up to date with the corpus? (`rag info`, the app's Library tab.)

Compares each corpus file's path and sha256 with the manifest; reads no model and embeds nothing. A
file's hash is remembered while its stat stays the same (ingest.hash_path). `contents=False` compares
the paths alone (no file is read): what the app checks before its first answer, the hashes following in
the background (Assistant.ensure_index).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RagError
from ..ingest.read import discover_paths, forget_hashes, hash_path
from .index_folder import load_index
from .manifest import BASE_FORMAT, Articles, EmbedderInfo, Manifest


@dataclass(frozen=True)
class IndexStatus:
    index_dir: Path
    corpus_dir: Path
    manifest: Manifest | None = None  # None when the index cannot be loaded (see problem)
    problem: str = ""  # the index cannot be used: why, and what to run
    new: tuple[str, ...] = ()  # corpus paths not in the index
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # indexed paths no longer in the corpus
    corpus_problem: str = ""
    contents_checked: bool = True  # False: only the paths were compared, `changed` is not known
    store: str = ""  # the PostgreSQL store's URL (password masked) when it is the index, not index_dir

    @property
    def shown(self) -> str:
        """The index, for messages: its folder, or the store."""
        return f"the store at {self.store}" if self.store else f"{self.index_dir}/"

    @property
    def rebuild(self) -> str:
        """The command that brings it up to date with the corpus."""
        return "rag build --store URL" if self.store else "rag build"

    @property
    def stale(self) -> bool:
        return bool(self.problem or self.new or self.changed or self.missing)

    def lines(self) -> list[str]:
        m = self.manifest
        if self.problem or m is None:
            return [f"index: {self.problem}"]
        e = m.embedder
        built = "" if self.store else f", built {m.created or '?'}"  # a store is written, not built, at once
        out = [
            f"index: {self.shown} (format {m.format}, {m.index_type}{built})",
            f"model: {e.name} ({e.dim}-d, fingerprint {e.fingerprint[:12]}, passages in {e.precision})",
            f"questions embedded with: {question_backend(e)}",
            f"chunking: {', '.join(f'{k}={v}' for k, v in m.chunking.to_json().items())}",
            f"articles: {m.article_count}, passages: {m.chunk_count}",
        ]
        if m.legacy:
            out.append(
                f'format {m.format} is served as it is; "rag build" rewrites it in format {BASE_FORMAT}'
                " (a third smaller or more), re-encoding every vector and sentence (nothing embedded)"
            )
        if self.corpus_problem:
            out.append(f"corpus: {self.corpus_problem}")
        elif self.stale:
            parts = [
                f"{len(v)} {name}"
                for name, v in (("new", self.new), ("changed", self.changed), ("removed", self.missing))
                if v
            ]
            out.append(f'stale against {self.corpus_dir}/: {", ".join(parts)} - run "{self.rebuild}"')
        elif not self.contents_checked:
            out.append(f"the same articles as {self.corpus_dir}/ (their contents not compared)")
        else:
            out.append(f"up to date with {self.corpus_dir}/")
        return out

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "index_dir": str(self.index_dir),
            "store": self.store,
            "corpus_dir": str(self.corpus_dir),
            "problem": self.problem,
            "stale": self.stale,
            "new": list(self.new),
            "changed": list(self.changed),
            "removed": list(self.missing),
            "corpus_problem": self.corpus_problem,
            "manifest": {k: v for k, v in m.to_json().items() if k != "articles"} if m else {},
            "articles": {aid: record.to_json() for aid, record in m.articles.items()} if m else {},
        }


def question_backend(embedder: EmbedderInfo) -> str:
    """How `rag search` and the app will embed questions for an index built with this embedder."""
    from .onnx_embed import NO_EXPORT, export_dir, read_export

    if read_export(embedder.fingerprint) is not None:
        return f"onnxruntime ({export_dir(embedder.fingerprint)})"
    return NO_EXPORT


def index_status(
    corpus_dir: Path,
    index_dir: Path,
    manifest: Manifest | None = None,
    *,
    verify: bool = False,
    contents: bool = True,
) -> IndexStatus:
    """Compare the index with the corpus files; the index is loaded (and checked; `verify` hashes every
    file) unless the caller already holds it and passes its manifest. `contents=False` compares the
    paths only: new and removed articles are found, changed ones are not looked for."""
    if manifest is None:
        try:
            manifest = load_index(index_dir, verify=verify).manifest
        except RagError as exc:
            return IndexStatus(index_dir, corpus_dir, problem=str(exc))
    articles = manifest.articles
    try:  # records are parsed when read (manifest.Articles): a damaged one is found here
        indexed = (
            articles.paths()
            if isinstance(articles, Articles)
            else {record.path: record.sha256 for record in articles.values()}
        )
    except RagError as exc:
        return IndexStatus(index_dir, corpus_dir, problem=str(exc))
    try:
        found = set(discover_paths(corpus_dir))
        if contents:  # the paths alone need no join: the start's check, at 1M articles
            paths = {rel: os.path.join(corpus_dir, rel) for rel in found}
            current = {rel: hash_path(path) for rel, path in paths.items()}
            forget_hashes(corpus_dir, set(paths.values()))  # articles since removed
    except (RagError, OSError) as exc:
        return IndexStatus(index_dir, corpus_dir, manifest, corpus_problem=str(exc))
    new = tuple(sorted(found - indexed.keys()))
    missing = tuple(sorted(indexed.keys() - found))
    if not contents:
        return IndexStatus(index_dir, corpus_dir, manifest, new=new, missing=missing, contents_checked=False)
    changed = tuple(sorted(p for p in current if p in indexed and current[p] != indexed[p]))
    return IndexStatus(index_dir, corpus_dir, manifest, new=new, changed=changed, missing=missing)
