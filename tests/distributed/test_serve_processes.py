"""The distributed topology for real: a tansu broker, `arbiter emulator`, and one
`arbiter serve SERVICE` process per service, talking Kafka and gRPC over mutual TLS with
the certificates `arbiter pki init` made (each process its own). Sagas must complete, as in
`arbiter run --bus kafka`, and every pod's health endpoint must answer.

The gateways run live (`venues.mode: live`): the tenant's keys are put into the vault with
`arbiter vault put` as an operator would, and only the vault process ever opens them; every
order and Kalshi request the gateways send is signed there over gRPC."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.platform.auth import Role, mint_token
from arbiter.v1 import control_pb2
from arbiter.vault import build_vault_service

from .conftest import eventually
from .plane import SECRET, start_plane

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_services_as_processes_complete_sagas(
    tansu_bootstrap: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    plane = await start_plane(tansu_bootstrap, processes, tmp_path)
    try:
        async with plane.control() as control:
            async def completed() -> control_pb2.StatusReply | None:
                status = await control.status()
                return status if status.sagas_by_state.get("COMPLETED", 0) >= 2 else None

            status = await eventually(completed, 90, "completed sagas reported by control")
        token = mint_token(SECRET, subject="ops@acme", tenant="acme", role=Role.VIEWER)
        shown = await asyncio.to_thread(CliRunner().invoke, app, [
            "ctl", "--address", f"127.0.0.1:{plane.ports['control'][0]}", "--token", token,
            "--tenant", "acme", "--ca", plane.ca, "status", "--json"])
        assert shown.exit_code == 0, shown.output
        assert orjson.loads(shown.output)["tenant_id"] == "acme"
    except AssertionError:
        await plane.dump()
        raise
    assert status.tenant_id == "acme"
    assert not status.hard_stop
    assert all(process.poll() is None for process in processes), "a service process died"
    vault = build_vault_service(tmp_path / "vault.db", tmp_path / "master.key")
    signed = {(e.credential_id, e.action.split(" ")[0], e.actor.split(" ")[0])
              for e in vault.vault.audit("acme", 10_000)
              if e.actor.startswith("grpc:") and e.outcome == "ok"}
    vault.close()
    assert {("polymarket", "sign:polymarket_order", "grpc:gateway-polymarket@acme"),
            ("production-kalshi", "sign:venue_request", "grpc:gateway-kalshi@acme")} <= signed
