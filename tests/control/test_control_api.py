"""The control API of a running embedded engine, over real gRPC with JWT roles: what it
shows agrees with the engine's own state, every action lands in risk's audit trail with who
and why, and each refusal names what was wrong."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from arbiter.control.client import (
    ControlClient,
    Endpoint,
    EndpointError,
    read_endpoint,
    resolve_endpoint,
)
from arbiter.control.local import serve_local_control
from arbiter.control.service import ControlServicer
from arbiter.platform.auth import Role, mint_token
from arbiter.platform.config import AuthConfig, ControlConfig, load_config
from arbiter.platform.rpc import LocalRpcError
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.v1 import common_pb2, control_pb2, execution_pb2

SECRET = "control-api-test-secret-of-at-least-32-bytes"
TENANT = "default"


class Engine:
    def __init__(self, mesh: EmbeddedMesh, endpoint: Endpoint, path: Path) -> None:
        self.mesh = mesh
        self.endpoint = endpoint
        self.path = path

    def client(self, role: Role | None = None, subject: str = "alice") -> ControlClient:
        """The run's own admin token by default, else a token of `subject` in `role`."""
        if role is None:
            return ControlClient(self.endpoint)
        token = mint_token(SECRET, subject=subject, tenant=TENANT, role=role)
        return ControlClient(Endpoint(self.endpoint.address, token, TENANT))

    async def steps(self, n: int) -> None:
        for _ in range(n):
            await self.mesh.step()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    await mesh.start()
    async with contextlib.AsyncExitStack() as stack:
        endpoint, path = await serve_local_control(
            mesh.control, ControlConfig(endpoint_file=str(tmp_path / "control.json")),
            AuthConfig(hs256_secret=SECRET), stack)
        yield Engine(mesh, endpoint, path)
    await mesh.stop()
    assert not path.exists(), "the endpoint file outlived the run"


async def refused(call) -> grpc.aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_status_positions_and_sagas_agree_with_the_engine(engine: Engine) -> None:
    await engine.steps(300)
    async with engine.client() as client:
        status = await client.status()
        positions = await client.positions()
        completed = await client.sagas(state="completed", limit=10_000)
        every = await client.sagas(limit=10_000)
        one = await client.saga(completed.sagas[-1].saga_id)
    summary = engine.mesh.summary()
    assert (status.tenant_id, status.tier, status.mode) == ("default", "paper", "paper")
    assert status.ready and not status.hard_stop
    assert {v.venue for v in status.venues} == {"kalshi", "polymarket"}
    assert all(v.connected and v.funds_known and not v.missing for v in status.venues)
    assert status.sagas_by_state["COMPLETED"] == summary["sagas_completed"] > 0
    assert sum(status.sagas_by_state.values()) == every.matched
    started = every.matched - status.sagas_by_state["RISK_REJECTED"]  # risk refused the rest
    assert started == summary["sagas_started"]
    assert {s.state for s in completed.sagas} == {"COMPLETED"}
    assert completed.matched == summary["sagas_completed"]
    ledger = engine.mesh.risk.state.ledger
    assert {(p.venue, p.market_id, p.outcome): p.qty_micros for p in positions.positions} == {
        (v, m, int(o)): q for (v, m, o), q in ledger.positions().items()}
    assert positions.held_cost_micros == status.held_cost_micros == ledger.held_cost
    versions = [e.version for e in one.events]
    assert versions == sorted(versions) and one.events[0].state == 1  # CREATED
    assert one.opportunity.pair_id == one.summary.pair_id != ""


