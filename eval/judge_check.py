"""Could a better sentence judge lift the answers? Checks for issue #12, not part of the product.

The composer's scorer puts a sentence a reader accepts first for about half the train questions
(fit_composer.py prints it), while an accepted one is among its candidates nearly always. These checks try
three other judges over the same candidates, each fitted on train folds and scored on the held-out fold
against the shipped logistic scorer refitted on the same folds (so both are out of fold):

    .venv/bin/python eval/judge_check.py listwise            # the same features, a softmax over each question
    .venv/bin/python eval/judge_check.py cross-encoder K     # MiniLM fine-tuned as a cross-encoder, fold K
    .venv/bin/python eval/judge_check.py llm MODEL.gguf      # a local generator picks the answering sentence

`listwise` fits a conditional logit (the candidates of one question compete) instead of the pointwise
logistic regression and reports cross-validated reader recall and precision as fit_composer.py does.
`cross-encoder` fine-tunes all-MiniLM-L6-v2 (the packaged weights, a fresh one-logit head) on the
question paired with "title > section: sentence", listwise loss over each question's top 24 candidates
and every accepted one, 3 epochs, on the train questions of the three query sets outside fold K; it
scores fold K's top 24. Needs about 8 minutes of 2 cores per fold.
`llm` starts llama.cpp in process (xllamacpp, installed as local_llm_check.py says) and asks, for each
train question, which of the scorer's top 6 sentences answers it (0 for none), reading the next-token
distribution over the numbers; it reports how often its pick is accepted and how well its "none" separates
unanswerable questions (AUC). Results: docs/evaluation.md, "Other sentence judges".
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fit_composer as fc  # noqa: E402

from rag.config import Settings  # noqa: E402

ROOT = fc.ROOT
SETS = (
    fc.SETS[0],
    fc.SETS[1],
    (
        ROOT / "eval/longform/answers.jsonl",
        ROOT / "eval/longform/articles",
        ROOT / "build/eval-index/longform",
    ),
)
TOP = 24  # candidates a cross-encoder reads per question
LLM_TOP = 6  # sentences a generator is shown per question


def train_questions() -> list[fc.Item]:
    """The train questions of the three query sets with their candidates, labels and texts."""
    items = []
    for query_file, corpus, index in SETS:
        retriever, queries, locator, paras = fc.train_set(query_file, corpus, index)
        items += fc.gather(retriever, queries, locator, paras)
    return items


def doc(it: fc.Item, j: int) -> str:
    """Candidate j as a cross-encoder reads it: "title > section: sentence"."""
    return f"{it.heads[j]}: {it.texts[j]}" if it.heads[j] else it.texts[j]


def fit_listwise(items: list[fc.Item], c: float) -> np.ndarray:
    """Conditional logit: maximise each question's probability mass on its accepted candidates."""
    its = [it for it in items if it.q.answerable and len(it.x) and it.accepted.any()]
    x = np.vstack([it.x for it in its])
    z, _, sd = fc.standardise(x)
    zs = np.split(z, np.cumsum([len(it.x) for it in its])[:-1])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        w = w.copy()
        w[0] = 0.0  # a shift common to a question's candidates changes nothing
        total, grad = 0.5 / c * float(np.sum(w**2)), w / c
        for z, it in zip(zs, its, strict=True):
            e = np.exp(z @ w - (z @ w).max())
            ey = e * it.accepted
            total += math.log(e.sum()) - math.log(ey.sum())
            grad += z.T @ (e / e.sum() - ey / ey.sum())
        grad[0] = 0.0
        return total, grad

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x / sd
    w[0] = 0.0
    return w


def pointwise(items: list[fc.Item], c: float) -> np.ndarray:
    return fc.fit_scorer(items, "accepted", c)


def first_accepted(items: list[fc.Item], scores: list[np.ndarray]) -> float:
    """The share of answerable questions whose best-scored candidate is an accepted sentence."""
    picks = [
        it.accepted[int(np.argmax(s))]
        for it, s in zip(items, scores, strict=True)
        if it.q.answerable and len(s)
    ]
    return float(np.mean(picks))


def check_listwise(items: list[fc.Item]) -> None:
    for name, fit, relative, floors in (
        ("pointwise (shipped)", pointwise, False, np.arange(-2.0, 1.51, 0.25)),
        ("listwise", fit_listwise, True, np.arange(-4.0, 0.01, 0.25)),
    ):
        best = None
        for c in (0.1, 0.3, 1.0, 3.0, 10.0):
            scores = fc.out_of_fold(items, "accepted", c, fit)
            t1 = first_accepted(items, scores)
            # a conditional logit's scores mean something only against the question's best one
            chosen = [s - s.max() if relative and len(s) else s for s in scores]
            for floor in floors:
                r, p = fc.answer_figures(items, chosen, float(floor))[2:]
                if best is None or fc.harmonic(r, p) > best[0]:
                    best = (fc.harmonic(r, p), c, float(floor), t1, r, p)
        h, c, floor, t1, r, p = best
        print(
            f"{name}: C={c} floor={floor:+.2f}  CV top sentence accepted {t1:.3f}, reader recall {r:.3f}"
            f" precision {p:.3f} (harmonic {h:.3f})"
        )


