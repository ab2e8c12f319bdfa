"""Bad command lines end with exit code 2 and one message naming what was wrong: no
traceback, and nothing starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arbiter.cli.app import app


def _binary(tmp: Path) -> str:
    (tmp / "c.bin").write_bytes(bytes(range(256)))
    return str(tmp / "c.bin")


def _scalar_bus(tmp: Path) -> str:
    (tmp / "c.yaml").write_text("bus: 5\n")
    return str(tmp / "c.yaml")


def unboxed(output: str) -> str:
    """Output without the frame and line wrapping of typer's error box."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", output).split())


CASES = [
    (["run", "--duration", "nan"], "--duration"),
    (["run", "--duration", "inf"], "--duration"),
    (["run", "--duration", "-1"], "--duration"),
    (["run", "--duration", "0"], "--duration"),
    (["run", "--duration", "1e12"], "--duration"),
    (["run", "--metrics-port", "70000"], "--metrics-port"),
    (["run", "--steps", "0"], "--steps"),
    (["run", "--steps", "1e3"], "--steps"),
    (["run", "--seed", "-1", "--duration", "1"], "market.seed"),
    (["run", "--clock", "wall", "--duration", "1"], "'wall' is not one of 'lockstep', 'free'"),
    (["run", "--execution", "both", "--duration", "1"],
     "'both' is not one of 'sequential', 'parallel'"),
    (["emulator", "--port", "polymarket=70000"], "--port"),
    (["emulator", "--port", "ftx=8601"], "ftx"),
    (["emulator", "--port", "polymarket:8601"], "VENUE=PORT"),
    (["emulator", "--port", "polymarket=abc"], "'abc'"),
    (["emulator", "--port", "polymarket=1", "--port", "polymarket=2"], "twice"),
    (["serve", "nonsense"], "'nonsense' is not one of 'gateway-kalshi'"),
]


@pytest.mark.parametrize(("args", "fragment"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_arguments_exit_2_naming_the_problem(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(app, args, env={"ARBITER_CONFIG": ""})
    assert result.exit_code == 2, result.output
    assert fragment in unboxed(result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(("make", "extra", "fragment"), [
    (_binary, [], "is not UTF-8 text"),
    (lambda tmp: str(tmp), [], "is a directory"),
    (_scalar_bus, ["--bus", "kafka"], "bus=5 is not a section"),
    (lambda tmp: str(tmp / "missing.yaml"), [], "does not exist"),
])
def test_an_unloadable_config_exits_2_with_one_line(make, extra, fragment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["run", "--headless", "--duration", "1",
                                      "--config", make(tmp_path), *extra])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")]
