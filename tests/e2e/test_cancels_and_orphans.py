"""Cancels go out and are reported; at restart, resting orders no saga owns are canceled;
the kill switch sweeps every venue."""

from __future__ import annotations

import grpc
import pytest

from arbiter.control.service import ControlServicer
from arbiter.core.instruments import Outcome, Venue
from arbiter.gateways.service import OrderEntryServicer
from arbiter.platform.config import load_config
from arbiter.platform.rpc import LocalStub, insecure_channel, start_server
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.v1 import common_pb2, control_pb2, execution_pb2
from arbiter.v1.execution_pb2_grpc import OrderEntryStub, add_OrderEntryServicer_to_server

TENANT = common_pb2.TenantContext(tenant_id="default", tier="paper")


def _resting(mesh: EmbeddedMesh, venue: Venue, coid: str) -> execution_pb2.OrderRequest:
    """A buy far below the market, so it rests and no liquidity provider reaches it."""
    market = mesh.universe.markets(venue)[0]
    return execution_pb2.OrderRequest(
        tenant=TENANT, client_order_id=coid, venue=venue, market_id=market.market_id,
        outcome=int(Outcome.YES), limit_price_micros=20_000, qty_micros=3_000_000,
        tif=execution_pb2.TIME_IN_FORCE_GTC, saga_id="", created_micros=1)


def _live_orders(mesh: EmbeddedMesh) -> int:
    polymarket = sum(1 for o in mesh.venue("polymarket").orders.values() if o["status"] == "LIVE")
    kalshi = sum(1 for o in mesh.venue("kalshi").orders.values() if o["status"] == "resting")
    return polymarket + kalshi


async def test_a_cancel_reaches_the_venue_and_reports_the_dead_remainder() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    await mesh.start()
    reports: list[execution_pb2.ExecutionReport] = []
    for venue, gateway in mesh.gateways.items():
        gateway.on_report = _collect(reports)
        ack = await gateway.place(_resting(mesh, venue, f"manual-{venue}"))
        assert ack.accepted
        canceled = await gateway.cancel(execution_pb2.CancelRequest(
            tenant=TENANT, venue=venue, venue_order_id=ack.venue_order_id))
        assert canceled.canceled, canceled.reason
        again = await gateway.cancel(execution_pb2.CancelRequest(
            tenant=TENANT, venue=venue, venue_order_id=ack.venue_order_id))
        assert not again.canceled and again.reason
    await mesh.stop()
    assert _live_orders(mesh) == 0
    dead = [r for r in reports if r.kind == execution_pb2.REPORT_KIND_CANCELED]
    assert sorted(r.client_order_id for r in dead) == ["manual-kalshi", "manual-polymarket"]
    assert all(r.qty_micros == 3_000_000 for r in dead)


async def test_restart_cancels_resting_orders_that_belong_to_no_saga() -> None:
    config = load_config(environ={})
    first = await EmbeddedMesh.build(config)
    await first.start()
    for venue, gateway in first.gateways.items():
        assert (await gateway.place(_resting(first, venue, f"orphan-{venue}"))).accepted
    for _ in range(30):
        await first.step()
    await first.stop()
    assert _live_orders(first) == 2

    restarted = await EmbeddedMesh.build(config, venues=first.venues, journal=first.saga.journal)
    await restarted.start()
    await restarted.stop()
    assert _live_orders(first) == 0
    assert restarted.saga.orphans_canceled == 2


def _collect(into: list[execution_pb2.ExecutionReport]):
    async def sink(report: execution_pb2.ExecutionReport) -> None:
        into.append(report)

    return sink


async def test_a_restart_that_cannot_reconcile_latches_hard_stop_instead_of_trading() -> None:
    config = load_config(environ={})
    first = await EmbeddedMesh.build(config)
    await first.start()
    await first.stop()

    restarted = await EmbeddedMesh.build(config, venues=first.venues, journal=first.saga.journal)

    async def venue_down(*_: object) -> list[tuple[str, str]]:
        raise ConnectionError("venue unreachable")

    restarted.gateways["kalshi"]._open_orders = venue_down  # type: ignore[method-assign]
    await restarted.start()
    for _ in range(40):
        await restarted.step()
    await restarted.stop()
    latch = restarted.risk.state.hard_stop()
    assert latch.latched and "restart reconciliation failed" in latch.reason
    assert latch.triggers[0].startswith("reconciliation: ")  # a reset must acknowledge it
    assert restarted.saga.stats().started == 0


async def test_restart_seeds_risk_from_the_venues_own_positions() -> None:
    """A position the saga log never saw (a fill lost with the process, a trade by hand)
    is what risk counts after a restart, and the difference is audited."""
    config = load_config(environ={})
    first = await EmbeddedMesh.build(config)
    await first.start()
    for _ in range(60):
        await first.step()
    await first.stop()
    ticker = first.universe.markets("kalshi")[0].market_id
    first.venue("kalshi").account.positions[ticker] += 7_000_000  # 7 YES the log knows nothing of

    restarted = await EmbeddedMesh.build(config, venues=first.venues, journal=first.saga.journal)
    assert "kalshi:positions" in restarted.risk.state.readiness.missing()  # not before recovery
    await restarted.start()
    await restarted.stop()

    state = restarted.risk.state
    venue_net = first.venue("kalshi").account.positions[ticker]
    held_yes = state.ledger.held(("kalshi", ticker, Outcome.YES))
    held_no = state.ledger.held(("kalshi", ticker, Outcome.NO))
    assert held_yes - held_no == venue_net and min(held_yes, held_no) == 0
    seeded = [r for r in state.audit.records if r.action == "positions_seeded"]
    assert any(f"kalshi:{ticker}:" in r.detail for r in seeded)
    assert state.readiness.ready, state.readiness.missing()


