"""Polymarket tick-size changes end to end (facts A11 `tick_size_change`): the emulator moves
a market to a new grid and enforces it, the gateway builds orders on it and re-publishes the
book stamped with it, and the order book service rebuilds its tick-indexed book to follow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from emulators.conftest import Harness, eventually

from arbiter.emulators.server import WsFault
from arbiter.orderbook.service import OrderBookService
from arbiter.platform import topics
from arbiter.platform.bus import MemoryBus
from arbiter.platform.bus.base import Envelope
from arbiter.v1 import execution_pb2, market_data_pb2

from .conftest import GTC, ONE, assert_money_invariants, venue_orders

CENT, MILL = 10_000, 1_000  # the 0.01 and 0.001 grids, in micro-dollars


@dataclass
class Books:
    """The order book service fed by the gateway over a MemoryBus, as in the mesh."""

    service: OrderBookService
    bus: MemoryBus

    def book(self, harness: Harness) -> tuple[int, list, list, bool]:
        key = f"polymarket:{harness.market_ids[0]}"
        book = self.service.books[key]
        return (book.tick, list(book.iter_bids()), list(book.iter_asks()),
                key in self.service.stale)


@pytest.fixture
async def books(polymarket: Harness) -> AsyncIterator[Books]:
    bus = MemoryBus()
    service = OrderBookService(bus, list(polymarket.gateway.markets.values()))
    await bus.start()
    mirror = polymarket.mirror

    async def both(event: market_data_pb2.BookEvent) -> None:
        await mirror(event)
        body = getattr(event, event.WhichOneof("event"))
        await bus.publish(topics.BOOKS, f"polymarket:{body.market_id}", event)

    polymarket.gateway.on_book = both
    yield Books(service, bus)
    await bus.stop()


def bid(harness: Harness, coid: str, price: int) -> execution_pb2.OrderRequest:
    request = harness.ioc_buy_yes(coid, price, ONE)
    request.tif = GTC
    return request


def in_step(harness: Harness, books: Books, tick: int) -> bool:
    """Gateway, mirror and order book service all on `tick`, and all equal to the venue."""
    tick_now, bids, asks, stale = books.book(harness)
    engine = harness.engine(harness.market_ids[0])
    return (tick_now == tick and not stale and (bids, asks) == engine.snapshot()
            and harness.gateway._ticks[harness.market_ids[0]].tick_micros == tick  # type: ignore[attr-defined]
            and harness.mirror.matches(harness.market_ids[0], engine))


async def test_tick_change_moves_orders_and_books_to_the_new_grid(
    polymarket: Harness, books: Books,
) -> None:
    market_id = polymarket.market_ids[0]
    emulator = polymarket.emulator

    await emulator.change_tick(market_id, MILL)  # type: ignore[attr-defined]
    await eventually(lambda: in_step(polymarket, books, MILL))

    best_bid = polymarket.engine(market_id).snapshot()[0][0][0]
    half = await polymarket.gateway.place(bid(polymarket, "half-cent", best_bid + 5 * MILL))
    assert half.accepted, half.reject_reason  # on the new grid, off the old one
    await polymarket.step()
    await eventually(lambda: in_step(polymarket, books, MILL))
    assert books.book(polymarket)[1][0][0] == best_bid + 5 * MILL  # a delta on the new grid

    canceled = await polymarket.gateway.cancel(
        execution_pb2.CancelRequest(venue_order_id=half.venue_order_id))
    assert canceled.canceled
    await emulator.change_tick(market_id, CENT)  # type: ignore[attr-defined]
    await eventually(lambda: in_step(polymarket, books, CENT))
    best_bid = polymarket.engine(market_id).snapshot()[0][0][0]

    rounded = await polymarket.gateway.place(bid(polymarket, "rounded", best_bid + 5 * MILL))

    assert rounded.accepted, rounded.reject_reason
    assert emulator.orders[rounded.venue_order_id].price == best_bid  # type: ignore[attr-defined]
    await assert_money_invariants(polymarket)
    assert polymarket.mirror.errors == [] and polymarket.gateway.rejected_messages == 0


async def test_an_order_off_the_venues_grid_gets_invalid_order_min_tick_size(
    polymarket: Harness,
) -> None:
    """The gateway misses the change back to cents (its frame is dropped): its half-cent
    price is off the venue's grid, and the venue says so."""
    market_id = polymarket.market_ids[0]
    await polymarket.emulator.change_tick(market_id, MILL)  # type: ignore[attr-defined]
    await eventually(lambda: polymarket.mirror.ticks[market_id] == MILL)
    polymarket.server.faults.ws_fault(WsFault.DROP, "market", containing="tick_size_change")
    await polymarket.emulator.change_tick(market_id, CENT)  # type: ignore[attr-defined]
    best_bid = polymarket.engine(market_id).snapshot()[0][0][0]

    ack = await polymarket.gateway.place(bid(polymarket, "stale-grid", best_bid + 5 * MILL))

    assert not ack.accepted and "INVALID_ORDER_MIN_TICK_SIZE" in ack.reject_reason
    assert venue_orders(polymarket) == {}
    await assert_money_invariants(polymarket)


async def test_no_book_after_the_change_goes_dark_until_the_venue_sends_one(
    polymarket: Harness,
) -> None:
    """GET /book times out: the market is published empty on the new grid (nothing trades
    on the old book) and a re-subscribe brings a fresh `book` event over the socket."""
    market_id = polymarket.market_ids[0]
    polymarket.transport.request_timeout_s = 0.1
    polymarket.server.faults.rest_latency_ms = 300
    snapshots = polymarket.mirror.snapshots(market_id)

    await polymarket.emulator.change_tick(market_id, MILL)  # type: ignore[attr-defined]
    await eventually(lambda: polymarket.mirror.snapshots(market_id) == snapshots + 2)

    polymarket.server.faults.rest_latency_ms = 0
    empty, fresh = [polymarket.mirror.kinds[market_id][-2:], polymarket.mirror.books[market_id]]
    assert empty == ["snapshot", "snapshot"] and polymarket.mirror.ticks[market_id] == MILL
    assert fresh.tick == MILL
    await polymarket.step()
    await eventually(polymarket.all_books_match)


async def test_order_book_service_rebuilds_only_when_the_grid_changes() -> None:
    from arbiter.core.instruments import Market

    market = Market("polymarket", "m", tick_micros=CENT)
    service = OrderBookService(MemoryBus(), [market])
    original = service.books[market.key]

    async def snapshot(tick: int, price: int) -> None:
        event = market_data_pb2.BookEvent(snapshot=market_data_pb2.BookSnapshot(
            venue="polymarket", market_id="m", seq=1, tick_micros=tick,
            bids=[market_data_pb2.PriceLevel(price_micros=price, qty_micros=ONE)]))
        await service.on_book_event(Envelope(topics.BOOKS, market.key, event))

    await snapshot(0, 40 * CENT)  # 0: unchanged
    await snapshot(CENT, 41 * CENT)  # the same grid
    assert service.books[market.key] is original and market.key not in service.stale
    await snapshot(3, 40 * CENT)  # not a grid that divides $1: refused, old book kept
    assert service.books[market.key] is original and market.key in service.stale
    await snapshot(MILL, 405 * MILL)
    assert service.books[market.key].tick == MILL and market.key not in service.stale
    assert service.books[market.key].best_bid_price() == 405 * MILL
