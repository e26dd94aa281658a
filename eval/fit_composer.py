"""Fit the answer composer's sentence scorer and the abstention on the TRAIN splits; write rag/answer/fitted.json.

    .venv/bin/python eval/fit_composer.py [--objective reader|quotes]   # after `rag build`

It reads two query sets (SETS): the seed articles' eval/queries.jsonl and eval/webpages/answers.jsonl,
questions about the 24 short web pages of eval/webpages/clean (built into build/eval-index/webpages when
that index is missing or stale), so the scorer learns from two kinds of writing: long prose, and pages with
a heading per piece of advice. Only their train splits are read; the test splits never are.
The third set, eval/longform (essays by four other writers), is measured, not fitted on: a refit with its
train split was a wash and was not adopted (docs/evaluation.md), so all of it stays unseen by the weights.
Every train question is read as `rag ask` reads it (follow-ups with their history), its candidate
sentences are described by rag/answer/features.py and labelled three ways: hits a labelled quote (as answereval.py
judges it), or lies in a quote's paragraph, or is a sentence a reader accepts (the accept labels).
Logistic regression (L2, numpy/scipy) is fitted; the label, the regularisation, the stopping threshold and
the minimum number of sentences are chosen by 5-fold cross-validation over train questions, maximising
the harmonic mean of reader recall and precision (the accept labels: what a reader takes as the answer;
`--objective quotes`: answer recall and precision by the labelled quotes) measured exactly as `rag eval`
does. If the rule-based composer (compose.py) scores better on train than the learned one does in
cross-validation, the composer weights are left empty and `rag ask` uses the rules. The abstention is a
second logistic regression on evidence features (abstain.py), its threshold chosen by cross-validation too.
Prints the cross-validated figures; `rag eval` on each query file then reports train and test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from rag.answer import fitted
from rag.answer.abstain import AbstentionPolicy
from rag.answer.ask import prepare
from rag.answer.compose import ComposerWeights, relevance
from rag.answer.extractive import _candidates, _section_similarity, _select, select_learned
from rag.answer.features import EVIDENCE_FEATURES, SENTENCE_FEATURES, sentence_features
from rag.assistant import Assistant
from rag.config import Settings
from rag.evaluation.answereval import Paragraphs, hits
from rag.evaluation.queries import Query, QuoteLocator, load_queries
from rag.search.retrieve import Retriever

ROOT = Path(__file__).resolve().parent.parent
WEB_INDEX = ROOT / "build" / "eval-index" / "webpages"
FOLDS = 5


@dataclass
class Item:
    q: Query
    x: np.ndarray  # candidate features
    hit: np.ndarray  # candidate hits a labelled quote
    relevant: np.ndarray  # hit, or in a labelled quote's paragraph (the precision rule)
    accepted: np.ndarray  # candidate is a sentence a reader accepts (the query's accept labels)
    vectors: np.ndarray
    evidence: np.ndarray
    rule: list[int]  # what the rule-based composer (compose.py, learned=False) quotes
    query: str  # the question as answered (expanded for a follow-up)
    texts: list[str]  # each candidate's sentence, as shown
    heads: list[str]  # each candidate's "title > section"


def gather(
    retriever: Retriever, queries: list[Query], locator: QuoteLocator, paras: Paragraphs
) -> list[Item]:
    by_id = {q.qid: q for q in queries}
    policy = replace(AbstentionPolicy(), enabled=False)
    items = []
    for q in queries:
        history, at = [], q
        while at.follows:
            at = by_id[at.follows]
            history.insert(0, at.question)
        prep = prepare(retriever, q.question, k=5, policy=policy, history=history)
        ss = prep.sentences
        cands = [
            j
            for j in _candidates(ss)
            if (prep.passages[ss.sentences[j].passage].chunk.path, ss.sentences[j].start, ss.sentences[j].end)
            not in prep.said
        ]
        headings = _section_similarity(ss, retriever.embedder)
        x = sentence_features(prep.query, ss, cands, headings, prep.said)
        spans = [sp for quote in q.quotes for sp in locator.spans(quote)]
        labelled = {(sp.path, paras.of(sp.path, sp.start)) for sp in spans}
        labelled |= {(sp.path, paras.of(sp.path, sp.end - 1)) for sp in spans}
        accept = [sp for sentence in q.accept for sp in locator.spans(sentence)]
        hit, rel, acc = [], [], []
        for j in cands:
            s = ss.sentences[j]
            path = prep.passages[s.passage].chunk.path
            h = any(hits(sp, path, s.start, s.end) for sp in spans)
            hit.append(h)
            rel.append(h or (path, paras.of(path, s.start)) in labelled)
            acc.append(any(hits(sp, path, s.start, s.end) for sp in accept))
        e = prep.evidence.vector()
        rw = ComposerWeights(learned=False)
        rel_ = relevance(prep.query, ss, cands, rw)
        where = [ss.sentences[j] for j in cands]
        rule = _select(rel_, ss.vectors[cands], where, prep.passages, rw, rw.max_sentences, rw.min_sentences)
        chunks = [prep.passages[s.passage].chunk for s in where]
        items.append(
            Item(
                q,
                x,
                np.array(hit, bool),
                np.array(rel, bool),
                np.array(acc, bool),
                ss.vectors[cands],
                e,
                rule,
                prep.query,
                [s.text for s in where],
                [" > ".join(part for part in (c.title, c.section) if part) for c in chunks],
            )
        )
    return items


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(columns scaled to mean 0 and standard deviation 1, means, deviations); column 0, the bias, as is."""
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    mu[0], sd[0] = 0.0, 1.0  # the bias column
    sd[sd == 0] = 1.0
    return (x - mu) / sd, mu, sd


