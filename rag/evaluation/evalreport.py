"""Show, save and compare evaluation runs: the table, the saved run and its plot, paired significance.

A saved run is JSON (metrics, latency, settings, and per query: first relevant rank, top passage,
scores); `compare` pairs two runs by query id, lists the queries that improved or regressed on the main
metric and gives a paired t-test and a Wilcoxon signed-rank test (scipy). It does not run queries
(evaluate.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import QueryError
from .evaluate import EvalRun

MAIN_METRIC = "nDCG@10"


def table_lines(run: EvalRun, published: dict[str, float] | None = None) -> list[str]:
    """The readable summary `rag eval` prints."""
    answerable = [r for r in run.results if r.answerable]
    out = [
        f"{run.kind} {run.source}: {len(answerable)} ranked queries, {len(run.unanswerable)} unanswerable, "
        f"{run.seconds:.1f} s"
    ]
    width = max(len(k) for k in run.metrics) if run.metrics else 8
    head = f"  {'metric':<{width}}  {'value':>6}" + ("  published" if published else "")
    out.append(head)
    for name, value in run.metrics.items():
        pub = f"  {published[name]:>9.4f}" if published and name in published else ""
        out.append(f"  {name:<{width}}  {value:6.4f}{pub}")
    lat = run.latency_ms
    out.append(f"  latency per query: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms (n={lat['n']})")
    if (abst := run.abstention()) is not None:
        out.append(
            f"  abstention: {abst['unanswerable_abstained']}/{abst['unanswerable']} unanswerable questions abstained,"
            f" {abst['answerable_abstained']}/{abst['answerable']} answerable questions wrongly abstained"
        )
        wrong = [r.qid for r in run.results if r.answerable and r.abstained]
        missed = [r.qid for r in run.unanswerable if not r.abstained]
        if wrong or missed:
            out.append(
                f"    wrongly abstained: {', '.join(wrong) or '-'}; answered though unanswerable: {', '.join(missed) or '-'}"
            )
    out.extend(answer_lines(run))
    if run.unanswerable:
        scores = ", ".join(f"{r.qid} {r.top_score:.3f}" for r in run.unanswerable if r.top_score is not None)
        out.append(f"  unanswerable queries, top score: {scores}")
    misses = [r.qid for r in answerable if r.first_relevant_rank is None]
    if misses and run.kind == "queries":
        out.append(f"  nothing relevant retrieved for: {', '.join(misses)}")
    return out


def answer_lines(run: EvalRun) -> list[str]:
    """Answer-level figures per split (answereval.py), when the run has them."""
    if not run.answers:
        return []
    out = ["  answers (answereval.py):"]
    out.append(
        f"    {'split':<6} {'questions':>9} {'recall':>7} {'precision':>9} {'answerable declined':>20}"
        f" {'unanswerable answered':>22} {'follow-ups in context':>22}"
    )
    for split in [s for s in ("train", "test") if s in run.answers] + ["all"]:
        f = run.answers[split]
        out.append(
            f"    {split:<6} {int(f['questions']):>9} {f['answer_recall']:>7.3f} {f['answer_precision']:>9.3f}"
            f" {int(f['answerable_declined']):>11} of {int(f['answerable']):<6}"
            f" {int(f['unanswerable_answered']):>13} of {int(f['unanswerable']):<6}"
            f" {int(f['follow_ups_in_context']):>13} of {int(f['follow_ups']):<6}"
        )
    misses = [r.qid for r in run.results if r.answerable and r.answer_hit is False]
    if misses:
        out.append(f"    answers that miss the labelled evidence: {', '.join(misses)}")
    if "reader_recall" in run.answers["all"]:
        out.append("  answers against every sentence a reader accepts (the query file's accept labels):")
        out.append(f"    {'split':<6} {'recall':>7} {'precision':>9} {'follow-ups in context':>22}")
        for split in [s for s in ("train", "test") if s in run.answers] + ["all"]:
            f = run.answers[split]
            out.append(
                f"    {split:<6} {f['reader_recall']:>7.3f} {f['reader_precision']:>9.3f}"
                f" {int(f['reader_follow_ups_in_context']):>13} of {int(f['follow_ups']):<6}"
            )
        misses = [r.qid for r in run.results if r.answerable and r.reader_hit is False]
        if misses:
            out.append(f"    answers that quote no accepted sentence: {', '.join(misses)}")
    return out


def answer_diffs(before: EvalRun, after: EvalRun) -> list[str]:
    """Per query, the answers that changed between two runs: the hit before and after, and both texts."""
    old = {r.qid: r for r in before.results if r.answer_text is not None}
    out = []
    for r in after.results:
        o = old.get(r.qid)
        if o is None or r.answer_text is None or o.answer_text == r.answer_text:
            continue
        mark = {True: "hit", False: "miss", None: "-"}
        out.append(f"  answer {r.qid} ({mark[o.answer_hit]} -> {mark[r.answer_hit]}): {r.question}")
        out.append(f"    before: {o.answer_text}")
        out.append(f"    after:  {r.answer_text}")
    return out


def save_run(run: EvalRun, out_dir: Path, label: str) -> Path:
    """Write the run as JSON and its recall@k plot as PNG beside it; return the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"{label}-{stamp}.json"
    path.write_text(json.dumps(run.to_json(), indent=1, ensure_ascii=False), encoding="utf-8")
    plot_run(run, path.with_suffix(".png"))
    return path


