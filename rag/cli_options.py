"""The flags the `rag` commands share (folders, retrieval settings) and the Settings they resolve to.

A setting's flag takes its choices or minimum from its entry in config.ENV; `settings_from` applies the
flags that were given on top of Settings.from_env (flag > RAG_* environment variable > default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .config import SETTING, Settings


def setting_option(flag: str, field: str, help: str, **kwargs: Any) -> Callable[..., Any]:
    """A flag for a setting: its values (choices, minimum) come from the setting's entry in config.ENV."""
    var = SETTING[field]
    kind: Any = None
    if var.choices:
        kind = click.Choice(var.choices)
    elif var.kind is int:
        kind = click.IntRange(min=var.minimum)
    return click.option(flag, field.replace(".", "_"), type=kind, default=None, help=help, **kwargs)


def folder_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--index",
        "index_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Index folder (default: index/, or $RAG_INDEX).",
    )(fn)
    fn = click.option(
        "--corpus",
        "corpus_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Articles folder (default: corpus/, or $RAG_CORPUS).",
    )(fn)
    return fn


def store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--store: answer from a PostgreSQL store (filled by `rag build --store`) instead of --index."""
    return setting_option(
        "--store",
        "store",
        "Answer from this PostgreSQL store (postgresql://user@host/db) instead of the index folder"
        " (default: none, or $RAG_STORE).",
        metavar="URL",
    )(fn)


def retrieval_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = setting_option(
        "--rerank",
        "rerank",
        "Re-order the top 10 by their best sentence's similarity (sentence; default, or $RAG_RERANK) or not.",
    )(fn)
    fn = setting_option(
        "--fusion-depth",
        "fusion_depth",
        "Passages each ranker contributes to hybrid fusion (default 200, or $RAG_FUSION_DEPTH).",
    )(fn)
    fn = setting_option(
        "--fusion",
        "fusion",
        "How rankings combine (hybrid's two, and the sentence rerank with retrieval): summed"
        " standardised scores (zscore; default, or $RAG_FUSION) or reciprocal rank fusion (rrf).",
    )(fn)
    fn = setting_option(
        "--mode",
        "retrieval",
        "Retrieval: hybrid (keyword + dense, fused; default, or $RAG_RETRIEVAL), dense or keyword.",
    )(fn)
    return fn


def settings_from(corpus_dir: Path | None, index_dir: Path | None, **overrides: Any) -> Settings:
    """Settings.from_env with the flags that were given on top."""
    s = Settings.from_env()
    s = replace(s, corpus_dir=corpus_dir or s.corpus_dir, index_dir=index_dir or s.index_dir)
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})
