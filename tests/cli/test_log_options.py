"""`arbiter --log-level/--log-format` (or ARBITER_LOG_LEVEL/ARBITER_LOG_FORMAT): the chosen
level and format reach every later `configure_logging` of the process, a pod keeps JSON
unless told otherwise, and redaction applies in both formats."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.platform.telemetry import logging as telemetry_logging
from arbiter.platform.telemetry.logging import configure_logging, set_log_options

SECRET = "0x" + "ab" * 32  # an EVM private key's shape


@pytest.fixture(autouse=True)
def _restore_logging(restore_logging: None) -> Iterator[None]:
    yield
    set_log_options()


def _run(tmp_path: Path, args: list[str], env: dict[str, str] | None = None) -> Any:
    (tmp_path / "arbiter.yaml").write_text("tenant: {id: acme}\n")
    result = CliRunner().invoke(app, [*args, "run", "--steps", "5", "--headless"],
                                env={"ARBITER_CONFIG": str(tmp_path / "arbiter.yaml"),
                                     "HOME": str(tmp_path), **(env or {})})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 5  # stdout stays the summary alone
    return result


def _json_records(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(("args", "env"), [
    (["--log-level", "debug", "--log-format", "json"], {}),
    ([], {"ARBITER_LOG_LEVEL": "DEBUG", "ARBITER_LOG_FORMAT": "json"}),
], ids=["flags", "environment"])
def test_debug_json_logs_of_a_run(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    records = _json_records(_run(tmp_path, args, env).stderr)
    assert any(r["level"] == "debug" for r in records), records
    assert all({"event", "level", "logger", "timestamp"} <= set(r) for r in records)


def test_a_run_logs_at_warning_by_default(tmp_path: Path) -> None:
    records = _json_records(_run(tmp_path, []).stderr)  # not a terminal: JSON
    assert all(r["level"] in ("warning", "error", "critical") for r in records), records


def test_console_format_is_human_readable_and_uncoloured_off_a_terminal(tmp_path: Path) -> None:
    stderr = _run(tmp_path, ["--log-level", "debug", "--log-format", "console"]).stderr
    lines = [line for line in stderr.splitlines() if "[debug" in line]
    assert lines, stderr
    assert not _json_records(stderr)
    assert "\x1b[" not in stderr


def test_a_bad_level_is_refused_with_the_choices(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--log-level", "loud", "config", "validate"],
                                env={"ARBITER_CONFIG": ""})
    assert result.exit_code == 2
    assert "'loud' is not one of 'debug', 'info', 'warning', 'error'" in result.output
    bad_env = CliRunner().invoke(app, ["config", "validate"],
                                 env={"ARBITER_CONFIG": "", "ARBITER_LOG_FORMAT": "xml"})
    assert bad_env.exit_code == 2 and "'xml' is not one of 'json', 'console'" in bad_env.output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log_once(stream: io.StringIO, **kwargs: Any) -> str:
    configure_logging(stream=stream, **kwargs)
    logging.getLogger("arbiter.test").warning("signing with %s", SECRET)
    return stream.getvalue()


@pytest.mark.parametrize(("chosen", "stream", "default_format", "want_json"), [
    (None, io.StringIO, "auto", True),       # a pipe or a file: JSON
    (None, _Terminal, "auto", False),        # a terminal: console
    (None, _Terminal, "json", True),         # arbiter serve in `docker run -t`: still JSON
    ("console", io.StringIO, "json", False),  # arbiter --log-format console serve
    ("json", _Terminal, "auto", True),
])
def test_format_precedence_and_redaction(chosen: str | None, stream: type[io.StringIO],
                                         default_format: str, want_json: bool) -> None:
    set_log_options(fmt=chosen)
    text = _log_once(stream(), default_format=default_format)
    assert SECRET not in text and "[REDACTED:" in text
    line = text.splitlines()[0]
    if want_json:
        assert json.loads(line)["level"] == "warning"
    else:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
        assert "warning" in line and "arbiter.test" in line


def test_level_precedence() -> None:
    configure_logging(stream=io.StringIO(), default_level=logging.WARNING)
    assert logging.getLogger().level == logging.WARNING
    set_log_options(level="debug")
    configure_logging(stream=io.StringIO(), default_level=logging.WARNING)
    assert logging.getLogger().level == logging.DEBUG
    configure_logging(logging.ERROR, stream=io.StringIO())  # an explicit level wins
    assert logging.getLogger().level == logging.ERROR
    assert telemetry_logging.log_options().level == "debug"
