"""Question embedding without torch: the index's model exported once to ONNX, run by onnxruntime.

Importing torch and sentence-transformers costs seconds, so `rag search` and the app embed questions
(and the sentences the reranker compares) through an ONNX copy of the model. `ensure_export` makes that
copy after a build: the whole sentence-transformers pipeline (transformer, pooling, normalisation) is
traced with torch.onnx, saved with its tokenizer under the cache folder keyed by the model's
fingerprint, and kept only if it reproduces the torch vectors (cosine >= MIN_COSINE on short, long and
padded batches). `query_embedder` returns the ONNX embedder for an index, or, where there is no valid
export, the torch embedder labelled as a fallback. It does not embed passages for the index (embed.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import cache_root
from ..errors import RagError
from .embed import Embedder, SentenceTransformerEmbedder
from .manifest import EmbedderInfo

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
MIN_COSINE = 0.9999
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "export.json"
_CHECK_TEXTS = [
    "how do I avoid being clingy?",
    "x",
    "Give them space. " * 120,  # longer than any model's max_seq_length: checks truncation
    "Ein Satz auf Deutsch, mit Umlauten: Äpfel, Öl, Übermut - and 😀 emoji.",
]


def export_dir(fingerprint: str) -> Path:
    return cache_root() / "onnx" / fingerprint[:32]


def read_export(fingerprint: str) -> dict[str, Any] | None:
    """The export's metadata when a complete, verified export for this fingerprint exists."""
    folder = export_dir(fingerprint)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("version") != EXPORT_VERSION:
        return None
    if meta.get("fingerprint") != fingerprint or not (folder / MODEL_FILE).is_file():
        return None
    return meta


def ensure_export(embedder: Embedder) -> dict[str, Any] | None:
    """Export the embedder's model for torch-free queries unless done; None (logged) where it cannot be.

    Only sentence-transformers embedders are exported; others (test embedders) need nothing.
    """
    if not isinstance(embedder, SentenceTransformerEmbedder):
        return None
    fingerprint = embedder.fingerprint
    if (meta := read_export(fingerprint)) is not None:
        return meta
    try:
        return _export(embedder, export_dir(fingerprint))
    except Exception as exc:  # the torch path still answers; say so instead of failing the build
        log.warning(
            "questions will be embedded with torch: exporting %s to ONNX failed (%s)", embedder.name, exc
        )
        return None


def _export(embedder: SentenceTransformerEmbedder, dest: Path) -> dict[str, Any]:
    import torch

    started = time.perf_counter()
    reference = SentenceTransformerEmbedder(embedder.name, precision="fp32")  # export float32 weights
    st = reference.model
    tokenizer = st.tokenizer
    input_names = [
        n for n in tokenizer.model_input_names if n in ("input_ids", "attention_mask", "token_type_ids")
    ]

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *inputs: Any) -> Any:
            out = self.st(dict(zip(input_names, inputs, strict=True)))["sentence_embedding"]
            return torch.nn.functional.normalize(out, dim=-1)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        sample = tokenizer(["a question", "a longer sample sentence"], padding=True, return_tensors="pt")
        axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
        with torch.no_grad():
            torch.onnx.export(
                Pipeline().eval(),
                tuple(sample[n] for n in input_names),
                str(tmp / MODEL_FILE),
                input_names=input_names,
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        tokenizer.backend_tokenizer.save(str(tmp / TOKENIZER_FILE))
        meta: dict[str, Any] = {
            "version": EXPORT_VERSION,
            "model": embedder.name,
            "fingerprint": embedder.fingerprint,
            "dim": int(embedder.dim),
            "max_tokens": int(st.max_seq_length),
            "inputs": input_names,
            "torch": torch.__version__,
        }
        exported = OnnxEmbedder(tmp, meta).embed(_CHECK_TEXTS)
        cosine = float((reference.embed(_CHECK_TEXTS) * exported).sum(axis=1).min())
        if cosine < MIN_COSINE:
            raise RagError(f"the export differs from the torch model (cosine {cosine:.6f} < {MIN_COSINE})")
        meta["check_min_cosine"] = round(cosine, 7)
        meta["export_seconds"] = round(time.perf_counter() - started, 2)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")  # last: marks it complete
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        log.info("exported %s to %s for torch-free queries (min cosine %.6f)", embedder.name, dest, cosine)
        return meta
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class OnnxEmbedder(Embedder):
    """Runs an exported model with onnxruntime and the model's own fast tokenizer (no torch)."""

    def __init__(self, folder: Path, meta: dict[str, Any], *, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.name = str(meta["model"])
        self._meta = meta
        self._inputs = list(meta["inputs"])
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=int(meta["max_tokens"]))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = (
            threads  # one question at a time: a second thread costs more than it gives
        )
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )

    @property
    def dim(self) -> int:
        return int(self._meta["dim"])

    @property
    def fingerprint(self) -> str:
        return str(self._meta["fingerprint"])

    def embed(self, texts: list[str], *, progress: bool = False, batch_size: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # little padding per batch
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            feeds = {name: np.zeros((len(rows), width), dtype=np.int64) for name in self._inputs}
            for j, i in enumerate(rows):
                enc, n = encodings[i], len(encodings[i].ids)
                feeds["input_ids"][j, :n] = enc.ids
                if "attention_mask" in feeds:
                    feeds["attention_mask"][j, :n] = enc.attention_mask
                if "token_type_ids" in feeds:
                    feeds["token_type_ids"][j, :n] = enc.type_ids
            out[rows] = self._session.run(None, feeds)[0]
        return out


NO_EXPORT = 'torch (fallback: no ONNX export of the model yet - "rag build" makes one)'


def _open_export(fingerprint: str, name: str, threads: int = 1) -> OnnxEmbedder | None:
    """The export for this fingerprint, ready to run; None (a damaged one logged) where there is none."""
    meta = read_export(fingerprint)
    if meta is None:
        return None
    try:
        return OnnxEmbedder(export_dir(fingerprint), meta, threads=threads)
    except Exception as exc:  # a damaged export or no onnxruntime: torch still embeds
        log.warning("the ONNX export of %s cannot be used (%s); using torch", name, exc)
        return None


def small_batch_embedder(embedder: Embedder) -> Embedder | None:
    """The ONNX export of a sentence-transformers embedder's model, if there is one (else None).

    Its vectors are the float32 model's (cosine >= MIN_COSINE), so they sit in the same index.
    """
    if not isinstance(embedder, SentenceTransformerEmbedder):
        return None
    return _open_export(embedder.fingerprint, embedder.name, threads=os.cpu_count() or 1)


def query_embedder(built: EmbedderInfo, model: str | None = None) -> tuple[Embedder, str]:
    """The embedder for questions to an index built with `built`, and how it runs ("onnxruntime" or a
    labelled fallback).

    The ONNX export is looked up by the fingerprint the index was built with, so it is that very model.
    """
    if model is None or model == built.name:
        if (onnx := _open_export(built.fingerprint, built.name)) is not None:
            return onnx, "onnxruntime"
        reason = NO_EXPORT
    else:
        reason = "torch (--model names another model than the index's)"
    return SentenceTransformerEmbedder(model or built.name), reason