def fit_lr(x: np.ndarray, y: np.ndarray, c: float, weight: np.ndarray | None = None) -> np.ndarray:
    """L2-regularised logistic regression (bias unpenalised) on standardised columns; raw-scale weights."""
    z, mu, sd = standardise(x)
    sw = np.ones(len(y)) if weight is None else weight
    t = y.astype(float)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        m = z @ w
        p = 1 / (1 + np.exp(-np.clip(m, -30, 30)))
        ll = -np.sum(sw * (t * np.log(p + 1e-12) + (1 - t) * np.log(1 - p + 1e-12)))
        reg = 0.5 / c * np.sum(w[1:] ** 2)
        g = z.T @ (sw * (p - t))
        g[1:] += w[1:] / c
        return ll + reg, g

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x
    raw = w / sd
    raw[0] = w[0] - np.sum(w[1:] * mu[1:] / sd[1:])
    return raw


def answer_figures(
    items: list[Item], scores: list[np.ndarray] | None, floor: float = 0.0, k_min: int = 2
) -> tuple[float, float, float, float]:
    """Answer recall and precision, then reader recall and precision (answereval.py's rules) of the
    learned selection (of the rule-based composer when `scores` is None), abstention off."""
    found, quoted, relevant, accepted_found, accepted, n = 0, 0, 0, 0, 0, 0
    for n_item, it in enumerate(items):
        if not it.q.answerable:
            continue
        n += 1
        if scores is None:
            chosen = it.rule
        elif len(scores[n_item]) == 0:
            continue
        else:
            chosen = select_learned(scores[n_item], it.vectors, floor, 3, k_min)
        if not chosen:
            continue
        found += bool(it.hit[chosen].any())
        quoted += len(chosen)
        relevant += int(it.relevant[chosen].sum())
        accepted_found += bool(it.accepted[chosen].any())
        accepted += int(it.accepted[chosen].sum())
    share = (lambda a: a / quoted) if quoted else (lambda a: 0.0)
    return found / n, share(relevant), accepted_found / n, share(accepted)


def harmonic(r: float, p: float) -> float:
    return 2 * r * p / (r + p) if r + p else 0.0


def folds_of(items: list[Item]) -> list[int]:
    # A follow-up goes with the question it follows, so a pair is never split across folds.
    root = {}
    for n, it in enumerate(items):
        root[it.q.qid] = root.get(it.q.follows, n) if it.q.follows else n
    return [root[it.q.qid] % FOLDS for it in items]


