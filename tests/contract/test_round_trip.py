"""Every venue's gateway against its socket-served emulator: the same round trip for all."""

from __future__ import annotations

from emulators.conftest import Harness, eventually

from arbiter.core.units import QTY_SCALE
from arbiter.v1 import execution_pb2

ONE = QTY_SCALE
ACK, FILL, CANCELED, REJECT = (execution_pb2.REPORT_KIND_ACK, execution_pb2.REPORT_KIND_FILL,
                               execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT)


def kinds(harness: Harness, coid: str) -> list[int]:
    return [r.kind for r in harness.reports if r.client_order_id == coid]


async def test_books_start_with_a_snapshot_then_follow_deltas(harness: Harness) -> None:
    await eventually(harness.all_books_match)
    for _ in range(4):
        await harness.step()
    await eventually(harness.all_books_match)
    for market_id in harness.market_ids:
        seen = harness.mirror.kinds[market_id]
        assert seen[0] == "snapshot" and "delta" in seen
    assert harness.mirror.errors == [] and harness.gateway.rejected_messages == 0


async def test_ioc_buy_fills_at_the_ask_and_reports_ack_fill_then_the_dead_rest(
    harness: Harness,
) -> None:
    await eventually(harness.all_books_match)
    _, asks = harness.engine(harness.market_ids[0]).snapshot()
    price, depth = asks[0]
    ack = await harness.gateway.place(harness.ioc_buy_yes("rt-ioc", price, depth + ONE))
    assert ack.accepted, ack.reject_reason
    await eventually(lambda: CANCELED in kinds(harness, "rt-ioc"))
    assert kinds(harness, "rt-ioc") == [ACK, FILL, CANCELED]
    fill = next(r for r in harness.reports if r.kind == FILL)
    assert (fill.price_micros, fill.qty_micros) == (price, depth) and fill.fee_micros >= 0
    assert harness.reports[-1].qty_micros == ONE


async def test_resting_order_is_canceled_and_its_remainder_reported(harness: Harness) -> None:
    await eventually(harness.all_books_match)
    bids, _ = harness.engine(harness.market_ids[0]).snapshot()
    tick = harness.gateway.markets[harness.market_ids[0]].tick_micros
    request = harness.ioc_buy_yes("rt-gtc", bids[-1][0] - tick, 2 * ONE)
    request.tif = execution_pb2.TIME_IN_FORCE_GTC
    ack = await harness.gateway.place(request)
    assert ack.accepted, ack.reject_reason
    cancel = await harness.gateway.cancel(execution_pb2.CancelRequest(
        venue_order_id=ack.venue_order_id, client_order_id="rt-gtc", venue=harness.venue))
    assert cancel.canceled, cancel.reason
    await eventually(lambda: CANCELED in kinds(harness, "rt-gtc"))
    assert kinds(harness, "rt-gtc") == [ACK, CANCELED]
    assert harness.reports[-1].qty_micros == 2 * ONE


async def test_a_refused_order_is_a_reject_carrying_the_venues_reason(harness: Harness) -> None:
    await eventually(harness.all_books_match)
    _, asks = harness.engine(harness.market_ids[0]).snapshot()
    harness.server.faults.reject_orders()
    ack = await harness.gateway.place(harness.ioc_buy_yes("rt-rej", asks[0][0], ONE))
    assert not ack.accepted
    assert kinds(harness, "rt-rej") == [REJECT]
    assert "balance" in harness.reports[-1].reason.lower()
    again = await harness.gateway.place(harness.ioc_buy_yes("rt-rej-2", asks[0][0], ONE))
    assert again.accepted, again.reject_reason


async def test_an_unknown_market_is_rejected_without_reaching_the_venue(harness: Harness) -> None:
    request = harness.ioc_buy_yes("rt-unknown", 500_000, ONE)
    request.market_id = "NO-SUCH-MARKET"
    before = len(harness.server.requests)
    ack = await harness.gateway.place(request)
    assert not ack.accepted and "unknown market" in ack.reject_reason
    assert len(harness.server.requests) == before


async def test_a_cut_socket_reconnects_and_rebuilds_every_book(harness: Harness) -> None:
    await eventually(harness.all_books_match)
    market_id = harness.market_ids[0]
    before = harness.mirror.snapshots(market_id)
    harness.server.faults.drop_ws_after(2, channel=harness.book_channel)
    await eventually(lambda: harness.transport.reconnects >= 1, between=harness.step)
    await eventually(lambda: harness.mirror.snapshots(market_id) > before)
    for _ in range(3):
        await harness.step()
    await eventually(harness.all_books_match)
    assert harness.mirror.errors == [] and harness.gateway.rejected_messages == 0


async def test_positions_and_cash_are_what_the_venue_says_we_hold(harness: Harness) -> None:
    await eventually(harness.all_books_match)
    _, asks = harness.engine(harness.market_ids[0]).snapshot()
    before = (await harness.gateway.balance()).cash
    ack = await harness.gateway.place(harness.ioc_buy_yes("rt-pos", asks[0][0], ONE))
    assert ack.accepted, ack.reject_reason
    fill = next(r for r in harness.reports if r.kind == FILL)
    assert before - (await harness.gateway.balance()).cash == asks[0][0] + fill.fee_micros
    snapshot = await harness.gateway.positions()
    held = {(p.market_id, p.outcome): p.qty_micros for p in snapshot.positions}
    assert held == {(harness.market_ids[0], 1): ONE}
