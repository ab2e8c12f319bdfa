"""Rewrite the generated CLI reference in docs/cli.md from the command line itself.

    python tools/gen_cli_docs.py           # rewrite the reference between the markers
    python tools/gen_cli_docs.py --check   # exit 1 if the committed reference is stale

Walks the typer app `arbiter.cli.app:app` as click sees it (`typer.main.get_command`) and
writes every command and subcommand, sorted by name, with its help, usage, arguments and
options (type, default, range, environment variable). Nothing depends on the terminal: the
text is formatted here, never by click's or rich's help formatter, so the output is the same
at any `COLUMNS` and on any machine with the same installed commands.
tests/docs/test_cli_reference.py fails when docs/cli.md is not what this writes.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
BEGIN = "<!-- BEGIN GENERATED CLI REFERENCE (python tools/gen_cli_docs.py) -->"
END = "<!-- END GENERATED CLI REFERENCE -->"
# typer's shell-completion installers: the same on every command line typer builds, and
# what they print depends on the user's shell.
SKIPPED_OPTIONS = frozenset({"install_completion", "show_completion"})


def _text(value: str | None) -> str:
    """Help text as markdown paragraphs: the docstring's line breaks are not the author's."""
    if not value:
        return ""
    paragraphs = inspect.cleandoc(value).split("\n\n")
    return "\n\n".join(_escape(" ".join(p.split())) for p in paragraphs if p.strip())


def _escape(text: str) -> str:
    """Help text is plain text: keep markdown and HTML from reading it as markup."""
    return (text.replace("\\", "\\\\").replace("<", "&lt;").replace("*", "\\*")
            .replace("|", "\\|"))


def _cell(text: str) -> str:
    return " ".join(text.split()) or " "


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands") and isinstance(command.commands, dict)


def _context(command: Any, name: str, parent: Any) -> Any:
    return command.context_class(command, info_name=name, parent=parent)


def _type(param: Any, ctx: Any) -> str:
    """The value a parameter takes, as its help shows it (no value for a flag)."""
    if getattr(param, "is_flag", False):
        return "flag"
    if hasattr(param, "type_descriptor"):  # typer >= 0.24 (its own click)
        label = str(param.display_type(ctx)).removeprefix("<").removesuffix(">")
        choices = param.type_descriptor.choices
    else:  # typer on click
        label = param.type.name
        choices = getattr(param.type, "choices", None)
    if choices:
        return " \\| ".join(f"`{getattr(c, 'value', c)}`" for c in choices)
    return label.replace(" range", "") if label else "text"


def _range(param: Any) -> str:
    low = getattr(param, "min", None)
    high = getattr(param, "max", None)
    if low is None and high is None and hasattr(param, "type"):
        low, high = getattr(param.type, "min", None), getattr(param.type, "max", None)
    if low is None and high is None:
        return ""
    return f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"


def _default(param: Any) -> str:
    if getattr(param, "required", False):
        return "required"
    value = param.default
    if callable(value) or value is None or value == [] or value == ():
        return ""
    if getattr(param, "is_flag", False) and isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _names(param: Any) -> str:
    names = ", ".join(f"`{o}`" for o in sorted(param.opts, key=lambda o: (len(o), o)))
    if param.secondary_opts:
        names += " / " + ", ".join(f"`{o}`" for o in param.secondary_opts)
    return names


def _usage(path: str, command: Any) -> str:
    pieces = [path, "[OPTIONS]"]  # --help at least
    for param in command.params:
        if param.param_type_name == "argument":
            name = (param.metavar or param.name or "").upper()
            name += "..." if param.nargs == -1 else ""
            pieces.append(name if param.required else f"[{name}]")
    if _is_group(command):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _section(path: str, command: Any, ctx: Any) -> list[str]:
    depth = min(path.count(" ") + 2, 6)
    lines = [f"{'#' * depth} `{path}`", ""]
    help_text = _text(command.help) or _text(getattr(command, "short_help", None))
    if help_text:
        lines += [help_text, ""]
    lines += ["```text", _usage(path, command), "```", ""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [p for p in command.params
               if p.param_type_name == "option" and not getattr(p, "hidden", False)
               and p.name not in SKIPPED_OPTIONS]
    if arguments:
        lines += ["| argument | type | description |", "|---|---|---|"]
        for param in arguments:
            name = (param.metavar or param.name or "").upper()
            lines.append(f"| `{name}` | {_type(param, ctx)} | "
                         f"{_cell(_text(getattr(param, 'help', '')))} |")
        lines.append("")
    lines += ["| option | type | default | range | environment | description |",
              "|---|---|---|---|---|---|"]
    for param in sorted(options, key=lambda p: p.opts[0].lstrip("-")):
        envvar = param.envvar if isinstance(param.envvar, str) else ", ".join(param.envvar or ())
        lines.append(f"| {_names(param)} | {_type(param, ctx)} | {_default(param)} | "
                     f"{_range(param)} | {f'`{envvar}`' if envvar else ''} | "
                     f"{_cell(_text(param.help))} |")
    lines.append("| `--help` | flag |  |  |  | Show the command's help and exit. |")
    lines.append("")
    if _is_group(command):
        lines += ["| command | what it does |", "|---|---|"]
        for name in sorted(command.commands):
            sub = command.commands[name]
            if getattr(sub, "hidden", False):
                continue
            summary = _text(sub.help or getattr(sub, "short_help", None)).split("\n\n")[0]
            lines.append(f"| [`{path} {name}`](#{_anchor(f'{path} {name}')}) | "
                         f"{_cell(summary)} |")
        lines.append("")
    return lines


def _anchor(title: str) -> str:
    """The id Python-Markdown's toc extension gives the heading `` `title` ``."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", title).strip().lower())


def _walk(path: str, command: Any, parent: Any) -> Iterator[tuple[str, Any, Any]]:
    ctx = _context(command, path.rsplit(" ", 1)[-1], parent)
    yield path, command, ctx
    if _is_group(command):
        for name in sorted(command.commands):
            sub = command.commands[name]
            if not getattr(sub, "hidden", False):
                yield from _walk(f"{path} {name}", sub, ctx)


def reference() -> str:
    """The generated part of docs/cli.md, markers included."""
    from arbiter.cli.app import app

    lines = [BEGIN, ""]
    for path, command, ctx in _walk("arbiter", typer.main.get_command(app), None):
        lines += _section(path, command, ctx)
    return "\n".join([*lines, END]) + "\n"


def updated(document: str) -> str:
    """`document` with its generated reference replaced by the current one."""
    head, found, rest = document.partition(BEGIN)
    if not found:
        raise SystemExit(f"{DOC}: no {BEGIN!r} marker")
    _, _, tail = rest.partition(END)
    return head + reference() + tail.lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1, changing nothing, if docs/cli.md is stale")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    new = updated(current)
    if args.check:
        if new != current:
            print(f"{DOC.relative_to(DOC.parents[1])} is stale: run python tools/gen_cli_docs.py",
                  file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    print(f"wrote {DOC.relative_to(DOC.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