async def test_pause_kill_and_reset_are_enforced_and_audited_with_who_and_why(
        engine: Engine) -> None:
    await engine.steps(20)
    async with engine.client(Role.TRADER, "tom") as trader, \
            engine.client(Role.ADMIN, "ada") as admin:
        paused = await trader.set_paused(True, "lunch")
        assert paused.paused and paused.hard_stop
        assert engine.mesh.risk.state.hard_stop().latched
        resumed = await trader.set_paused(False)
        assert not resumed.hard_stop

        pair = engine.mesh.universe.pairs[0].pair_id
        status = await trader.set_paused(True, "odd book", pair_id=pair)
        assert dict(status.paused_pairs) == {pair: "odd book"} and not status.hard_stop
        before = {s.saga_id for s in (await trader.sagas(pair_id=pair, limit=10_000)).sagas}
        await engine.steps(200)
        later = (await trader.sagas(pair_id=pair, limit=10_000)).sagas
        new = [s for s in later if s.saga_id not in before]
        assert new and all(s.state == "RISK_REJECTED" and "paused" in s.detail for s in new)
        await trader.set_paused(False, pair_id=pair)

        killed = await admin.kill("runaway quotes")
        assert killed.hard_stop and "runaway quotes" in killed.hard_stop_reason
        # a trader's resume lifts pauses only: the kill switch stays
        assert (await trader.set_paused(False)).hard_stop
        error = await refused(trader.reset_hard_stop("looks fine"))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED and "needs admin" in (
            error.details() or "")
        error = await refused(admin.reset_hard_stop("   "))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and "reason" in (
            error.details() or "")
        assert (await admin.status()).hard_stop
        cleared = await admin.reset_hard_stop("quotes checked with the desk")
        assert not cleared.hard_stop
        trail = await admin.audit()
    actions = [(e.actor, e.action) for e in trail.entries if e.actor.startswith(("tom", "ada"))]
    assert actions == [
        ("tom (trader)", "latched"), ("tom (trader)", "resumed"),
        ("tom (trader)", "pair_paused"), ("tom (trader)", "pair_resumed"),
        ("ada (admin)", "latched"), ("tom (trader)", "resumed"), ("ada (admin)", "reset")]
    reset = [e for e in trail.entries if e.action == "reset"][-1]
    assert "quotes checked with the desk" in reset.detail and "runaway quotes" in reset.detail


async def test_a_failed_unwind_is_reset_only_by_name(engine: Engine) -> None:
    engine.mesh.risk.state.close_saga("lost-leg", -5_000_000, held=True)  # an unwind failed
    async with engine.client(Role.ADMIN, "ada") as admin:
        error = await refused(admin.reset_hard_stop("looks fine"))
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "failed_unwind" in (error.details() or "")
        assert (await admin.status()).hard_stop
        cleared = await admin.reset_hard_stop("leg hedged by hand", ["failed_unwind"])
    assert not cleared.hard_stop


async def test_the_kill_switch_cancels_what_rests(engine: Engine) -> None:
    venue = "kalshi"
    market = engine.mesh.universe.markets(venue)[0]
    ack = await engine.mesh.gateways[venue].place(execution_pb2.OrderRequest(
        tenant=common_pb2.TenantContext(tenant_id=TENANT, tier="paper"),
        client_order_id="manual-1", venue=venue, market_id=market.market_id, outcome=1,
        limit_price_micros=20_000, qty_micros=3_000_000, tif=execution_pb2.TIME_IN_FORCE_GTC,
        created_micros=1))
    assert ack.accepted
    async with engine.client() as client:
        killed = await client.kill("test")
    assert ack.venue_order_id in killed.canceled_venue_order_ids
    assert not killed.cancel_failures


async def test_limits_are_read_by_viewers_and_changed_by_admins_within_the_tier(
        engine: Engine) -> None:
    async with engine.client(Role.VIEWER, "val") as viewer, \
            engine.client(Role.TRADER, "tom") as trader, \
            engine.client(Role.ADMIN, "ada") as admin:
        limits = await viewer.limits()
        assert limits.tier == "paper" and limits.tier_caps["max_exposure_usd"] == "10000"
        before = dict(limits.limits)
        error = await refused(trader.limits({"max_exposure_usd": "500"}))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        error = await refused(admin.limits({"max_exposure_usd": "50000"}, "more room"))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "max_exposure_usd=50000 exceeds the 'paper' tier's cap of 10000" in (
            error.details() or "")
        error = await refused(admin.limits({"max_open_sagaz": "2"}))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and "max_open_sagaz" in (
            error.details() or "")
        assert dict((await viewer.limits()).limits) == before  # nothing half-applied
        changed = await admin.limits({"max_exposure_usd": "500"}, "smaller book")
        assert changed.limits["max_exposure_usd"] == "500"
        trail = await admin.audit()
    entry = trail.entries[-1]
    assert (entry.actor, entry.action, entry.detail) == ("ada (admin)", "limits_updated",
                                                         "smaller book")
    assert [(c.field, c.after) for c in entry.changes] == [("max_exposure_usd", "500")]
    assert engine.mesh.risk.state.limits.max_exposure == 500_000_000


