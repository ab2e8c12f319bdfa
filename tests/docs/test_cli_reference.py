"""docs/cli.md carries the CLI reference generated from the command line itself: a command or
an option added, removed or changed without regenerating it fails here."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import typer.main

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "tools" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_cli_docs", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_cli_reference_is_current() -> None:
    tool = _tool()
    doc = (ROOT / "docs" / "cli.md").read_text()
    assert tool.reference() in doc and tool.updated(doc) == doc, "run python tools/gen_cli_docs.py"


def test_every_command_and_option_is_in_the_reference() -> None:
    from arbiter.cli.app import app

    doc = (ROOT / "docs" / "cli.md").read_text()

    def walk(path: str, command: object) -> None:
        assert f"`{path}`" in doc, path
        for param in command.params:  # type: ignore[attr-defined]
            if param.param_type_name == "option" and param.name not in tool.SKIPPED_OPTIONS:
                assert f"`{param.opts[0]}`" in doc, f"{path} {param.opts[0]}"
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(f"{path} {name}", sub)

    tool = _tool()
    walk("arbiter", typer.main.get_command(app))


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch) -> None:
    tool = _tool()
    monkeypatch.setenv("COLUMNS", "40")
    narrow = tool.reference()
    monkeypatch.setenv("COLUMNS", "300")
    assert tool.reference() == narrow


def test_links_between_commands_point_at_their_headings() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    tool = _tool()
    headings = {tool._anchor(h) for h in re.findall(r"^#+ `([^`]+)`$", doc, re.MULTILINE)}
    links = set(re.findall(r"\]\(#([^)]+)\)", doc))
    assert links and links <= headings, links - headings
