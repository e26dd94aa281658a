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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fit_composer as fc  # noqa: E402

from rag.answer.abstain import AbstentionPolicy  # noqa: E402
from rag.answer.ask import prepare  # noqa: E402
from rag.answer.extractive import _candidates, select_learned  # noqa: E402
from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluation.answereval import Paragraphs  # noqa: E402
from rag.evaluation.queries import QuoteLocator, load_queries  # noqa: E402

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


@dataclass
class Question:
    item: fc.Item
    query: str  # as answered (expanded for a follow-up)
    docs: list[str]  # each candidate as "title > section: sentence"
    texts: list[str]  # each candidate's sentence


def train_questions() -> list[Question]:
    """The train questions of the three query sets with their candidates, labels and texts."""
    out = []
    policy = replace(AbstentionPolicy(), enabled=False)
    for query_file, corpus, index in SETS:
        assistant = Assistant(Settings(corpus_dir=corpus, index_dir=index))
        if assistant.status(contents=True).stale:
            assistant.build()
        r = assistant.retriever
        queries = [q for q in load_queries(query_file) if q.split == "train"]
        by_id = {q.qid: q for q in queries}
        articles = {
            a.path: (corpus / a.path).read_text(encoding="utf-8") for a in r.index.manifest.articles.values()
        }
        for item in fc.gather(r, queries, QuoteLocator(articles), Paragraphs(articles)):
            history, at = [], item.q
            while at.follows:
                at = by_id[at.follows]
                history.insert(0, at.question)
            prep = prepare(r, item.q.question, k=5, policy=policy, history=history)
            ss = prep.sentences
            said = prep.said
            cands = [
                j
                for j in _candidates(ss)
                if (
                    prep.passages[ss.sentences[j].passage].chunk.path,
                    ss.sentences[j].start,
                    ss.sentences[j].end,
                )
                not in said
            ]
            docs, texts = [], []
            for j in cands:
                chunk = prep.passages[ss.sentences[j].passage].chunk
                head = " > ".join(part for part in (chunk.title, chunk.section) if part)
                texts.append(ss.sentences[j].text)
                docs.append(f"{head}: {texts[-1]}" if head else texts[-1])
            out.append(Question(item, prep.query, docs, texts))
    return out


def fit_pointwise(items: list[fc.Item], c: float) -> np.ndarray:
    tr = [it for it in items if it.q.answerable and len(it.x)]
    return fc.fit_lr(np.vstack([it.x for it in tr]), np.concatenate([it.accepted for it in tr]), c)


def fit_listwise(items: list[fc.Item], c: float) -> np.ndarray:
    """Conditional logit: maximise each question's probability mass on its accepted candidates."""
    its = [it for it in items if it.q.answerable and len(it.x) and it.accepted.any()]
    x = np.vstack([it.x for it in its])
    mu, sd = x.mean(axis=0), x.std(axis=0)
    mu[0], sd[0] = 0.0, 1.0
    sd[sd == 0] = 1.0
    zs = [(it.x - mu) / sd for it in its]

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


def out_of_fold(items: list[fc.Item], fit, c: float) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    fold = fc.folds_of(items)
    scores: list[np.ndarray] = [np.zeros(0)] * len(items)
    for f in range(fc.FOLDS):
        w = fit([it for it, k in zip(items, fold, strict=True) if k != f], c)
        for n, it in enumerate(items):
            if fold[n] == f:
                scores[n] = it.x @ w if len(it.x) else np.zeros(0)
    return scores


def reader_figures(
    items: list[fc.Item], scores: list[np.ndarray], floor: float, relative: bool
) -> tuple[float, ...]:
    """Top sentence accepted, reader recall and precision of 2-3 sentence answers (abstention off)."""
    top1 = found = accepted = quoted = n = 0
    for it, s in zip(items, scores, strict=True):
        if not it.q.answerable or not len(s):
            continue
        n += 1
        chosen = select_learned(s - s.max() if relative else s, it.vectors, floor, 3, 2)
        top1 += bool(it.accepted[int(np.argmax(s))])
        found += bool(it.accepted[chosen].any())
        accepted += int(it.accepted[chosen].sum())
        quoted += len(chosen)
    return top1 / n, found / n, accepted / max(quoted, 1)