def cv_composer(items: list[Item], objective: str = "reader") -> tuple[str, float, float, int, list[float]]:
    """The label, regularisation, floor and minimum sentences with the best cross-validated answers: the
    harmonic mean of recall and precision (by the quotes, or with objective "reader" by the accept
    labels), ties broken by recall."""
    best = None
    for label, c in [(lb, c) for lb in ("hit", "relevant", "accepted") for c in (0.1, 0.3, 1.0, 3.0, 10.0)]:
        scores = out_of_fold(items, label, c)
        for floor in np.arange(-4.0, 2.01, 0.25):
            for k_min in (2,):  # answers of 2-3 sentences (README): one sentence rarely reads as an answer
                figs = answer_figures(items, scores, float(floor), k_min)
                r, p = figs[2:] if objective == "reader" else figs[:2]
                key = (harmonic(r, p), r)
                if best is None or key > best[0]:
                    best = (key, label, c, float(floor), k_min, figs)
    (_, label, c, floor, k_min, figs) = best
    print(
        f"composer: label={label} C={c} floor={floor} min_sentences={k_min}  CV recall {figs[0]:.3f}"
        f" precision {figs[1]:.3f}; reader recall {figs[2]:.3f} precision {figs[3]:.3f}"
    )
    return label, c, floor, k_min, list(figs)


def fit_scorer(items: list[Item], label: str, c: float) -> np.ndarray:
    """The sentence scorer's weights: logistic regression on the answerable questions' candidates."""
    tr = [it for it in items if it.q.answerable and len(it.x)]
    return fit_lr(np.vstack([it.x for it in tr]), np.concatenate([getattr(it, label) for it in tr]), c)


Fit = Callable[[list[Item], float], np.ndarray]  # (items, regularisation) -> weights over the features


def out_of_fold(items: list[Item], label: str, c: float, fit: Fit | None = None) -> list[np.ndarray]:
    """Each item's candidate scores by the scorer fitted (on `label`, regularisation `c`; or by `fit`)
    on the other folds' questions."""
    fit = fit or (lambda its, c_: fit_scorer(its, label, c_))
    fold = folds_of(items)
    scores: list[np.ndarray] = [np.zeros(0)] * len(items)
    for f in range(FOLDS):
        w = fit([it for it, k in zip(items, fold, strict=True) if k != f], c)
        for n, it in enumerate(items):
            if fold[n] == f:
                scores[n] = it.x @ w if len(it.x) else np.zeros(0)
    return scores


def ranking_ceiling(items: list[Item], label: str, c: float) -> dict[str, float]:
    """How well the cross-validated scorer ranks: the share of answerable questions whose top sentence (top
    3) is one a reader accepts, and whose candidates hold any accepted sentence at all (the oracle). An
    answer's precision cannot exceed what its first pick gets right, so this bounds what any selection
    rule on top of these features can reach."""
    top1 = top3 = oracle = n = 0
    for it, score in zip(items, out_of_fold(items, label, c), strict=True):
        if not it.q.answerable or not len(it.x):
            continue
        order = np.argsort(-score)
        n += 1
        top1 += bool(it.accepted[order[0]])
        top3 += bool(it.accepted[order[:3]].any())
        oracle += bool(it.accepted.any())
    figs = {"top1_accepted": top1 / n, "top3_any_accepted": top3 / n, "oracle": oracle / n}
    print(
        f"scorer ranking (CV): top sentence accepted {figs['top1_accepted']:.3f}, an accepted one in the top 3"
        f" {figs['top3_any_accepted']:.3f}, any accepted among the candidates {figs['oracle']:.3f}"
    )
    return figs


def cv_abstain(items: list[Item]) -> tuple[float, float, dict[str, float]]:
    fold = folds_of(items)
    x = np.vstack([it.evidence for it in items])
    y = np.array([it.q.answerable for it in items])
    best = None
    for c in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        p = np.zeros(len(items))
        for f in range(FOLDS):
            tr = np.array([k != f for k in fold])
            w = fit_lr(x[tr], y[tr], c)
            p[~tr] = x[~tr] @ w
        for t in np.arange(-3.0, 3.01, 0.1):
            answered = p >= t
            declined = int(np.sum(y & ~answered))
            wrong = int(np.sum(~y & answered))
            # Targets: answerable declined <= 1 in 30, unanswerable answered <= 1 in 10: weigh by them.
            cost = declined / max(y.sum(), 1) / (1 / 30) + wrong / max((~y).sum(), 1) / (1 / 10)
            if best is None or cost < best[0]:
                best = (cost, c, float(t), declined, wrong)
    cost, c, t, declined, wrong = best
    figs = {
        "declined": declined,
        "answerable": int(y.sum()),
        "answered": wrong,
        "unanswerable": int((~y).sum()),
    }
    print(
        f"abstain: C={c} threshold={t:.2f}  CV answerable declined {declined}/{int(y.sum())},"
        f" unanswerable answered {wrong}/{int((~y).sum())}"
    )
    return c, t, figs


