"""User-facing errors: each says what happened, with the actual value, and the fix, in one line.

The CLI turns a RagError into one line on stderr and exit code 1; the UI shows it as a message.
Bugs are not RagErrors: they keep their traceback.
"""

from __future__ import annotations

from pathlib import Path


class RagError(Exception):
    """A problem the user can fix; str(error) is the whole one-line message."""


class CorpusError(RagError):
    """An article or the corpus folder cannot be read."""


class IndexLoadError(RagError):
    """The index folder is missing, damaged, or does not match this program or model."""


class QueryError(RagError):
    """A question or a search parameter is unusable."""


class BuildLockedError(RagError):
    """Another build holds the index lock."""


class StoreError(RagError):
    """The PostgreSQL store cannot be reached, lacks pgvector, or holds another model's passages."""


class LocalServerError(RagError):
    """The local PostgreSQL server (pglocal.py) cannot be found, initialised or started."""


class ForeignFolderError(RagError):
    """A folder given as the index holds files that no build of ours wrote: a build must not replace it."""


def build_hint(index_dir: Path) -> str:
    """The command that (re)builds index_dir, for the end of a message: 'run "rag build"'."""
    return f'run "rag build --index {index_dir}"' if index_dir != Path("index") else 'run "rag build"'