def check_listwise(questions: list[Question]) -> None:
    items = [q.item for q in questions]
    for name, fit, relative, floors in (
        ("pointwise (shipped)", fit_pointwise, False, np.arange(-2.0, 1.51, 0.25)),
        ("listwise", fit_listwise, True, np.arange(-4.0, 0.01, 0.25)),
    ):
        best = None
        for c in (0.1, 0.3, 1.0, 3.0, 10.0):
            scores = out_of_fold(items, fit, c)
            for floor in floors:
                t1, r, p = reader_figures(items, scores, float(floor), relative)
                if best is None or fc.harmonic(r, p) > best[0]:
                    best = (fc.harmonic(r, p), c, float(floor), t1, r, p)
        h, c, floor, t1, r, p = best
        print(
            f"{name}: C={c} floor={floor:+.2f}  CV top sentence accepted {t1:.3f}, reader recall {r:.3f}"
            f" precision {p:.3f} (harmonic {h:.3f})"
        )


def check_cross_encoder(questions: list[Question], fold: int) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rag.index.embed import resolve_model_dir

    torch.set_num_threads(2)
    torch.manual_seed(0)
    random.seed(0)
    items = [q.item for q in questions]
    folds = fc.folds_of(items)
    train = [
        q
        for q, f in zip(questions, folds, strict=True)
        if f != fold and q.item.q.answerable and q.item.accepted.any()
    ]
    held = [
        q for q, f in zip(questions, folds, strict=True) if f == fold and q.item.q.answerable and len(q.docs)
    ]
    shipped = fit_pointwise([q.item for q in train], 0.3)  # the logistic scorer refitted on the same folds
    path = resolve_model_dir(Settings().model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    epochs, steps = 3, 3 * len(train)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )

    def logits(q: Question, which: list[int]) -> torch.Tensor:
        enc = tok(
            [q.query] * len(which),
            [q.docs[j] for j in which],
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
        for q in train:
            top = np.argsort(-(q.item.x @ shipped))[:TOP].tolist()
            which = list(dict.fromkeys(top + np.flatnonzero(q.item.accepted).tolist()))
            s = logits(q, which)
            y = torch.tensor([bool(q.item.accepted[j]) for j in which])
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
        for q in held:
            top = np.argsort(-(q.item.x @ shipped))[:TOP].tolist()
            ce += bool(q.item.accepted[top[int(torch.argmax(logits(q, top)))]])
            lr += bool(q.item.accepted[top[0]])
    ms = 1000 * (time.perf_counter() - started) / len(held)
    print(
        f"fold {fold}: {len(held)} questions; top sentence accepted: cross-encoder {ce / len(held):.3f},"
        f" logistic scorer {lr / len(held):.3f}; cross-encoder {ms:.0f} ms a question for {TOP} sentences"
    )


def check_llm(questions: list[Question], model_path: str) -> None:
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
    items = [q.item for q in questions]
    scores = out_of_fold(items, fit_pointwise, 0.3)
    picked = first = n = 0
    none_answerable, none_unanswerable, seconds = [], [], []
    for q, s in zip(questions, scores, strict=True):
        if not len(q.docs):
            continue
        top = np.argsort(-s)[:LLM_TOP].tolist()
        lines = "\n".join(f"{m}. {q.texts[j]}" for m, j in enumerate(top, start=1))
        user = (
            f"Question: {q.query}\n\nSentences:\n{lines}\n\nReply with the number of the sentence that best"
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
        if q.item.q.answerable:
            n += 1
            pick = max(range(1, len(top) + 1), key=lambda m: dist.get(m, -30.0))
            picked += bool(q.item.accepted[top[pick - 1]])
            first += bool(q.item.accepted[top[0]])
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
    questions = train_questions()
    if argv[:1] == ["listwise"]:
        check_listwise(questions)
    elif argv[:1] == ["cross-encoder"] and len(argv) == 2:
        check_cross_encoder(questions, int(argv[1]))
    elif argv[:1] == ["llm"] and len(argv) == 2:
        check_llm(questions, argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
