"""Cleaning: the seed articles' boilerplate is classified, by general rules, and offsets stay exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest.clean import classify
from rag.ingest.lines import heading_like, normalise
from rag.ingest.read import read_article

from .conftest import SEED_DIR


def _article(name: str):
    return read_article(SEED_DIR, SEED_DIR / name)


def _texts(article, kind: str) -> list[str]:
    return [article.span(b) for b in article.blocks if b.kind == kind]


def test_seed_title_detected_and_repeats_dropped():
    a = _article("002_28c6eb84cb694cfe.txt")
    assert a.title.startswith("How To Make A Man Miss You") and a.title_source == "detected"
    # once as the title, then four repeats: the second line and three image captions mid-text
    assert len(_texts(a, "title_repeat")) == 4
    assert all("How To Make A Man" not in t for t in _texts(a, "paragraph"))


def test_seed_links_pager_caption_bio():
    a = _article("002_28c6eb84cb694cfe.txt")
    assert [t.split(":")[0] for t in _texts(a, "link")] == ["Related", "Related"]
    assert _texts(a, "pager") == ["Pages: 1 2"]
    assert _texts(a, "caption") == [
        "Without Trust, Honesty, And Communication, Love Is Just Another Four Letter Word"
    ]
    assert a.author == "Clayton Olson"
    assert a.bio.startswith("Clayton Olson is an International Relationship Coach")
    assert "View Author posts" not in a.bio
    headings = _texts(a, "heading")
    assert headings == ["Step 1: Take Full Responsibility for Your Happiness", "Step 2: Trust Him"]


def test_seed_without_title_keeps_epigraph_and_headings():
    a = _article("000_724d5b54972ab479.txt")
    assert a.title_source == "filename"
    assert _texts(a, "heading") == [
        "The first and most vital step",
        "The worst thing you’ll likely do",
        "Use mystery",
        "Highlight fun moments",
        "How to be someone worth missing",
    ]
    assert _texts(a, "paragraph")[0].startswith("“…love is a skill")
    # a body line that ends in a quoted sentence is not a heading
    assert any("“Desire needs space.”" in t for t in _texts(a, "paragraph"))


@pytest.mark.parametrize("name", ["000_724d5b54972ab479.txt", "002_28c6eb84cb694cfe.txt"])
def test_every_block_is_an_exact_span(name):
    a = _article(name)
    raw = (SEED_DIR / name).read_text(encoding="utf-8")
    assert a.text == raw
    for b in a.blocks:
        assert a.span(b) == raw[b.start : b.end]
        assert a.span(b) == a.span(b).strip()
    starts = [b.start for b in a.blocks]
    assert starts == sorted(starts)


def test_general_rules_on_other_noise(tmp_path: Path):
    text = (
        "# Ten Ways To Sleep Better\n\n"
        "Sleep matters more than most people think.\n\n"
        "![a cat asleep](cat.png)\n\n"
        "Read more: Why cats sleep all day\n\n"
        "## Keep a schedule\n\n"
        "Go to bed at the same time every night. It trains your body clock.\n\n"
        "Ten Ways To Sleep Better\n"
        "A Sleeping Cat On A Sunny Windowsill\n\n"
        "Avoid screens late at night.\n\n"
        "Page 1 of 3\n\n"
        "Next »\n"
    )
    (tmp_path / "sleep.md").write_text(text, encoding="utf-8")
    a = read_article(tmp_path, tmp_path / "sleep.md")
    assert a.title == "Ten Ways To Sleep Better" and a.title_source == "markdown"
    kinds = {a.span(b): b.kind for b in a.blocks}
    assert kinds["![a cat asleep](cat.png)"] == "image"
    assert kinds["Read more: Why cats sleep all day"] == "link"
    assert kinds["Keep a schedule"] == "heading"
    assert kinds["Ten Ways To Sleep Better"] == "title_repeat"
    assert kinds["A Sleeping Cat On A Sunny Windowsill"] == "caption"
    assert kinds["Page 1 of 3"] == "pager" and kinds["Next »"] == "pager"
    assert kinds["Avoid screens late at night."] == "paragraph"


def test_front_matter_sets_metadata_and_offsets(tmp_path: Path):
    body = "Drink water.\n\nWater helps you think. It is cheap.\n"
    text = "---\ntitle: Stay Hydrated\nauthor: A. Writer\nurl: https://example.org/w\n---\n" + body
    (tmp_path / "w.md").write_text(text, encoding="utf-8")
    a = read_article(tmp_path, tmp_path / "w.md")
    assert (a.title, a.author, a.url, a.title_source) == (
        "Stay Hydrated",
        "A. Writer",
        "https://example.org/w",
        "front_matter",
    )
    assert a.blocks[0].kind == "front_matter"
    paragraphs = [a.span(b) for b in a.blocks if b.kind == "paragraph"]
    assert paragraphs == ["Drink water.", "Water helps you think. It is cheap."]


def test_broken_front_matter_is_a_one_line_error(tmp_path: Path):
    (tmp_path / "bad.md").write_text("---\ntitle: [unclosed\n---\nSome text here.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.md: front matter does not parse.*fix the YAML"):
        read_article(tmp_path, tmp_path / "bad.md")


def test_helpers():
    assert normalise("Be “Missed”") == normalise('be "missed"')
    assert heading_like("Use mystery")
    assert heading_like("Step 2: Trust Him")
    assert not heading_like("As she wrote, “Desire needs space.”")
    assert not heading_like("But most people can’t do this. Why?")
    blocks, title, source, author = classify("Just one line of text.")
    assert title == "" and source == "" and author == "" and blocks[0].kind == "paragraph"


def test_a_closing_list_of_tips_is_kept_and_the_page_foot_is_not(tmp_path: Path):
    text = (
        "# Five Habits Of Happy Couples\n\n"
        "Happy couples do small things every day. Here are the habits that matter most.\n\n"
        "- Say good morning\n- Ask one real question\n- Hug for twenty seconds\n\n"
        "[Why Couples Fight About Chores](/chores)\n\n"
        "Share this article\n\n"
        "Privacy Policy · Terms\n\n"
        "Our Team\n"
    )
    (tmp_path / "habits.md").write_text(text, encoding="utf-8")
    a = read_article(tmp_path, tmp_path / "habits.md")
    kept = " ".join(_texts(a, "paragraph"))
    assert "Say good morning" in kept and "Hug for twenty seconds" in kept
    for furniture in ("Why Couples Fight", "Share this", "Privacy", "Our Team"):
        assert furniture not in kept


@pytest.mark.parametrize(
    "advice",
    [
        "Sign up for a cooking class together.",
        "Don't subscribe to the idea that love is effortless.",
        "Follow through on what you promise.",
        "Share your worries before they grow.",
        "Read more books together on quiet evenings.",
    ],
)
def test_advice_that_uses_prompt_words_is_kept(tmp_path: Path, advice: str):
    text = f"# Small Steps\n\nCouples grow closer through small steps taken together.\n\n{advice}\n\nKeep at it.\n"
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    a = read_article(tmp_path, tmp_path / "a.md")
    assert advice in _texts(a, "paragraph")


def test_section_names_that_look_like_page_words_stay_headings(tmp_path: Path):
    sections = ["Discussion", "Powered by trust", "More on listening"]
    body = "\n\n".join(
        f"## {h}\n\nThis part of the article gives advice that matters here." for h in sections
    )
    text = f"# Love Notes\n\nAn article about love and what keeps it going.\n\n{body}\n"
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    a = read_article(tmp_path, tmp_path / "a.md")
    assert _texts(a, "heading") == sections
    assert len(_texts(a, "paragraph")) == 4


def test_a_contents_list_is_dropped_and_the_headings_it_lists_are_kept(tmp_path: Path):
    heads = ["Why Small Habits Matter", "Say Good Morning Every Day", "Ask One Real Question"]
    body = "\n\n".join(
        f"{h}\n\nThis section explains the habit and why couples who keep it stay close." for h in heads
    )
    text = "How To Stay Close As A Couple\n\n" + "\n".join(heads) + "\n\n" + body + "\n"
    (tmp_path / "close.txt").write_text(text, encoding="utf-8")
    a = read_article(tmp_path, tmp_path / "close.txt")
    assert a.title == "How To Stay Close As A Couple"
    assert _texts(a, "toc") == heads and _texts(a, "heading") == heads
    assert _texts(a, "caption") == []


@pytest.mark.parametrize(
    "head",
    [
        "Skip to main content\nHome / Dating / Advice\n\nWhy small habits matter more than grand gestures\n\nBy Jo Park · 5 min read\n\n",
        "Menu\n\nSearch\n\nLove Site\n\n\n# Why small habits matter more than grand gestures\n\n",
    ],
)
def test_sentence_case_headline_below_page_furniture(tmp_path: Path, head: str):
    text = head + "Couples who last share small daily habits. They make time for each other.\n"
    (tmp_path / "a.md").write_text(text, encoding="utf-8")
    a = read_article(tmp_path, tmp_path / "a.md")
    assert a.title == "Why small habits matter more than grand gestures"
    assert _texts(a, "paragraph") == [
        "Couples who last share small daily habits. They make time for each other."
    ]
