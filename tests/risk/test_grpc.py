"""The risk servicer over a real grpc.aio server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from arbiter.core.instruments import Outcome
from arbiter.platform.bus import Envelope
from arbiter.platform.clock import ManualClock
from arbiter.risk.audit import AuditAction
from arbiter.risk.service import RiskServicer
from arbiter.risk.state import RiskState
from arbiter.v1 import common_pb2, execution_pb2, opportunity_pb2, risk_pb2, risk_pb2_grpc

from .helpers import T0, C, config_of, state

TENANT = common_pb2.TenantContext(tenant_id="acme")


@dataclass
class Served:
    stub: risk_pb2_grpc.RiskStub
    state: RiskState
    servicer: RiskServicer


async def _serve(risk: RiskState) -> AsyncIterator[Served]:
    servicer = RiskServicer(risk, config_of(risk), "acme")
    server = grpc.aio.server()
    risk_pb2_grpc.add_RiskServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield Served(risk_pb2_grpc.RiskStub(channel), risk, servicer)
    await server.stop(None)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async for s in _serve(state(ManualClock(T0), max_open_sagas=3, orders_per_second=1,
                                order_burst=100, max_failed_unwinds=1)):
        yield s


def _check(saga: str, pair: str, qty: int = 10 * C, reduce_only: bool = False,
           **leg_changes: int) -> risk_pb2.RiskCheckRequest:
    yes = opportunity_pb2.Leg(venue="polymarket", market_id="pm-1", outcome=1, limit_price_micros=400_000,
                              qty_micros=qty)
    no = opportunity_pb2.Leg(venue="kalshi", market_id="ks-1", outcome=2, limit_price_micros=500_000,
                             qty_micros=qty)
    for name, value in leg_changes.items():
        setattr(yes, name, value)
    return risk_pb2.RiskCheckRequest(
        tenant=TENANT, saga_id=saga, reduce_only=reduce_only,
        opportunity=opportunity_pb2.Opportunity(pair_id=pair, yes_leg=yes, no_leg=no))


async def test_check_approves_and_names_the_rejecting_gate(served: Served) -> None:
    approved = await served.stub.CheckRisk(_check("s1", "p1"))
    assert approved.approved and approved.approved_qty_micros == 10 * C
    pending = await served.stub.CheckRisk(_check("s2", "p1"))
    assert (pending.approved, pending.gate) == (False, "pending_pair")
    assert pending.reason == "saga s1 on pair p1 is in flight"
    assert served.servicer.rejections == {"pending_pair": 1}


async def test_bad_input_and_wrong_tenant_are_refused_with_the_field(served: Served) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await served.stub.CheckRisk(_check("s1", "p1", limit_price_micros=1_200_000))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "opportunity.yes_leg.limit_price_micros=1200000" in bad.value.details()
    request = _check("s1", "p1")
    request.tenant.tenant_id = "other"
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await served.stub.CheckRisk(request)
    assert foreign.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert served.state.ledger.open_sagas == 0


async def test_hard_stop_latch_reduce_only_and_audited_reset(served: Served) -> None:
    await served.stub.CheckRisk(_check("s1", "p1"))
    await served.stub.RecordFill(risk_pb2.FillRecord(
        tenant=TENANT, saga_id="s1", venue="polymarket", market_id="pm-1", outcome=1, qty_micros=4 * C,
        price_micros=400_000, trade_id="t1"))
    latched = await served.stub.HardStop(risk_pb2.HardStopRequest(
        tenant=TENANT, reason="kill switch: drill", actor="alice"))
    assert latched.latched and latched.reason == "kill switch: drill"
    blocked = await served.stub.CheckRisk(_check("s2", "p2"))
    assert blocked.gate == "hard_stop"
    unwind = _check("s1", "p1", reduce_only=True)
    unwind.order.CopyFrom(execution_pb2.OrderRequest(
        saga_id="s1", venue="polymarket", market_id="pm-1", outcome=2, qty_micros=4 * C,
        limit_price_micros=990_000))
    passed = await served.stub.CheckRisk(unwind)
    assert passed.approved and passed.approved_qty_micros == 4 * C
    unwind.order.qty_micros = 5 * C
    refused = await served.stub.CheckRisk(unwind)
    assert (refused.approved, refused.gate) == (False, "increases_exposure")
    unwind.order.saga_id = "s9"
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await served.stub.CheckRisk(unwind)
    assert "order.saga_id='s9' is not saga_id='s1'" in bad.value.details()
    cleared = await served.stub.HardStop(risk_pb2.HardStopRequest(
        tenant=TENANT, reset=True, actor="bob"))
    assert not cleared.latched
    actions = [(r.action, r.actor) for r in served.state.audit.records
               if r.action in (AuditAction.LATCHED, AuditAction.RESET)]
    assert actions == [(AuditAction.LATCHED, "alice"), (AuditAction.RESET, "bob")]


async def test_a_held_saga_latches_via_close_saga(served: Served) -> None:
    await served.stub.CheckRisk(_check("s1", "p1"))
    await served.stub.CloseSaga(risk_pb2.SagaClosed(tenant=TENANT, saga_id="s1", pair_id="p1",
                                                    realized_pnl_micros=-3 * C, held=True))
    state = await served.stub.HardStop(risk_pb2.HardStopRequest(tenant=TENANT))
    assert state.latched and "ended held" in state.reason
    assert list(state.triggers) == [f"failed_unwind: {state.reason}"]


async def test_mark_ready_reports_what_is_missing(served: Served) -> None:
    lost = await served.stub.MarkReady(risk_pb2.ReadinessRequest(
        tenant=TENANT, venue="kalshi", aspect=risk_pb2.READINESS_ASPECT_FILL_SNAPSHOT, lost=True,
        actor="kalshi-ws"))
    assert (lost.ready, list(lost.missing)) == (False, ["kalshi:fill_snapshot"])
    assert (await served.stub.CheckRisk(_check("s1", "p1"))).gate == "not_ready"
    back = await served.stub.MarkReady(risk_pb2.ReadinessRequest(
        tenant=TENANT, venue="kalshi", aspect=risk_pb2.READINESS_ASPECT_FILL_SNAPSHOT))
    assert back.ready and not back.missing
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await served.stub.MarkReady(risk_pb2.ReadinessRequest(tenant=TENANT, venue="kalshi"))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_seed_positions_replaces_the_log_and_rejects_bad_snapshots(served: Served) -> None:
    snapshot = common_pb2.PositionsSnapshot(venue="kalshi", netted=True, positions=[
        common_pb2.VenuePosition(market_id="KX", outcome=common_pb2.OUTCOME_NO,
                                 qty_micros=4 * C)])
    result = await served.stub.SeedPositions(risk_pb2.PositionsSeed(
        tenant=TENANT, snapshot=snapshot, actor="saga-recovery"))
    assert list(result.discrepancies) == [f"kalshi:KX:no log=0 venue={4 * C}"]
    assert served.state.ledger.positions() == {("kalshi", "KX", Outcome.NO): 4 * C}
    bad = common_pb2.PositionsSnapshot(venue="kalshi", positions=[
        common_pb2.VenuePosition(market_id="KX", outcome=common_pb2.OUTCOME_YES, qty_micros=-1)])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await served.stub.SeedPositions(risk_pb2.PositionsSeed(tenant=TENANT, snapshot=bad))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "qty_micros=-1" in (error.value.details() or "")
    assert served.state.ledger.positions() == {("kalshi", "KX", Outcome.NO): 4 * C}


async def test_update_limits_validates_audits_and_reads(served: Served) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await served.stub.UpdateLimits(risk_pb2.UpdateLimitsRequest(
            tenant=TENANT, set={"max_exposure_usd": "-5"}, actor="eve"))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "max_exposure_usd='-5'" in bad.value.details()
    done = await served.stub.UpdateLimits(risk_pb2.UpdateLimitsRequest(
        tenant=TENANT, set={"max_open_sagas": "1"}, actor="eve", reason="drill"))
    assert done.limits["max_open_sagas"] == "1"
    read = await served.stub.UpdateLimits(risk_pb2.UpdateLimitsRequest(tenant=TENANT))
    assert read.limits == done.limits
    record = served.state.audit.records[-1]
    assert (record.actor, record.detail, record.changes) == (
        "eve", "drill", (("max_open_sagas", "3", "1"),))


async def test_concurrent_checks_in_flight_fit_exactly(served: Served) -> None:
    await served.stub.UpdateLimits(risk_pb2.UpdateLimitsRequest(
        tenant=TENANT, set={"order_burst": "10", "max_open_sagas": "100"}, actor="test"))
    replies = await asyncio.gather(*(served.stub.CheckRisk(_check(f"s{n}", f"p{n}"))
                                     for n in range(64)))
    gates = [r.gate or "approved" for r in replies]
    assert gates.count("approved") == 5 and gates.count("order_rate") == 59


async def test_bus_fills_and_rejects_feed_positions_and_monitors(served: Served) -> None:
    await served.stub.CheckRisk(_check("s1", "p1"))
    fill = execution_pb2.ExecutionReport(
        tenant_id="acme", saga_id="s1", venue="polymarket", market_id="pm-1", outcome=1,
        kind=execution_pb2.REPORT_KIND_FILL, trade_id="x", price_micros=400_000, qty_micros=C)
    for _ in range(2):  # redelivered: counted once
        await served.servicer.on_report(Envelope("exec", "s1", fill))
    assert served.state.ledger.held(("polymarket", "pm-1", 1)) == C
    reject = execution_pb2.ExecutionReport(tenant_id="acme", venue="kalshi", client_order_id="c1",
                                           kind=execution_pb2.REPORT_KIND_REJECT)
    for _ in range(2):
        await served.servicer.on_report(Envelope("exec", "s1", reject))
    await served.stub.UpdateLimits(risk_pb2.UpdateLimitsRequest(
        tenant=TENANT, set={"max_rejections_per_hour": "0"}, actor="test"))
    state = await served.stub.HardStop(risk_pb2.HardStopRequest(tenant=TENANT))
    assert state.reason == "1 venue rejections in the last hour (limit 0)"


async def test_a_settlement_closes_what_is_held_once_and_a_bad_one_is_refused(
    served: Served,
) -> None:
    for trade, outcome in (("t1", 1), ("t2", 2)):
        await served.stub.RecordFill(risk_pb2.FillRecord(
            tenant=TENANT, venue="kalshi", market_id="ks-1", outcome=outcome, qty_micros=4 * C,
            price_micros=450_000, trade_id=trade))
    assert served.state.ledger.held_cost == 2 * 4 * 450_000
    settle = risk_pb2.SettlementRecord(tenant=TENANT, venue="kalshi", market_id="ks-1",
                                       yes_payout_micros=1_000_000)
    await served.stub.RecordSettlement(settle)
    await served.stub.RecordSettlement(settle)  # a repeat (or a restart's re-read) closes nothing
    ledger = served.state.ledger
    assert (ledger.held(("kalshi", "ks-1", Outcome.YES)), ledger.held(("kalshi", "ks-1", Outcome.NO)),
            ledger.held_cost, ledger.total_held) == (0, 0, 0, 0)
    for field, value in (("yes_payout_micros", 1_000_001), ("yes_payout_micros", -1),
                         ("market_id", "")):
        bad = risk_pb2.SettlementRecord()
        bad.CopyFrom(settle)
        setattr(bad, field, value)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await served.stub.RecordSettlement(bad)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in refused.value.details()


async def test_a_pause_is_lifted_by_a_resume_other_trips_only_by_a_reset(served: Served) -> None:
    pause = risk_pb2.HardStopRequest(tenant=TENANT, pause=True, reason="lunch", actor="bob")
    resume = risk_pb2.HardStopRequest(tenant=TENANT, resume=True, actor="bob")
    paused = await served.stub.HardStop(pause)
    assert (paused.latched, paused.paused, paused.reason) == (True, True, "lunch")
    assert not (await served.stub.HardStop(resume)).latched
    await served.stub.HardStop(pause)
    await served.stub.HardStop(risk_pb2.HardStopRequest(tenant=TENANT, reason="kill switch: x"))
    still = await served.stub.HardStop(resume)
    assert (still.latched, still.paused, still.reason) == (True, False, "kill switch: x")
    with pytest.raises(grpc.aio.AioRpcError) as both:
        await served.stub.HardStop(risk_pb2.HardStopRequest(tenant=TENANT, reset=True,
                                                            resume=True))
    assert both.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (await served.stub.HardStop(risk_pb2.HardStopRequest(tenant=TENANT))).latched
    assert not (await served.stub.HardStop(risk_pb2.HardStopRequest(
        tenant=TENANT, reset=True, actor="admin"))).latched
