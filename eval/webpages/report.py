"""Score the cleaner on the labelled test pages (make_pages.py), split into tuning and held-out pages.

Per split: boilerplate lines that end up in a passage, by kind (an author bio counts only when it is in
an advice passage, not in "About the author"); section names that are not real headings; real headings
kept as section names; titles right; advice sentences dropped; and, unless --no-retrieval, MRR@10 of
each page's question (a passage holding the answer's words is relevant) on the pages as they are and on
the same pages with the boilerplate deleted by hand (clean/), with the real model and hybrid retrieval.

Run: .venv/bin/python eval/webpages/report.py [--no-retrieval] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LABELS = json.loads((HERE / "labels.json").read_text(encoding="utf-8"))
SPLITS = ("tuning", "held_out")


def _key(s: str) -> str:
    from rag.ingest.lines import normalise, visible

    return normalise(visible(s))


def passages_by_file(corpus_dir: Path, alone: bool = False) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Read and chunk every page the way `rag build` does: {file: Article}, {file: [Chunk]}.

    alone: each page as if it were the only article (no evidence from lines recurring across pages)."""
    from rag.config import ChunkParams
    from rag.index.line_facts import survey
    from rag.ingest.chunk import chunk_article
    from rag.ingest.read import discover, read_article

    files = discover(corpus_dir)
    common = frozenset() if alone else survey(corpus_dir, files, None).common
    articles, chunks = {}, {}
    for path in files:
        a = read_article(corpus_dir, path, common=common)
        articles[path.name], chunks[path.name] = a, chunk_article(a, ChunkParams())
    return articles, chunks


def _sentences(paragraph: str) -> list[str]:
    parts = [p.removeprefix("- ") for p in paragraph.split("\n")]
    return [s for p in parts for s in re.split(r"(?<=[.!?])\s+", p) if s.strip()]


def cleaning_scores(corpus_dir: Path, alone: bool = False) -> dict[str, dict[str, Any]]:
    """The cleaning figures per split (and 'all')."""
    from rag.ingest.chunk import BIO_SECTION

    articles, chunks = passages_by_file(corpus_dir, alone)
    out: dict[str, dict[str, Any]] = {}
    for split in (*SPLITS, "all"):
        pages = [p for p in LABELS if split in ("all", p["split"])]
        by_kind: dict[str, list[int]] = {}
        bad_sections: list[str] = []
        leaks: list[str] = []
        headings = kept = titles = advice = dropped = 0
        wrong_titles, dropped_text = [], []
        for page in pages:
            a, cs = articles[page["file"]], chunks[page["file"]]
            advice_cs = [c for c in cs if c.section != BIO_SECTION]
            line_keys = [{_key(x) for x in re.split(r"\r\n|\r|\n", c.text)} for c in advice_cs]
            all_keys = [_key(c.text) for c in cs]
            for item in page["boilerplate"]:
                k = _key(item["text"])
                pool = (
                    line_keys
                    if item["kind"] == "bio"
                    else [{_key(x) for x in re.split(r"\r\n|\r|\n", c.text)} for c in cs]
                )
                text_pool = [_key(c.text) for c in (advice_cs if item["kind"] == "bio" else cs)]
                hit = any(k in keys for keys in pool) or (len(k) >= 25 and any(k in t for t in text_pool))
                counts = by_kind.setdefault(item["kind"], [0, 0])
                counts[0] += hit
                counts[1] += 1
                if hit:
                    leaks.append(f"{page['file']}: [{item['kind']}] {item['text']}")
            real = {_key(h) for h in page["headings"]}
            names = {part for c in advice_cs for part in c.section.split(" > ") if part}
            bad_sections += [f"{page['file']}: {n}" for n in sorted(names) if _key(n) not in real]
            headings += len(real)
            kept += len(real & {_key(n) for n in names})
            if _key(a.title) == _key(page["title"]):
                titles += 1
            else:
                wrong_titles.append(f"{page['file']}: {a.title!r} (source {a.title_source})")
            joined = "".join(all_keys)
            for para in page["advice"]:
                for sent in _sentences(para):
                    advice += 1
                    if _key(sent) not in joined:
                        dropped += 1
                        dropped_text.append(f"{page['file']}: {sent}")
        present = sum(v[1] for v in by_kind.values())
        leaked = sum(v[0] for v in by_kind.values())
        out[split] = {
            "pages": len(pages),
            "boilerplate_lines": present,
            "leaked": leaked,
            "leak_rate": round(leaked / max(present, 1), 4),
            "leaks_by_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(by_kind.items())},
            "section_names_not_headings": len(bad_sections),
            "headings_kept": f"{kept}/{headings}",
            "titles_right": f"{titles}/{len(pages)}",
            "advice_sentences_dropped": f"{dropped}/{advice}",
            "details": {
                "leaks": leaks,
                "bad_sections": bad_sections,
                "wrong_titles": wrong_titles,
                "dropped": dropped_text,
            },
        }
    return out


def mrr_at_10(corpus_dir: Path, work_dir: Path) -> dict[str, float]:
    """MRR@10 per split of the pages' questions on an index of corpus_dir (real model, hybrid)."""
    from rag.assistant import Assistant
    from rag.config import ChunkParams, Settings
    from rag.index.build import build
    from rag.index.embed import SentenceTransformerEmbedder

    index_dir = work_dir / "index"
    settings = Settings(corpus_dir=corpus_dir, index_dir=index_dir)
    build(corpus_dir, index_dir, SentenceTransformerEmbedder(settings.model), ChunkParams(), progress=False)
    retriever = Assistant(settings).retriever
    rr: dict[str, list[float]] = {s: [] for s in SPLITS}
    for page in LABELS:
        want = _key(page["answer"])
        passages = retriever.search(page["question"], 10)
        rank = next((p.rank for p in passages if want in _key(p.chunk.text)), None)
        rr[page["split"]].append(1.0 / rank if rank else 0.0)
    out = {s: round(sum(v) / len(v), 4) for s, v in rr.items()}
    out["all"] = round(sum(sum(v) for v in rr.values()) / len(LABELS), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-retrieval", action="store_true", help="skip the MRR@10 comparison (no model)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--details", action="store_true", help="list every leak, bad section, title and drop")
    parser.add_argument("--split", choices=(*SPLITS, "all"), help="print only this split")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pages = Path(tmp) / "pages"
        shutil.copytree(HERE / "pages", pages)
        scores = cleaning_scores(pages)
        for split, s in cleaning_scores(pages, alone=True).items():
            scores[split]["each_page_alone"] = {k: v for k, v in s.items() if k not in ("details", "pages")}
        if not args.no_retrieval:
            cleaned = Path(tmp) / "clean"
            shutil.copytree(HERE / "clean", cleaned)
            as_is = mrr_at_10(pages, Path(tmp) / "w1")
            by_hand = mrr_at_10(cleaned, Path(tmp) / "w2")
            for split in scores:
                scores[split]["mrr@10"] = as_is[split]
                scores[split]["mrr@10_hand_cleaned"] = by_hand[split]
    for split, s in scores.items():
        if args.split and split != args.split:
            continue
        print(f"== {split}: {s['pages']} pages")
        for k, v in s.items():
            if k not in ("details", "pages"):
                print(f"  {k}: {v}")
        if args.details:
            for k, items in s["details"].items():
                for item in items:
                    print(f"    {k}: {item}")
    if args.json:
        args.json.write_text(json.dumps(scores, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.exit(0)


if __name__ == "__main__":
    main()