def plot_run(run: EvalRun, path: Path) -> None:
    """Recall@k curve and the histogram of first relevant ranks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ks = sorted(run.recall_curve)
    left.plot(ks, [run.recall_curve[k] for k in ks], marker="o")
    left.set(xlabel="k", ylabel="Recall@k", title=f"Recall@k — {run.source}", ylim=(0, 1.02))
    left.set_xscale("log" if ks and ks[-1] > 10 else "linear")
    left.grid(alpha=0.3)
    ranks = [r.first_relevant_rank for r in run.results if r.answerable]
    found = [r for r in ranks if r is not None]
    right.hist(found, bins=range(1, max(found, default=1) + 2), align="left", rwidth=0.8)
    right.set(
        xlabel="rank of the first relevant result",
        ylabel="queries",
        title=f"{len(ranks) - len(found)} of {len(ranks)} with nothing relevant",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def load_run(path: Path) -> EvalRun:
    try:
        return EvalRun.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise QueryError(f"run file {path} does not exist - pass a .json file saved by rag eval") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QueryError(
            f"{path} is not a run saved by rag eval ({exc.__class__.__name__}) - pass another"
        ) from None


@dataclass(frozen=True)
class Comparison:
    metric: str
    before: float
    after: float
    improved: list[tuple[str, float, float]]
    regressed: list[tuple[str, float, float]]
    unchanged: int
    t_test_p: float | None
    wilcoxon_p: float | None

    def lines(self) -> list[str]:
        out = [
            f"{self.metric}: {self.before:.4f} -> {self.after:.4f} ({self.after - self.before:+.4f}); "
            f"{len(self.improved)} improved, {len(self.regressed)} regressed, {self.unchanged} unchanged"
        ]
        if self.t_test_p is not None:
            out.append(
                f"  paired t-test p = {self.t_test_p:.4f}; Wilcoxon signed-rank p = {self.wilcoxon_p:.4f}"
            )
        else:
            out.append("  no per-query differences, so no significance test")
        for label, rows in (("improved", self.improved), ("regressed", self.regressed)):
            for qid, old, new in rows:
                out.append(f"  {label:9} {qid}: {old:.3f} -> {new:.3f}")
        return out

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def compare(before: EvalRun, after: EvalRun, metric: str = MAIN_METRIC) -> Comparison:
    """Pair the two runs' queries and test whether `metric` changed."""
    from scipy import stats

    old = {r.qid: r.metrics[metric] for r in before.results if metric in r.metrics}
    new = {r.qid: r.metrics[metric] for r in after.results if metric in r.metrics}
    shared = [q for q in new if q in old]
    if not shared:
        raise QueryError(f"the two runs share no query with {metric} - compare runs of the same test set")
    improved = [(q, old[q], new[q]) for q in shared if new[q] > old[q] + 1e-9]
    regressed = [(q, old[q], new[q]) for q in shared if new[q] < old[q] - 1e-9]
    diffs = [new[q] - old[q] for q in shared]
    t_p = w_p = None
    if any(abs(d) > 1e-9 for d in diffs):
        t_p = float(stats.ttest_rel([new[q] for q in shared], [old[q] for q in shared]).pvalue)
        w_p = float(stats.wilcoxon(diffs, zero_method="zsplit").pvalue)
    return Comparison(
        metric,
        sum(old[q] for q in shared) / len(shared),
        sum(new[q] for q in shared) / len(shared),
        sorted(improved, key=lambda r: r[1] - r[2]),
        sorted(regressed, key=lambda r: r[2] - r[1]),
        len(shared) - len(improved) - len(regressed),
        t_p,
        w_p,
    )
