"""Options with a fixed set of values are typer choices: help lists them, and a bad value is
refused (exit 2, the choices named) before anything runs. Lists known only at run time
(services, venues, saga states) come from where they are defined."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.platform.config import services
from arbiter.platform.venues import VENUES
from arbiter.v1 import saga_pb2


def unboxed(output: str) -> str:
    """Output without the frame and line wrapping of typer's boxes."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", output).split())


def _param(path: list[str], name: str):  # type: ignore[no-untyped-def]
    command = typer.main.get_command(app)
    for part in path:
        command = command.commands[part]  # type: ignore[attr-defined]
    return next(p for p in command.params if p.name == name)


def _choices(path: list[str], name: str) -> list[str]:
    return [str(getattr(c, "value", c)) for c in _param(path, name).type_descriptor.choices]


@pytest.mark.parametrize(("path", "name", "expected"), [
    (["run"], "bus", ["memory", "kafka"]),
    (["run"], "clock", ["lockstep", "free"]),
    (["run"], "execution", ["sequential", "parallel"]),
    (["serve"], "service", list(services())),
    (["pki", "issue"], "service", list(services())),
    (["check-connectivity"], "venue", list(VENUES.slugs())),
    (["vault"], "backend", ["local", "transit"]),
    (["ctl", "sagas"], "state", [n.removeprefix("SAGA_STATE_").lower()
                                 for n in saga_pb2.SagaState.keys()][1:]),  # noqa: SIM118
    (["venue", "polymarket", "sign-order"], "side", ["BUY", "SELL"]),
    (["venue", "kalshi", "sign-request"], "method", ["GET", "POST", "PUT", "DELETE"]),
])
def test_fixed_values_are_choices(path: list[str], name: str, expected: list[str]) -> None:
    assert _choices(path, name) == expected
    assert "gateway-kalshi" in services() and "held" in _choices(["ctl", "sagas"], "state")


@pytest.mark.parametrize(("args", "shown"), [
    (["run", "--help"], ["memory|kafka", "lockstep|free", "sequential|parallel",
                         "Default: bus.kind from the config (memory)",
                         "Default: market.clock from the config (lockstep)",
                         "Default: saga.execution from the config (sequential)",
                         "Default: market.seed from the config (7)", "[default: 127.0.0.1]"]),
    (["serve", "--help"], ["gateway-kalshi|gateway-polymarket|orderbook"]),
    (["--help"], ["debug|info|warning|error", "json|console", "ARBITER_LOG_LEVEL"]),
])
def test_help_shows_choices_and_defaults(args: list[str], shown: list[str]) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300", "TERMINAL_WIDTH": "300"})
    assert result.exit_code == 0, result.output
    text = unboxed(result.output).replace(" ", "")
    for fragment in shown:
        assert fragment.replace(" ", "") in text, fragment


@pytest.mark.parametrize(("args", "fragment"), [
    (["run", "--headless", "--steps", "1", "--bus", "rabbit"],
     "'rabbit' is not one of 'memory', 'kafka'"),
    (["run", "--headless", "--steps", "1", "--clock", "wall"],
     "'wall' is not one of 'lockstep', 'free'"),
    (["run", "--headless", "--steps", "1", "--execution", "both"],
     "'both' is not one of 'sequential', 'parallel'"),
    (["serve", "gateway-ftx"],
     "'gateway-ftx' is not one of 'gateway-kalshi', 'gateway-polymarket', 'orderbook'"),
    (["check-connectivity", "--venue", "ftx"], "'ftx' is not one of 'kalshi', 'polymarket'"),
    (["ctl", "sagas", "--state", "lost"], "'lost' is not one of 'created'"),
    (["vault", "--backend", "aws", "status"], "'aws' is not one of 'local', 'transit'"),
])
def test_a_bad_choice_is_refused_before_anything_runs(args: list[str], fragment: str,
                                                       tmp_path: Path) -> None:
    result = CliRunner().invoke(app, args, env={"ARBITER_CONFIG": "", "HOME": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert fragment in unboxed(result.output)
    assert "control API on" not in result.output  # the run never started
    assert list(tmp_path.iterdir()) == []  # nothing written (no endpoint file, no store)


def test_choices_are_case_insensitive_where_the_value_is_a_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ctl", "--address", "127.0.0.1:1", "--token", "t",
                                      "sagas", "--state", "HELD", "--json"],
                                env={"HOME": str(tmp_path)})
    assert "is not one of" not in unboxed(result.output)  # refused only for the connection
    assert result.exit_code in (1, 2)
