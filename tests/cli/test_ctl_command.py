"""`arbiter ctl` against a running `arbiter run`, as an operator would use them side by side:
nothing to configure, every command answers, the dangerous ones ask first, and what was
done shows in the audit trail under the operator's name."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from distributed.conftest import eventually, run_arbiter
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.control.local import local_operator


def ctl(*args: str, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(app, ["ctl", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


@pytest.mark.timeout(120)
async def test_ctl_operates_a_running_engine_and_every_action_is_audited(tmp_path: Path) -> None:
    endpoint = Path(os.environ["ARBITER_CONTROL_FILE"])
    log = tmp_path / "run.log"
    run = run_arbiter(["run", "--headless", "--duration", "90"],
                      {**os.environ, "ARBITER_CONFIG": ""}, log)
    try:
        async def announced() -> bool:
            assert run.poll() is None, log.read_text()[-2000:]
            return endpoint.exists()

        await eventually(announced, 60, "the control endpoint file")
        status = await asyncio.to_thread(ctl, "status", "--json")
        assert (status["tenant_id"], status["mode"]) == ("default", "paper")
        assert {v["venue"] for v in status["venues"]} == {"kalshi", "polymarket"}
        await asyncio.to_thread(ctl, "positions", "--json")
        held = await asyncio.to_thread(ctl, "sagas", "--state", "held", "--json")
        assert all(s["state"] == "HELD" for s in held["sagas"])
        table = await asyncio.to_thread(ctl, "status")
        assert "tenant default" in table and "polymarket" in table

        paused = await asyncio.to_thread(ctl, "pause", "--reason", "lunch", "--json")
        assert paused["paused"] and paused["hard_stop"]
        declined = CliRunner().invoke(app, ["ctl", "kill", "--reason", "x"], input="n\n")
        assert declined.exit_code == 1 and "nothing done" in declined.output
        killed = await asyncio.to_thread(ctl, "kill", "--yes", "--reason", "desk call",
                                         "--json")
        assert killed["hard_stop"]
        reset = await asyncio.to_thread(ctl, "hardstop", "reset", "--reason",
                                        "checked with risk", "--yes", "--json")
        assert not reset["hard_stop"]
        trail = await asyncio.to_thread(ctl, "audit", "--json")
    finally:
        run.send_signal(signal.SIGINT)
        await asyncio.to_thread(run.communicate, timeout=60)
    me = f"{local_operator()} (admin)"
    mine = [(e["action"], e["detail"]) for e in trail["entries"] if e["actor"] == me]
    assert [action for action, _ in mine] == ["latched", "triggered", "reset"]
    assert "lunch" in mine[0][1] and "desk call" in mine[1][1]
    assert "checked with risk" in mine[2][1]
    assert run.returncode == 0, log.read_text()[-2000:]
    assert not endpoint.exists(), "the endpoint file outlived the run"


def test_ctl_without_a_running_engine_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ctl", "status"],
                                env={"ARBITER_CONTROL_FILE": str(tmp_path / "none.json")})
    assert result.exit_code == 2
    assert result.output.startswith("error: no running engine announced a control API")
