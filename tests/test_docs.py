"""The README's commands, CI and the CLI stay in step."""

from __future__ import annotations

import re

from rag.cli import main

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_two_commands_documented_and_ci_runs_the_test_command():
    assert "make run " in README and "make test " in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "torch==2.13.0" in makefile


def test_every_cli_command_and_option_is_documented():
    for name, command in main.commands.items():
        assert f"rag {name}" in README, f"rag {name} is not in the README"
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in README, f"rag {name} {opt} is not in the README"


def test_every_module_is_in_the_readme():
    for module in sorted((ROOT / "rag").glob("*.py")):
        if module.name not in ("__init__.py", "types.py", "errors.py", "config.py", "cli.py"):
            assert f"rag/{module.name}" in README, module.name
    for package in sorted(p.parent for p in (ROOT / "rag").glob("*/__init__.py")):
        assert f"rag/{package.name}/" in README, package.name
        for module in sorted(package.glob("*.py")):
            if module.name != "__init__.py":
                assert f"`{module.name}`" in README, f"rag/{package.name}/{module.name}"