async def test_kill_switch_latches_then_cancels_every_resting_order() -> None:
    """The kill switch stops new risk first, then sweeps every venue; a venue that cannot
    be reached is named in the reply and does not stop the sweep of the others."""
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    await mesh.start()
    placed = {venue: (await gateway.place(_resting(mesh, venue, f"rest-{venue}")))
              .venue_order_id for venue, gateway in mesh.gateways.items()}
    order_entry = dict(mesh.saga.gateways)
    kalshi_server, port = await start_server(0, [lambda s: add_OrderEntryServicer_to_server(
        OrderEntryServicer(mesh.gateways["kalshi"], "default"), s)])
    await kalshi_server.stop(None)  # Kalshi's gateway is down
    async with insecure_channel(f"127.0.0.1:{port}", TENANT) as down:
        control = LocalStub(ControlServicer(mesh.bus, TENANT, LocalStub(mesh.risk), {
            "polymarket": order_entry["polymarket"],
            "kalshi": OrderEntryStub(down)}))
        partial = await control.KillSwitch(control_pb2.KillSwitchRequest(
            tenant=TENANT, reason="runaway"))
    assert partial.hard_stop and partial.hard_stop_reason == "kill switch: runaway"
    assert list(partial.canceled_venue_order_ids) == [placed["polymarket"]]
    assert [f.split(":")[0] for f in partial.cancel_failures] == ["kalshi"]

    control = LocalStub(ControlServicer(mesh.bus, TENANT, LocalStub(mesh.risk), order_entry))
    again = await control.KillSwitch(control_pb2.KillSwitchRequest(tenant=TENANT))
    await mesh.stop()
    assert list(again.canceled_venue_order_ids) == [placed["kalshi"]]
    assert not again.cancel_failures and _live_orders(mesh) == 0
    assert mesh.risk.state.hard_stop().reason == "kill switch: runaway"  # the first reason


async def test_order_entry_batches_over_rpc_answer_per_order() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    await mesh.start()
    entry = mesh.saga.gateways["kalshi"]
    good = [_resting(mesh, "kalshi", f"batch-{n}") for n in range(3)]
    unknown = execution_pb2.OrderRequest()
    unknown.CopyFrom(good[0])
    unknown.client_order_id, unknown.market_id = "batch-bad", "NO-SUCH-MARKET"
    acks = (await entry.PlaceOrders(execution_pb2.OrderBatch(
        tenant=TENANT, orders=[good[0], unknown, good[1], good[2]]))).acks
    assert [a.accepted for a in acks] == [True, False, True, True]
    assert "NO-SUCH-MARKET" in acks[1].reject_reason

    foreign = execution_pb2.OrderRequest()
    foreign.CopyFrom(good[0])
    foreign.tenant.tenant_id = "rival"
    with pytest.raises(grpc.RpcError) as smuggled:
        await entry.PlaceOrders(execution_pb2.OrderBatch(tenant=TENANT, orders=[foreign]))
    assert smuggled.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as bad_market:
        await entry.CancelAll(execution_pb2.CancelAllRequest(tenant=TENANT, market_id="nope"))
    assert bad_market.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    market = good[0].market_id
    swept = await entry.CancelAll(execution_pb2.CancelAllRequest(tenant=TENANT, market_id=market))
    await mesh.stop()
    assert sorted(swept.canceled_venue_order_ids) == sorted(a.venue_order_id for a in acks
                                                            if a.accepted)
    assert _live_orders(mesh) == 0


async def test_a_resume_lifts_a_pause_but_never_a_kill_switch_or_a_monitor_trip() -> None:
    """SetPaused(false) once reset the whole latch, so a trader's resume undid an admin's
    kill switch and a failed unwind. It lifts the pause and nothing else now; only an
    explicit, audited reset clears the rest."""
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    await mesh.start()
    control = LocalStub(ControlServicer(mesh.bus, TENANT, LocalStub(mesh.risk),
                                        dict(mesh.saga.gateways)))
    paused = await control.SetPaused(control_pb2.PauseRequest(
        tenant=TENANT, paused=True, reason="lunch"))
    assert paused.paused and paused.hard_stop and paused.hard_stop_reason == "lunch"
    resumed = await control.SetPaused(control_pb2.PauseRequest(tenant=TENANT, paused=False))
    assert not resumed.paused and not resumed.hard_stop

    await control.SetPaused(control_pb2.PauseRequest(tenant=TENANT, paused=True))
    await control.KillSwitch(control_pb2.KillSwitchRequest(tenant=TENANT, reason="runaway"))
    mesh.risk.state.close_saga("default:s-held", held=True)  # a failed unwind trips its monitor
    resumed = await control.SetPaused(control_pb2.PauseRequest(tenant=TENANT, paused=False))
    latch = mesh.risk.state.hard_stop()
    audit = [r.action.value for r in mesh.risk.state.audit.records]
    await mesh.stop()
    assert not resumed.paused and resumed.hard_stop
    assert latch.latched and not latch.paused
    assert latch.reason == "kill switch: runaway" and len(latch.triggers) == 2
    assert latch.triggers[1].startswith("failed_unwind: ")
    assert "resumed" in audit and "reset" not in audit