def check_cross_encoder(items: list[fc.Item], fold: int) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rag.index.embed import resolve_model_dir

    torch.set_num_threads(2)
    torch.manual_seed(0)
    random.seed(0)
    folds = fc.folds_of(items)
    train = [
        it for it, f in zip(items, folds, strict=True) if f != fold and it.q.answerable and it.accepted.any()
    ]
    held = [it for it, f in zip(items, folds, strict=True) if f == fold and it.q.answerable and len(it.x)]
    shipped = pointwise(train, 0.3)  # the logistic scorer refitted on the same folds
    path = resolve_model_dir(Settings().model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    epochs, steps = 3, 3 * len(train)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )

    def logits(it: fc.Item, which: list[int]) -> torch.Tensor:
        enc = tok(
            [it.query] * len(which),
            [doc(it, j) for j in which],
            truncation=True,
            max_length=128,
            padding=True,
            return_tensors="pt",
        )
        return model(**enc).logits.squeeze(-1)

    started = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        random.shuffle(train)
        for it in train:
            top = np.argsort(-(it.x @ shipped))[:TOP].tolist()
            which = list(dict.fromkeys(top + np.flatnonzero(it.accepted).tolist()))
            s = logits(it, which)
            y = torch.tensor([bool(it.accepted[j]) for j in which])
            loss = torch.logsumexp(s, 0) - torch.logsumexp(s[y], 0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: {time.perf_counter() - started:.0f} s", flush=True)
    model.eval()
    ce = lr = 0
    started = time.perf_counter()
    with torch.inference_mode():
        for it in held:
            top = np.argsort(-(it.x @ shipped))[:TOP].tolist()
            ce += bool(it.accepted[top[int(torch.argmax(logits(it, top)))]])
            lr += bool(it.accepted[top[0]])
    ms = 1000 * (time.perf_counter() - started) / len(held)
    print(
        f"fold {fold}: {len(held)} questions; top sentence accepted: cross-encoder {ce / len(held):.3f},"
        f" logistic scorer {lr / len(held):.3f}; cross-encoder {ms:.0f} ms a question for {TOP} sentences"
    )


def check_llm(items: list[fc.Item], model_path: str) -> None:
    import json
    import urllib.request

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = model_path
    params.n_ctx = 4096
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    server = xlc.Server(params)
    url = server.listening_address.rstrip("/") + "/completion"
    system = (
        "You are a careful reader. You are given a question and numbered sentences from articles. Pick the"
        " sentence that best answers the question: one that gives the advice, reason or fact asked for. A"
        " sentence that only restates the question, announces a list, or sets a scene does not answer it."
        " If no sentence answers the question, reply 0."
    )
    scores = fc.out_of_fold(items, "accepted", 0.3)
    picked = first = n = 0
    none_answerable, none_unanswerable, seconds = [], [], []
    for it, s in zip(items, scores, strict=True):
        if not len(it.x):
            continue
        top = np.argsort(-s)[:LLM_TOP].tolist()
        lines = "\n".join(f"{m}. {it.texts[j]}" for m, j in enumerate(top, start=1))
        user = (
            f"Question: {it.query}\n\nSentences:\n{lines}\n\nReply with the number of the sentence that best"
            " answers the question (0 if none)."
        )
        prompt = (
            f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )
        body = json.dumps({"prompt": prompt, "n_predict": 1, "n_probs": 20, "temperature": 0}).encode()
        started = time.perf_counter()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            reply = json.load(response)
        seconds.append(time.perf_counter() - started)
        dist: dict[int, float] = {}
        for entry in reply["completion_probabilities"][0].get("top_logprobs", []):
            token = entry["token"].strip()
            if token.isdigit():
                dist[int(token)] = max(dist.get(int(token), -99.0), entry["logprob"])
        none = math.exp(dist.get(0, -30.0))
        if it.q.answerable:
            n += 1
            pick = max(range(1, len(top) + 1), key=lambda m: dist.get(m, -30.0))
            picked += bool(it.accepted[top[pick - 1]])
            first += bool(it.accepted[top[0]])
            none_answerable.append(none)
        else:
            none_unanswerable.append(none)
    auc = float(np.mean([[a < u for u in none_unanswerable] for a in none_answerable]))
    print(
        f"{n} answerable train questions: top sentence accepted: generator's pick {picked / n:.3f},"
        f" logistic scorer (out of fold) {first / n:.3f}; 'none' separates unanswerable ones with AUC {auc:.3f};"
        f" {np.median(seconds):.1f} s a question (median)"
    )


def main(argv: list[str]) -> None:
    items = train_questions()
    if argv[:1] == ["listwise"]:
        check_listwise(items)
    elif argv[:1] == ["cross-encoder"] and len(argv) == 2:
        check_cross_encoder(items, int(argv[1]))
    elif argv[:1] == ["llm"] and len(argv) == 2:
        check_llm(items, argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
