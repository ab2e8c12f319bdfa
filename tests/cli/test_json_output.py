"""Every command that prints a table can print JSON instead (`--json`); the others print JSON
already, one line, or nothing a script would parse. A new command must pick a side here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from arbiter.cli.app import app

NO_TABLE = {
    "run": "prints the summary as JSON (the live view is for people)",
    "serve": "a pod: logs only",
    "emulator": "a long-running server: one line per venue it listens on",
    "config validate": "one ok line, or errors; the exit code is the answer",
    "vault put": "one line naming what was stored",
    "vault rotate": "one line naming the versions",
    "venue kalshi sign-request": "prints JSON",
    "venue polymarket sign-order": "prints the JSON body",
    "pki init": "prints JSON",
    "pki issue": "prints JSON",
    "record import": "prints JSON",
    "record info": "prints JSON",
    "bot": "a long-running bot: logs only",
}


def _leaves(command: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, f"{path} {name}".strip())


def test_every_command_that_prints_a_table_has_json() -> None:
    leaves = dict(_leaves(typer.main.get_command(app)))
    assert set(NO_TABLE) <= set(leaves), set(NO_TABLE) - set(leaves)
    missing = [path for path, command in leaves.items()
               if path not in NO_TABLE
               and "--json" not in [o for p in command.params for o in p.opts]]
    assert missing == []
    # the table printers are really covered, not just allow-listed
    assert {"check-connectivity", "config show", "vault status", "ctl status",
            "ctl hardstop reset", "ctl cancel-all"} <= set(leaves) - set(NO_TABLE)
