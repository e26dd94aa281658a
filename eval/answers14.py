"""Regenerate the *After* answers of eval/answers-14.md (the 14 questions of issue #12) on this checkout.

    .venv/bin/python eval/answers14.py          # after `rag build`; rewrites eval/answers-14.md in place

Each question is asked as `rag ask` asks it (Assistant.ask with the default settings, follow-ups with their
earlier question as history). Question 9 is asked of an index built, in a temporary folder, from the seed
corpus without the article it is about (002_...), as a question about removed content. The *Before* lines
(commit b52193a) are kept as they are in the file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.assistant import Assistant  # noqa: E402
from rag.config import Settings  # noqa: E402

FILE = ROOT / "eval" / "answers-14.md"
REMOVED = "002_28c6eb84cb694cfe.txt"  # the article question 9 is about


def questions() -> list[tuple[str, list[str], bool]]:
    """(question, history, asked without REMOVED) in the file's order."""
    situation = next(
        json.loads(line)["question"]
        for line in (ROOT / "eval" / "queries.jsonl").read_text(encoding="utf-8").splitlines()
        if '"q147"' in line
    )
    clingy, post = "how do I avoid being clingy?", "should I post on social media so my boyfriend misses me?"
    return [
        (clingy, [], False),
        ("how do I make him miss me?", [], False),
        ("why does mystery work?", [], False),
        ("how do I make someone miss me?", [], False),
        ("what's the most important step to make someone miss you?", [], False),
        ("how do I get over a breakup?", [], False),
        ("should we try marriage counselling?", [], False),
        ("how do I make a long-distance relationship work?", [], False),
        ("why should I take full responsibility for my own happiness?", [], True),
        (situation, [], False),
        ("and what about texting?", [clingy], False),
        ("why?", [post], False),
        ("what else?", ["how do I make him miss me?"], False),
        ("should I trust my boyfriend?", [], False),
    ]


def answers() -> list[str]:
    settings = Settings.from_env()
    assistant = Assistant(settings)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(settings.corpus_dir, corpus, ignore=shutil.ignore_patterns(REMOVED))
        without = Assistant(replace(settings, corpus_dir=corpus, index_dir=Path(tmp) / "index"))
        without.build()
        for question, history, removed in questions():
            reply = (without if removed else assistant).ask(question, history=history)
            out.append(" ".join(reply.answer.text.split()))
    return out


def main() -> None:
    text = FILE.read_text(encoding="utf-8")
    after = iter(answers())
    text = re.sub(r"(?m)^- \*\*After:\*\* .*$", lambda m: f"- **After:** {next(after)}", text)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    text = re.sub(
        r"\*After\*: .*?(?=Question 9)",
        f"*After*: commit {commit}, regenerated on {date.today()} by `eval/answers14.py`. ",
        text,
        count=1,
        flags=re.S,
    )
    FILE.write_text(text, encoding="utf-8")
    print(f"rewrote {FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
