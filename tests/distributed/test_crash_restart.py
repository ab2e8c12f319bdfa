"""The crash test a user can run: the venues are their own process (`arbiter emulator`),
the engine is killed with SIGKILL mid-run and started again; once it has recovered from its
saga log, its positions equal what the venues report through their own APIs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from .conftest import eventually, free_ports, listening, spawn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _logged(db: Path, kind: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT count(*) FROM saga_log WHERE kind = ?",
                                (kind,)).fetchone()[0]
        except sqlite3.OperationalError:  # table not created yet
            return 0


def _engine_view(summary: dict) -> dict[str, dict[str, Decimal]]:
    """The engine's positions in the venues' own terms: Kalshi nets YES against NO."""
    engine = summary["open_positions"]
    view = {"polymarket": {k: Decimal(q) for k, q in engine.get("polymarket", {}).items()}}
    net: dict[str, Decimal] = {}
    for instrument, qty in engine.get("kalshi", {}).items():
        ticker, side = instrument.rsplit(":", 1)
        signed = Decimal(qty) if side == "YES" else -Decimal(qty)
        net[ticker] = net.get(ticker, Decimal(0)) + signed
    view["kalshi"] = {f"{t}:{'YES' if q > 0 else 'NO'}": abs(q) for t, q in net.items() if q}
    return view


async def test_sigkill_mid_run_then_restart_converges_to_the_venues(
    processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    pm_port, ks_port = free_ports(2)
    saga_db = tmp_path / "saga.db"
    config = {
        "venues": {"polymarket": {"url": f"http://127.0.0.1:{pm_port}",
                                  "ws_url": f"ws://127.0.0.1:{pm_port}"},
                   "kalshi": {"url": f"http://127.0.0.1:{ks_port}",
                              "ws_url": f"ws://127.0.0.1:{ks_port}/trade-api/ws/v2"}},
        "saga": {"log_path": str(saga_db)},
    }
    config_path = tmp_path / "arbiter.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "ARBITER_CONFIG": str(config_path)}
    processes.append(spawn(["emulator", "--port", f"polymarket={pm_port}", "--port",
                            f"kalshi={ks_port}", "--open-registration"], env,
                           tmp_path / "emu.log"))
    await eventually(lambda: listening(pm_port, ks_port), 30, "the emulators")

    run = ["run", "--external-venues", "--headless"]
    first = spawn([*run, "--duration", "120"], env, tmp_path / "run1.log")
    processes.append(first)

    async def enough_traded() -> bool:
        return _logged(saga_db, "fill") >= 20

    await eventually(enough_traded, 90, "fills in the saga log")
    first.send_signal(signal.SIGKILL)  # at whatever step it happens to be in
    first.wait()

    summary_path = tmp_path / "summary.json"
    second = spawn([*run, "--duration", "3", "--summary-json", str(summary_path)], env,
                   tmp_path / "run2.log")
    processes.append(second)
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, second.wait, 120)
    assert code == 0, (tmp_path / "run2.log").read_text()[-3000:]
    summary = json.loads(summary_path.read_text())

    venues = {venue: {k: Decimal(v) for k, v in held.items()}
              for venue, held in summary["venue_positions"].items()}
    assert summary["sagas_in_flight"] == 0
    assert summary["fills"] >= 20
    assert venues["polymarket"] or venues["kalshi"]
    assert _engine_view(summary) == venues