# The query sets fitted on (their train splits): the seed articles and the 24 web pages, so the scorer
# learns from two kinds of writing (long prose; short pages with a heading per piece of advice).
SETS = (
    (ROOT / "eval" / "queries.jsonl", ROOT / "corpus", ROOT / "index"),
    (ROOT / "eval" / "webpages" / "answers.jsonl", ROOT / "eval" / "webpages" / "clean", WEB_INDEX),
)


def train_set(
    query_file: Path, corpus: Path, index: Path
) -> tuple[Retriever, list[Query], QuoteLocator, Paragraphs]:
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=index))
    if assistant.status(contents=True).stale:
        assistant.build()
    retriever = assistant.retriever
    queries = [q for q in load_queries(query_file) if q.split == "train"]  # the test split is never read
    articles = {}
    for record in retriever.index.manifest.articles.values():
        articles[record.path] = (corpus / record.path).read_text(encoding="utf-8")
    return retriever, queries, QuoteLocator(articles), Paragraphs(articles)


def main(argv: list[str]) -> None:
    objective = "reader"
    if "--objective" in argv:  # reader (default): the accept labels; quotes: the quote-and-paragraph rules
        at = argv.index("--objective")
        objective, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
    sets = [train_set(*paths) for paths in SETS]
    # The features do not depend on shipped weights, but what a "what else?" excludes (the previous
    # answer) does: gather with the rule-based composer and abstention, so a refit starts from the same place.
    fitted.COMPOSER.clear()
    fitted.ABSTAIN.clear()
    # Two rounds: the second gathers with the first round's composer, so what "what else?" excludes is
    # what the shipped composer said before.
    for _ in range(2):
        items = [
            it
            for retriever, queries, locator, paras in sets
            for it in gather(retriever, queries, locator, paras)
        ]
        label, c, floor, k_min, cv = cv_composer(items, objective)
        ceiling = ranking_ceiling(items, label, c)
        w = fit_scorer(items, label, c)
        fitted.COMPOSER.update(weights=w.tolist(), threshold=floor, min_sentences=k_min)
    rule = answer_figures(items, None)
    r, p = rule[2:] if objective == "reader" else rule[:2]
    cr, cp = cv[2:4] if objective == "reader" else cv[:2]
    use_rule = (harmonic(r, p), r) > (harmonic(cr, cp), cr)
    print(
        f"rule-based composer on train: recall {rule[0]:.3f} precision {rule[1]:.3f}; reader recall"
        f" {rule[2]:.3f} precision {rule[3]:.3f} -> {'rule-based' if use_rule else 'learned'} composer"
    )
    ac, at, acv = cv_abstain(items)
    aw = fit_lr(np.vstack([it.evidence for it in items]), np.array([it.q.answerable for it in items]), ac)
    composer = {
        "features": list(SENTENCE_FEATURES),
        "weights": [round(float(v), 5) for v in w],
        "threshold": floor,
        "min_sentences": k_min,
        "regularisation": c,
        "label": label,
        "cv_train": {
            "answer_recall": round(cv[0], 3),
            "answer_precision": round(cv[1], 3),
            "reader_recall": round(cv[2], 3),
            "reader_precision": round(cv[3], 3),
            **{k: round(v, 3) for k, v in ceiling.items()},
        },
    }
    abstain = {
        "features": list(EVIDENCE_FEATURES),
        "weights": [round(float(v), 5) for v in aw],
        "threshold": round(at, 3),
        "regularisation": ac,
        "cv_train": acv,
    }
    fitted.dump({} if use_rule else composer, abstain)
    for name, v in zip(SENTENCE_FEATURES, w, strict=True):
        print(f"  {name:24s} {v:+.3f}")
    for name, v in zip(EVIDENCE_FEATURES, aw, strict=True):
        print(f"  {name:24s} {v:+.3f}")
    print(f"wrote {fitted.PATH}")


if __name__ == "__main__":
    main(sys.argv[1:])