async def test_bad_queries_are_refused_by_name(engine: Engine) -> None:
    async with engine.client(Role.VIEWER) as viewer:
        error = await refused(viewer.sagas(state="stuck"))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and "HELD" in (
            error.details() or "")
        error = await refused(viewer.saga("no-such-saga"))
        assert error.code() is grpc.StatusCode.NOT_FOUND
        error = await refused(viewer.positions("nasdaq"))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and "kalshi" in (
            error.details() or "")
        error = await refused(viewer.set_paused(True))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    other = mint_token(SECRET, subject="eve", tenant="other", role=Role.ADMIN)
    async with ControlClient(Endpoint(engine.endpoint.address, other, "other")) as intruder:
        error = await refused(intruder.status())
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_the_event_stream_pushes_saga_changes_audit_records_and_alerts(
        engine: Engine) -> None:
    async with engine.client(Role.VIEWER) as viewer, engine.client() as admin:
        received: list[control_pb2.ControlEvent] = []
        alerted = asyncio.Event()

        async def follow() -> None:
            async for event in viewer.events():
                received.append(event)
                if event.WhichOneof("kind") == "alert":
                    alerted.set()

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.2)  # the stream is open before anything happens
        await engine.steps(50)
        await admin.kill("stream test")
        async with asyncio.timeout(10):
            await alerted.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    kinds = [e.WhichOneof("kind") for e in received]
    assert "saga" in kinds and "audit" in kinds
    alert = next(e.alert for e in received if e.WhichOneof("kind") == "alert")
    assert (alert.kind, alert.severity) == ("hard_stop_latched", "critical")
    assert "stream test" in alert.summary


async def test_a_kill_switch_with_risk_down_still_cancels_and_says_it_did_not_latch() -> None:
    class RiskDown:
        async def HardStop(self, request):  # type: ignore[no-untyped-def]
            raise LocalRpcError(grpc.StatusCode.UNAVAILABLE, "risk is restarting")

    class Gateway:
        def __init__(self) -> None:
            self.swept = 0

        async def CancelAll(self, request):  # type: ignore[no-untyped-def]
            self.swept += 1
            return execution_pb2.CancelAllResult(canceled_venue_order_ids=["v-1"])

    class Bus:
        def subscribe(self, *args: object) -> None:
            pass

    gateway = Gateway()
    control = ControlServicer(Bus(), common_pb2.TenantContext(tenant_id=TENANT, tier="paper"),  # type: ignore[arg-type]
                              RiskDown(), {"kalshi": gateway})  # type: ignore[dict-item]
    reply = await control.KillSwitch(control_pb2.KillSwitchRequest(
        tenant=common_pb2.TenantContext(tenant_id=TENANT)), None)  # type: ignore[arg-type]
    assert gateway.swept == 1 and list(reply.canceled_venue_order_ids) == ["v-1"]
    assert "NOT latched" in reply.cancel_failures[0]


async def test_the_endpoint_file_is_private_and_flags_come_first(engine: Engine,
                                                                 tmp_path: Path) -> None:
    mode = stat.S_IMODE(engine.path.stat().st_mode)
    assert mode == 0o600
    assert read_endpoint(engine.path) == engine.endpoint
    environ = {"ARBITER_CONTROL_FILE": str(engine.path)}
    assert resolve_endpoint(None, None, TENANT, environ=environ) == engine.endpoint
    given = resolve_endpoint("10.0.0.1:1", "tok", TENANT, environ=environ)
    assert (given.address, given.token) == ("10.0.0.1:1", "tok")
    with pytest.raises(EndpointError, match="for tenant 'default', not 'acme'"):
        resolve_endpoint(None, None, "acme", environ=environ)
    os.chmod(engine.path, 0o644)
    with pytest.raises(EndpointError, match="readable by other users"):
        read_endpoint(engine.path)
    os.chmod(engine.path, 0o600)
    with pytest.raises(EndpointError, match="no running engine"):
        read_endpoint(tmp_path / "absent.json")
