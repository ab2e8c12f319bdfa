"""`arbiter run --live`: the embedded topology trading over sockets with the tenant's keys in
the vault store, put there with the vault's own API, and an emulator that knows the live
Kalshi key only because it was told (`arbiter emulator --register-key`), as Kalshi knows a key
created in its UI. Nothing here is a mock: emulators on real sockets verify every EIP-712
and RSA-PSS signature, and every signature comes from the vault service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from distributed.conftest import (
    announced_metrics,
    eventually,
    free_ports,
    listening,
    metric_total,
    run_arbiter,
    spawn,
)

from arbiter.emulators.server import serve_emulators, step_until
from arbiter.platform.config import DEFAULT_PAIRS, ArbiterConfig, load_config
from arbiter.risk.audit import AuditAction
from arbiter.topology.embedded import EmbeddedMesh, EmulatedVenues
from arbiter.topology.runner import RunLimits, StartupError, run_embedded
from arbiter.v1 import common_pb2, execution_pb2
from arbiter.vault import build_vault_service
from arbiter.venues.kalshi.credentials import KALSHI_RSA
from arbiter.venues.plugin import plugin
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

LIVE_EOA = "0x" + "7c" * 32
KEY_ID = "kid-live-run"
# Free-running markets lose on stale quotes now and then; these tests are about arming,
# readiness and the stop, not the loss monitors (tests/risk covers those).
RELAXED_RISK = {"max_consecutive_losses": 1000, "max_cumulative_loss_usd": "100000",
                "max_daily_loss_usd": "100000", "max_slippage_streak": 1000,
                "max_rejections_per_hour": 100000, "max_failed_unwinds": 1000}


def _put_live_keys(tmp_path: Path) -> Path:
    """What an operator does once: both private keys into the vault store; returns the
    Kalshi public key's PEM file (what the venue was given)."""
    kalshi_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    secret = tmp_path / "master.key"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    vault = build_vault_service(tmp_path / "vault.db", secret)
    vault.vault.put("ops@acme", "acme", "polymarket", POLYMARKET_EOA, LIVE_EOA.encode())
    vault.vault.put("ops@acme", "acme", "production-kalshi", KALSHI_RSA,
                    kalshi_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), KEY_ID)
    vault.close()
    public = tmp_path / "kalshi.pub.pem"
    public.write_bytes(kalshi_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def _config(tmp_path: Path, venues: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant": {"id": "acme", "tier": "pro"},
        "market": {"seed": 5, "step_ms": 50},
        "venues": {"mode": "live", **venues},
        "vault": {"store_path": str(tmp_path / "vault.db"),
                  "master_secret_path": str(tmp_path / "master.key")},
        "saga": {"log_path": str(tmp_path / "saga.db")},
        "risk": RELAXED_RISK,
    }


@contextlib.asynccontextmanager
async def _emulators(tmp_path: Path) -> AsyncIterator[tuple[EmulatedVenues, dict[str, Any]]]:
    """Both venues on sockets, stepped on the wall clock, Kalshi told of the live key;
    yields them and the `venues` sections that point at them."""
    public = _put_live_keys(tmp_path)
    emulated = EmulatedVenues.create(load_config(environ={}), open_registration=False)
    plugin("kalshi").register_emulator_key(emulated["kalshi"], KEY_ID, public.read_bytes())
    stop = asyncio.Event()
    async with serve_emulators(emulated.venues, emulated.market, "127.0.0.1",
                               dict.fromkeys(emulated.venues, 0)) as running:
        stepping = asyncio.create_task(step_until(running.market, 50, stop))
        try:
            yield emulated, {slug: plugin(slug).served_at(server.url, server.ws_urls)
                             for slug, server in running.servers.items()}
        finally:
            stop.set()
            await stepping


class _Watch:
    """The run's view hook: hands the test the mesh the runner built."""

    def __init__(self, meshes: list[EmbeddedMesh]) -> None:
        self.meshes = meshes

    def __call__(self, mesh: EmbeddedMesh) -> _Watch:
        self.meshes.append(mesh)
        return self

    def update(self, mesh: EmbeddedMesh) -> None: ...

    def close(self) -> None: ...


async def _until(check: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_live_run_trades_only_once_synced_and_cancels_what_rests_at_stop(
    tmp_path: Path,
) -> None:
    async with _emulators(tmp_path) as (emulated, venues):
        config = ArbiterConfig.model_validate(_config(tmp_path, venues))
        stop = asyncio.Event()
        meshes: list[EmbeddedMesh] = []
        run = asyncio.create_task(run_embedded(config, RunLimits(), view=_Watch(meshes),
                                               stop_signal=lambda: stop))
        await _until(lambda: meshes or run.done(), 60, "the run to start")
        if run.done():
            run.result()  # raises why it did not start
        mesh = meshes[0]
        await _until(lambda: mesh.saga.fills >= 2 or run.done(), 60, "fills")
        gateway = mesh.gateways["kalshi"]
        market = next(iter(gateway.markets.values())).market_id
        ack = await gateway.place(execution_pb2.OrderRequest(  # far below the book: it rests
            tenant=common_pb2.TenantContext(tenant_id="acme", tier="pro"),
            client_order_id="resting-1", venue="kalshi", market_id=market, outcome=1,
            limit_price_micros=10_000, qty_micros=1_000_000,
            tif=execution_pb2.TIME_IN_FORCE_GTC, saga_id="manual",
            created_micros=mesh.clock.now_micros()))
        assert ack.accepted, ack.reject_reason
        engine = emulated["kalshi"].engine(market)
        assert "resting-1" in {o.client_order_id for o in engine.orders.values()}

        stop.set()
        summary = await run

    assert summary["mode"] == "live"
    assert summary["orders_sent"] > 0 and summary["fills"] >= 2, summary
    assert summary["orders_canceled_at_stop"] >= 1 and summary["cancel_failures"] == []
    assert "resting-1" not in {o.client_order_id for o in engine.orders.values()}
    # Gateways streamed books before recovery finished; not one order went out before
    # every readiness aspect of every venue was up.
    synced = [r for r in mesh.risk.state.audit.records
              if r.action is AuditAction.READINESS and r.detail.endswith(" ready")]
    assert {r.detail for r in synced} == {f"{venue}:{aspect} ready" for venue in ("kalshi",
                                          "polymarket") for aspect in (
        "market_data", "order_snapshot", "fill_snapshot", "positions", "funds")}
    assert min(mesh.saga.sent.values()) >= max(r.at_micros for r in synced)


async def test_arbiter_run_live_arms_trades_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    public = _put_live_keys(tmp_path)
    pm_port, ks_port = free_ports(2)
    venues = {"polymarket": {"url": f"http://127.0.0.1:{pm_port}",
                             "ws_url": f"ws://127.0.0.1:{pm_port}"},
              "kalshi": {"url": f"http://127.0.0.1:{ks_port}",
                         "ws_url": f"ws://127.0.0.1:{ks_port}/trade-api/ws/v2"}}
    config = tmp_path / "arbiter.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path, venues)))
    env = {**os.environ, "ARBITER_CONFIG": str(config)}
    emulator = spawn(["emulator", "--port", f"polymarket={pm_port}", "--port",
                      f"kalshi={ks_port}", "--seed", "5",
                      "--register-key", f"kalshi:{KEY_ID}={public}"], env,
                     tmp_path / "emulator.log")
    run = None
    summary_path, err_log = tmp_path / "summary.json", tmp_path / "run.err"
    try:
        await eventually(lambda: listening(pm_port, ks_port), 30, "the emulators")
        run = run_arbiter(["run", "--live", "--yes-i-mean-live", "--headless", "--summary-json",
                      str(summary_path), "--metrics-port", "0"], env, err_log)
        url = await eventually(lambda: announced_metrics(err_log, run), 60, "the metrics port")
        async def filled() -> bool:
            return await metric_total(url, "arbiter_fills_total") >= 2

        await eventually(filled, 90, "fills at the emulators")
        run.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(run.communicate, timeout=60)
        err = err_log.read_text()
        assert run.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        summary = json.loads(summary_path.read_text())
        assert json.loads(out) == summary
        assert summary["mode"] == "live" and summary["cancel_failures"] == []
        assert summary["orders_sent"] > 0 and summary["fills"] >= 2
        assert summary["sagas_in_flight"] == 0
        assert summary["venue_positions"]["polymarket"] or summary["venue_positions"]["kalshi"]
        assert emulator.poll() is None, "the venue outlives the engine"
    finally:
        for process in (run, emulator):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
    vault = build_vault_service(tmp_path / "vault.db", tmp_path / "master.key")
    events = vault.vault.audit("acme", 10_000)
    vault.close()
    signed = {(e.credential_id, e.action.split()[0]) for e in events if e.outcome == "ok"}
    assert {("polymarket", "sign:polymarket_clob_auth"), ("polymarket", "sign:polymarket_order"),
            ("production-kalshi", "sign:venue_request")} <= signed
    # each order signature is audited with what it meant, for a token of acme's pairs
    tokens = {pair["a"][side] for pair in DEFAULT_PAIRS for side in ("yes_token", "no_token")}
    orders = [e.action for e in events if e.action.startswith("sign:polymarket_order")]
    assert orders and all(" side=BUY " in a and a.split(" token=")[1].split()[0] in tokens
                          for a in orders)
    assert not [e for e in events if e.outcome.startswith("refused")]


async def test_a_live_run_refuses_to_start_naming_each_venue_that_fails_its_checks(
    tmp_path: Path,
) -> None:
    _put_live_keys(tmp_path)
    config = ArbiterConfig.model_validate(_config(tmp_path, {
        slug: {"url": "http://127.0.0.1:1", "ws_url": "ws://127.0.0.1:1"}
        for slug in ("polymarket", "kalshi")}))
    with pytest.raises(StartupError) as refused:
        await run_embedded(config, RunLimits(steps=1))
    lines = str(refused.value).splitlines()
    assert sorted(line.split(":", 1)[0] for line in lines) == ["kalshi", "polymarket"], lines
    assert all("connectivity check failed" in line for line in lines)
