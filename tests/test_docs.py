"""The documentation stays in step with the code: README.md is one screen, docs/ holds the rest.

Every list checked here is read from the code (click introspection of the `rag` command, the
argparse options of the web app, the RAG_* names the code reads, the files of rag/), so adding an
option, a variable or a module without documenting it fails this test, and so does a document that
names a module or a variable that is gone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from rag.cli import main

from .conftest import ROOT

README_PATH = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 150
ENV_VAR = re.compile(r"\bRAG_[A-Z][A-Z0-9_]*\b")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _code_files() -> list[Path]:
    """The product's Python sources: the rag package and the web app's entry point."""
    files = sorted(p for p in (ROOT / "rag").rglob("*.py") if "__pycache__" not in p.parts)
    return files + [p for p in (ROOT / "app.py",) if p.is_file()]


def _commands(group: click.Group, path: str = "rag") -> Iterator[tuple[str, click.Command]]:
    """(`rag build`, its command), ... for every command and subcommand, the root group first."""
    yield path, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} {name}")
        else:
            yield f"{path} {name}", command


def _names(text: str, option: str) -> bool:
    """Whether `option` (e.g. --fusion, -k) appears in text as a whole option, not as part of another."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def _env_vars(paths: list[Path]) -> set[str]:
    return {name for path in paths for name in ENV_VAR.findall(_read(path))}


def _modules() -> list[str]:
    """Every module of the package as a path from the repository root (rag/bench/run.py), and app.py."""
    return [p.relative_to(ROOT).as_posix() for p in _code_files()]


def _doc_files() -> list[Path]:
    return [README_PATH, *sorted(DOCS.glob("*.md"))]


# ---- README: one screen, the two commands, links -------------------------------------------------


def test_readme_is_one_screen():
    lines = _read(README_PATH).count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines; keep it <= {README_MAX_LINES}, move detail to docs/"
    )


def test_two_commands_documented_and_ci_runs_the_test_command():
    readme = _read(README_PATH)
    makefile = _read(ROOT / "Makefile")
    for target in ("run", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"the Makefile has no {target} target"
        assert re.search(rf"^make {target}\s", readme, re.M), f"README.md does not show `make {target}`"
    assert re.search(r"^test: lint\b", makefile, re.M), "make test must lint first"
    assert "torch==2.13.0" in makefile
    assert re.search(r"^make test$", _read(ROOT / ".ci" / "run"), re.M), ".ci/run must call make test"


def test_every_rag_command_is_in_the_readme():
    readme = _read(README_PATH)
    for name in main.commands:
        assert f"rag {name}" in readme, f"rag {name} is not in README.md's command table"


def test_every_doc_is_linked_from_the_readme():
    readme = _read(README_PATH)
    for doc in sorted(DOCS.glob("*.md")):
        assert f"(docs/{doc.name})" in readme, f"README.md does not link docs/{doc.name}"


@pytest.mark.parametrize("doc", _doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path):
    for target in re.findall(r"\]\(([^)\s]+)\)", _read(doc)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # http(s):, mailto:, an anchor in the same page
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{doc.name} links {target}, which does not exist"


# ---- docs/usage.md: every command, option and setting -------------------------------------------


def test_every_cli_command_and_option_is_in_usage():
    usage = _read(DOCS / "usage.md")
    commands = list(_commands(main))
    assert len(commands) > 5  # the introspection found the commands
    for path, command in commands:
        if path != "rag":
            assert f"`{path}" in usage, f"{path} is not in docs/usage.md"
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in [*param.opts, *param.secondary_opts]:
                    assert _names(usage, opt), f"{path} {opt} is not in docs/usage.md"


def test_every_environment_variable_is_in_usage():
    usage = _read(DOCS / "usage.md")
    code = _env_vars(_code_files())
    config = _env_vars([ROOT / "rag" / "config.py"])
    assert {"RAG_CORPUS", "RAG_INDEX", "RAG_MODEL"} <= config  # read from Settings.from_env's source
    for name in sorted(code):
        assert f"`{name}`" in usage, f"{name} is read by the code but not in docs/usage.md's settings"


def test_every_test_environment_variable_is_in_testing():
    testing = _read(DOCS / "testing.md")
    code = _env_vars(_code_files())
    for name in sorted(_env_vars(sorted((ROOT / "tests").glob("*.py"))) - code):
        assert f"`{name}" in testing, f"{name} is read by the tests but not in docs/testing.md"


def test_documented_environment_variables_exist():
    known = _env_vars(_code_files() + sorted((ROOT / "tests").glob("*.py")))
    for doc in _doc_files():
        for name in sorted(_env_vars([doc]) - known):
            pytest.fail(f"{doc.name} names {name}, which nothing reads")


# ---- docs/architecture.md: every module, and only modules that exist -----------------------------


def test_every_module_is_in_architecture():
    architecture = _read(DOCS / "architecture.md")
    modules = _modules()
    assert "rag/cli.py" in modules
    for module in modules:
        assert f"`{module}`" in architecture, f"{module} is not in docs/architecture.md's module map"


def test_documented_modules_exist():
    for doc in _doc_files():
        for module in sorted(set(re.findall(r"\brag/[\w/]+\.py\b", _read(doc)))):
            assert (ROOT / module).is_file(), f"{doc.name} names {module}, which does not exist"
