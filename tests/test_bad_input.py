"""Bad input through the `rag` CLI: each gets one clear line and exit code 1, and nothing indexed is lost.

Each case runs in-process with click's CliRunner against a fresh copy of the session's real-model seed
index (the `seed_index` fixture; it is copied, never damaged). A case passes when:
- the exit code is 1, from click's own error handling and not a crash;
- the output is exactly one line, with no "Traceback", naming the offending file or value;
- the previous index still loads with the same passages. For a damaged index, the command changes
  nothing, and the `rag build` it names restores every passage.

The module ends by printing "bad inputs tried N / answered with a clear error M". Two inputs are
answered without an error by design (-k 10^9 is clamped, a format-99 index is rebuilt when asked to),
and are counted apart.

test_cli.py already covers `rag search` with -k 0, -k 10^9, an empty question, a 100,000-character
question, another model's fingerprint, and `rag build` with a missing corpus and a fresh index. Here
the same checks run through `rag ask`, `-k -3` and RAG_K=abc go to `rag search`, and the missing
corpus is tested beside an existing index.

It ends with property-based tests (hypothesis) of cleaning and chunking that complement
test_chunk.py: random code points (no surrogates), CRLF line endings, very long lines. Offsets always
slice back exactly. Every character of every kept paragraph is in a passage. No passage crosses a
heading or a dropped line. Neighbours share at most one sentence, and CRLF files chunk like LF ones.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.cli import main
from rag.config import ChunkParams
from rag.index.index_folder import load_index
from rag.index.manifest import CHUNKS, VECTORS
from rag.index.manifest import NAME as MANIFEST
from rag.ingest.chunk import chunk_article, sentence_spans
from rag.ingest.clean import classify
from rag.types import Article

CLINGY = "how do I avoid being clingy?"
SEED_ID = "000_724d5b54972ab479"
PNG = (  # a real 1x1 PNG: signature, IHDR, IDAT, IEND
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)

_tally: list[tuple[str, str]] = []  # (input, "clear error" | "handled" | "unclear")


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[list[tuple[str, str]]]:
    yield _tally
    clear = sum(outcome == "clear error" for _, outcome in _tally)
    handled = [name for name, outcome in _tally if outcome == "handled"]
    unclear = [name for name, outcome in _tally if outcome == "unclear"]
    print(f"\nbad inputs tried {len(_tally)} / answered with a clear error {clear}")
    print(f"  accepted and handled without an error, by design: {len(handled)} {handled}")
    print(f"  not a clear one-line error: {len(unclear)} {unclear}")


class Workspace:
    """A copy of the seed corpus and index, and what the index held before the bad input."""

    def __init__(self, seed_index: tuple[Path, Path], base: Path) -> None:
        corpus_src, index_src = seed_index
        self.base = base
        self.corpus, self.index = base / "corpus", base / "index"
        shutil.copytree(corpus_src, self.corpus)
        shutil.copytree(index_src, self.index)
        self.passages, self.hashes = self._contents()

    def _contents(self) -> tuple[int, set[str]]:
        loaded = load_index(self.index)
        return len(loaded.chunks), {m.sha256 for m in loaded.manifest.articles.values()}

    def folders(self) -> list[str]:
        return ["--corpus", str(self.corpus), "--index", str(self.index)]

    def nothing_lost(self) -> None:
        assert self._contents() == (self.passages, self.hashes), "the previous index changed"
        assert not list(self.base.glob(".index.building-*"))

    def file_bytes(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.index.iterdir() if p.is_file()}


@pytest.fixture
def ws(seed_index, tmp_path: Path) -> Workspace:
    return Workspace(seed_index, tmp_path)


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env)


def clear_error(name: str, args: list[str], names: list[str], env: dict[str, str] | None = None) -> str:
    """Run a bad input; record whether it got a clear one-line error; assert it did."""
    result = _invoke(args, env)
    lines = result.output.strip().splitlines()
    handled_by_click = isinstance(result.exception, SystemExit)  # a crash leaves the exception itself
    clear = (
        result.exit_code == 1
        and handled_by_click
        and len(lines) == 1
        and "Traceback" not in result.output
        and all(n in result.output for n in names)
    )
    _tally.append((name, "clear error" if clear else "unclear"))
    assert handled_by_click, f"{name}: crashed with {result.exception!r}"
    assert result.exit_code == 1, f"{name}: exit code {result.exit_code}: {result.output}"
    assert len(lines) == 1 and "Traceback" not in result.output, f"{name}: {result.output}"
    for n in names:
        assert n in lines[0], f"{name}: the message does not name {n!r}: {lines[0]}"
    return lines[0]


# ---- articles that a build refuses ----------------------------------------------------------------

BAD_ARTICLES = [
    ("empty file", "empty.txt", b"", ["empty.txt", "is empty"]),
    ("whitespace-only file", "blank.txt", b" \n\t\r\n   \n", ["blank.txt", "only whitespace"]),
    ("binary file (PNG bytes)", "photo.md", PNG, ["photo.md", "looks binary"]),
    (
        "non-UTF-8 (latin-1) file",
        "latin1.txt",
        "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, \u00e0 la carte.".encode("latin-1"),
        ["latin1.txt", "not valid UTF-8 (byte 3)"],
    ),
    (
        "file with NUL bytes",
        "nul.txt",
        b"A normal sentence.\x00Another one follows.\n",
        ["nul.txt", "NUL bytes"],
    ),
    (
        "UTF-16 file (Notepad 'Unicode')",
        "utf16.txt",
        "Notes saved as UTF-16. They have two sentences.".encode("utf-16"),
        ["utf16.txt"],
    ),
    (
        "front matter that does not parse",
        "bad-front.md",
        b"---\ntitle: [unclosed\nauthor: Ann\n---\nThe body of the article is here.\n",
        ["bad-front.md", "front matter does not parse at line 3"],
    ),
    (
        "front matter that is a list",
        "list-front.md",
        b"---\n- one\n- two\n---\nThe body of the article is here.\n",
        ["list-front.md", "front matter is not a set of 'key: value' lines"],
    ),
    (
        "two files with one article id",
        f"{SEED_ID}.md",
        b"Another article under the same name. It has text.\n",
        [f"{SEED_ID}.md", f"{SEED_ID}.txt", f"article id '{SEED_ID}'"],
    ),
]


@pytest.mark.parametrize(
    ("name", "filename", "data", "names"), BAD_ARTICLES, ids=[c[0] for c in BAD_ARTICLES]
)
def test_bad_article_is_refused_and_the_index_kept(ws: Workspace, name, filename, data, names):
    (ws.corpus / filename).write_bytes(data)
    line = clear_error(name, ["build", *ws.folders()], names)
    print(f"\n{name}: {line}")
    ws.nothing_lost()


def test_50_mb_article_is_refused_and_the_index_kept(ws: Workspace):
    huge = ws.corpus / "huge.txt"
    block = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 1000
    with huge.open("wb") as fh:
        while fh.tell() < 50 * 2**20:
            fh.write(block)
    size_mb = f"{huge.stat().st_size / 1e6:.1f} MB"
    line = clear_error("a 50 MB article", ["build", *ws.folders()], ["huge.txt", size_mb, "limit is 10 MiB"])
    print(f"\na 50 MB article: {line}")
    huge.unlink()
    ws.nothing_lost()


# ---- corpus folders --------------------------------------------------------------------------------


def test_missing_corpus_folder_keeps_the_existing_index(ws: Workspace):
    missing = ws.base / "no-such-folder"
    args = ["build", "--corpus", str(missing), "--index", str(ws.index)]
    clear_error("a corpus folder that does not exist", args, [str(missing), "does not exist"])
    ws.nothing_lost()


def test_corpus_that_is_a_file_keeps_the_existing_index(ws: Workspace):
    article = ws.corpus / f"{SEED_ID}.txt"
    args = ["build", "--corpus", str(article), "--index", str(ws.index)]
    clear_error("a corpus path that is a file", args, [str(article), "is not a folder"])
    ws.nothing_lost()


def test_emptied_corpus_does_not_replace_the_index_with_an_empty_one(ws: Workspace):
    for f in ws.corpus.iterdir():
        f.unlink()
    clear_error("an empty corpus folder", ["build", *ws.folders()], [str(ws.corpus), "has no .txt or .md"])
    ws.nothing_lost()


def test_index_path_that_is_a_file_is_refused_and_the_file_kept(ws: Workspace):
    notes = ws.base / "notes.md"
    notes.write_text("my own notes, not an index\n", encoding="utf-8")
    args = ["build", "--corpus", str(ws.corpus), "--index", str(notes)]
    try:
        clear_error("rag build --index <an existing file>", args, ["notes.md"])
    finally:
        kept = notes.is_file() and notes.read_text(encoding="utf-8") == "my own notes, not an index\n"
    assert kept, f"{notes} was replaced by {'a folder' if notes.is_dir() else 'nothing'}"


# ---- query files for rag eval ----------------------------------------------------------------------


def _eval(ws: Workspace, query_file: Path) -> list[str]:
    return ["eval", str(query_file), *ws.folders(), "--out", str(ws.base / "runs")]


def test_malformed_jsonl_names_the_line(ws: Workspace):
    qf = ws.base / "queries.jsonl"
    good = {"id": "q1", "question": CLINGY, "quotes": ["Desire needs space."]}
    qf.write_text(json.dumps(good) + '\n{"id": "q2", "question": "trust?" "quotes": []}\n', encoding="utf-8")
    line = clear_error(
        "malformed JSONL query file", _eval(ws, qf), ["queries.jsonl line 2", "not valid JSON"]
    )
    print(f"\nmalformed JSONL: {line}")
    ws.nothing_lost()


def test_quote_found_nowhere_names_query_and_quote(ws: Workspace):
    qf = ws.base / "queries.jsonl"
    quote = "Bananas grow on the far side of the moon."
    qf.write_text(json.dumps({"id": "moon", "question": CLINGY, "quotes": [quote]}) + "\n", encoding="utf-8")
    line = clear_error("a quote that occurs nowhere", _eval(ws, qf), ["moon", quote])
    print(f"\nquote found nowhere: {line}")
    ws.nothing_lost()


def test_missing_query_file(ws: Workspace):
    qf = ws.base / "none.jsonl"
    clear_error("a query file that does not exist", _eval(ws, qf), [str(qf), "does not exist"])


# ---- damaged or foreign indexes ------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(("filename", "command"), [(VECTORS, "search"), (CHUNKS, "ask")])
def test_truncated_index_file_names_it_and_rag_build_repairs(ws: Workspace, filename: str, command: str):
    _truncate(ws.index / filename)
    damaged = ws.file_bytes()
    line = clear_error(
        f"truncated index/{filename} ({command})",
        [command, CLINGY, *ws.folders()],
        [filename, "truncated or corrupted", "rag build"],
    )
    print(f"\ntruncated {filename}: {line}")
    assert ws.file_bytes() == damaged, "a read-only command changed the index"
    rebuilt = _invoke(["build", *ws.folders()])  # the fix the message names
    assert rebuilt.exit_code == 0, rebuilt.output
    ws.nothing_lost()  # every passage is back


def _edit_manifest(ws: Workspace, edit) -> None:
    manifest = json.loads((ws.index / MANIFEST).read_text(encoding="utf-8"))
    edit(manifest)
    (ws.index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def test_manifest_from_a_newer_format(ws: Workspace):
    _edit_manifest(ws, lambda m: m.update(format=99))
    before = ws.file_bytes()
    line = clear_error(
        "a manifest of index format 99", ["search", CLINGY, *ws.folders()], ["format 99", "upgrade rag"]
    )
    print(f"\nformat 99: {line}")
    assert ws.file_bytes() == before
    # Asked explicitly, `rag build` rebuilds it in the current format from the articles.
    rebuilt = _invoke(["build", *ws.folders()])
    assert rebuilt.exit_code == 0 and "full rebuild: the previous index is unusable" in rebuilt.output
    _tally.append(("rag build over a format-99 index (rebuilds, as its message offers)", "handled"))
    ws.nothing_lost()


def test_index_built_with_other_model_files(ws: Workspace):
    _edit_manifest(ws, lambda m: m["embedder"].update(fingerprint="0" * 64))
    line = clear_error(
        "an index built with another model (ask)",
        ["ask", CLINGY, *ws.folders()],
        ["the files of model sentence-transformers/all-MiniLM-L6-v2 changed", "rag build"],
    )
    print(f"\nanother model: {line}")


def test_other_model_message_says_what_differs(ws: Workspace):
    _edit_manifest(ws, lambda m: m["embedder"].update(fingerprint="0" * 64))
    output = _invoke(["ask", CLINGY, *ws.folders()]).output
    names = re.findall(r"sentence-transformers/all-MiniLM-L6-v2", output.split(" - ")[0])
    assert len(names) < 2, f"the same model is named as both sides of the difference: {output}"
    assert "without --model" not in output, output  # no --model was given


# ---- questions and -k ----------------------------------------------------------------------------


def test_100_kb_question(ws: Workspace):
    line = clear_error(
        "a 100 KB question (ask)", ["ask", "x" * 100_000, *ws.folders()], ["100,000 characters", "2,000"]
    )
    print(f"\n100 KB question: {line}")


def test_empty_question(ws: Workspace):
    clear_error("an empty question (ask)", ["ask", "", *ws.folders()], ["the question is empty"])


@pytest.mark.parametrize(
    ("command", "k", "names"),
    [("ask", "0", ["-k must be at least 1 (got 0)"]), ("search", "-3", ["-k must be at least 1 (got -3)"])],
)
def test_k_below_one(ws: Workspace, command: str, k: str, names: list[str]):
    clear_error(f"-k {k} ({command})", [command, CLINGY, "-k", k, *ws.folders()], names)


def test_rag_k_that_is_not_a_number(ws: Workspace):
    clear_error(
        "RAG_K=abc (search)",
        ["search", CLINGY, *ws.folders()],
        ["RAG_K='abc'", "not a whole number"],
        {"RAG_K": "abc"},
    )


def test_k_of_a_billion_is_clamped_and_answered(ws: Workspace):
    result = _invoke(["ask", CLINGY, "-k", str(10**9), "--json", *ws.folders()])
    assert result.exit_code == 0, result.output
    reply = json.loads(result.output)
    assert not reply["abstained"] and "[1]" in reply["text"]
    assert len(reply["retrieved"]) <= ws.passages
    for src in reply["sources"]:
        original = Path(src["path"]).read_text(encoding="utf-8")
        assert original[src["start"] : src["end"]] == src["sentence_text"]
    _tally.append(("-k 10^9 (ask; clamped to the passages there are)", "handled"))


# ---- properties of cleaning and chunking -----------------------------------------------------------


def _article(text: str) -> Article:
    blocks, title, source, author = classify(text)
    return Article("a", "a.txt", text, "0", title or "a", source or "filename", author, "", blocks)


_ANY_CHAR = st.characters(blacklist_categories=("Cs",))  # every code point but lone surrogates
_WORD = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=12)
_SENTENCE = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(_WORD, min_size=1, max_size=30),
    st.sampled_from([".", "!", "?", "…", ";", ""]),
)
_LONG_LINE = st.builds(" ".join, st.lists(_WORD, min_size=150, max_size=600))  # one line, many words
_LINE = st.one_of(
    st.text(_ANY_CHAR, max_size=120),
    st.builds(" ".join, st.lists(_SENTENCE, max_size=6)),
    _LONG_LINE,
    st.sampled_from(["", "", "# Heading", "## Sub heading", "Related: x", "Pages: 1 2", "Use Mystery"]),
)
_PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


@_PROPERTY_SETTINGS
@given(st.lists(_LINE, max_size=20), st.sampled_from(["\n", "\r\n"]), st.integers(10, 80), st.integers(0, 2))
def test_property_any_text_chunks_into_exact_covering_passages(lines, eol, max_words, overlap):
    text = eol.join(lines)
    article = _article(text)
    chunks = chunk_article(article, ChunkParams(max_words=max_words, overlap_sentences=overlap))
    spans = [(c.start, c.end) for c in chunks]
    for c in chunks:
        assert text[c.start : c.end] == c.text and c.text and c.text.strip() == c.text
        assert len(c.text.split()) <= max_words * 5 // 4  # a short tail may be absorbed, no more
    assert len(set(spans)) == len(spans), "a passage is repeated"
    assert spans == sorted(spans)
    for block in article.blocks:
        if block.kind in ("paragraph", "bio"):  # every character of every kept paragraph is in a passage
            for pos in range(block.start, block.end):
                if not text[pos].isspace():
                    assert any(s <= pos < e for s, e in spans), f"{text[pos]!r} at {pos} is in no passage"
        else:  # headings and dropped lines are never inside a passage
            assert not any(s < block.end and block.start < e for s, e in spans), block


@_PROPERTY_SETTINGS
@given(st.lists(_LINE, max_size=20), st.sampled_from(["\n", "\r\n"]), st.integers(10, 80))
def test_property_neighbours_share_at_most_one_sentence(lines, eol, max_words):
    text = eol.join(lines)
    article = _article(text)
    spans = [(c.start, c.end) for c in chunk_article(article, ChunkParams(max_words=max_words))]
    sentences = [
        s
        for b in article.blocks
        if b.kind in ("paragraph", "bio")
        for s in sentence_spans(text, b.start, b.end)
    ]
    for i, (_, end) in enumerate(spans):
        for later_start, _ in spans[i + 2 :]:
            assert end <= later_start, "a passage overlaps one that is not its neighbour"
        if i + 1 < len(spans) and spans[i + 1][0] < end:
            shared = (spans[i + 1][0], end)
            assert any(s <= shared[0] and shared[1] <= e for s, e in sentences), text[shared[0] : shared[1]]


@_PROPERTY_SETTINGS
@given(st.lists(_LINE, max_size=20), st.integers(10, 80), st.integers(0, 2))
def test_property_crlf_file_chunks_like_lf_file(lines, max_words, overlap):
    lf = "\n".join(lines)
    if "\r" in lf:
        return  # a stray CR inside a line has no LF twin
    params = ChunkParams(max_words=max_words, overlap_sentences=overlap)
    unix, windows = _article(lf), _article("\r\n".join(lines))
    assert [b.kind for b in unix.blocks] == [b.kind for b in windows.blocks]
    a, b = chunk_article(unix, params), chunk_article(windows, params)
    assert [(c.section, c.text) for c in a] == [(c.section, c.text.replace("\r\n", "\n")) for c in b]
