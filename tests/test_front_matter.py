"""Front matter is parsed with limits: no YAML aliases, bounded size and depth (security issue #16, item 4)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest.read import MAX_FRONT_MATTER_CHARS, read_article

# The classic "billion laughs": 344 bytes of YAML whose aliases expand to 10^9 strings when used.
LAUGHS = (
    "---\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "title: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    "---\n"
    "Some text of the article, long enough to be a paragraph.\n"
)


def test_billion_laughs_is_refused_within_a_memory_limit(tmp_path: Path):
    """In a child limited to 1 GiB of address space: today's loader refuses the alias at once; a loader
    that expands it (str() of the title) runs out of memory or time instead."""
    (tmp_path / "laughs.md").write_text(LAUGHS, encoding="utf-8")
    child = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from rag.errors import CorpusError
        from rag.ingest.read import read_article
        try:
            read_article(Path({str(tmp_path)!r}), Path({str(tmp_path / "laughs.md")!r}))
        except CorpusError as exc:
            print(exc)
            sys.exit(0)
        sys.exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert "laughs.md: front matter does not parse" in done.stdout
    assert "aliases" in done.stdout


def test_aliases_depth_and_size_are_limited(tmp_path: Path):
    cases = {
        "alias.md": ("---\nx: &x hello\ntitle: *x\n---\nText of the article here.\n", "aliases"),
        "deep.md": (
            "---\ntitle: " + "[" * 50 + "]" * 50 + "\n---\nText of the article here.\n",
            "nested deeper",
        ),
        "big.md": (
            "---\ntitle: t\nnotes: " + "x" * (MAX_FRONT_MATTER_CHARS + 10) + "\n---\nText of the article.\n",
            "the limit is",
        ),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(CorpusError, match=message):
            read_article(tmp_path, tmp_path / name)


def test_ordinary_front_matter_still_parses(tmp_path: Path):
    text = "---\r\ntitle: Nested ok\r\ntags: [a, b]\r\nextra: {k: [1, 2]}\r\n---\r\nText of the article here.\r\n"
    (tmp_path / "ok.md").write_bytes(text.encode())
    a = read_article(tmp_path, tmp_path / "ok.md")
    assert a.title == "Nested ok" and a.title_source == "front_matter"
    body = [a.span(b) for b in a.blocks if b.kind == "paragraph"]
    assert body == ["Text of the article here."]
