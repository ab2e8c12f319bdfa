"""The detector trades off its own books: it acts on book events alone, and a gap, a
duplicate, a reordering or a reconnect on the book stream is handled as the order book
service handles it (one applier), so a book it cannot trust is never traded.

Book events are the gateways' wire type on a real `MemoryBus`; opportunities are read off
the bus as the saga would receive them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from arbiter.core.fees import NO_FEE
from arbiter.core.instruments import Market, MarketPair
from arbiter.detector.service import DetectorService, DetectorSettings
from arbiter.platform import topics
from arbiter.platform.bus import Envelope, MemoryBus
from arbiter.platform.clock import ManualClock
from arbiter.v1 import market_data_pb2, opportunity_pb2

CENT = 10_000
TEN = 10_000_000
A = Market("polymarket", "pm-1")
B = Market("kalshi", "KX-1")
PAIR = MarketPair("p1", A, B)
Levels = list[tuple[int, int]]


def _levels(pairs: Levels) -> list[market_data_pb2.PriceLevel]:
    return [market_data_pb2.PriceLevel(price_micros=c * CENT, qty_micros=q) for c, q in pairs]


def snapshot(market: Market, seq: int, bids: Levels, asks: Levels) -> market_data_pb2.BookEvent:
    return market_data_pb2.BookEvent(snapshot=market_data_pb2.BookSnapshot(
        venue=market.venue, market_id=market.market_id, seq=seq, bids=_levels(bids),
        asks=_levels(asks)), received_micros=1)


def delta(market: Market, seq: int, bids: Levels, asks: Levels) -> market_data_pb2.BookEvent:
    return market_data_pb2.BookEvent(delta=market_data_pb2.BookDelta(
        venue=market.venue, market_id=market.market_id, seq=seq, bid_changes=_levels(bids),
        ask_changes=_levels(asks)), received_micros=1)


class Harness:
    """A detector on a bus, with the opportunities it publishes collected off the bus."""

    def __init__(self, depth_levels: int = 10, max_book_age_micros: int = 0) -> None:
        self.bus = MemoryBus()
        self.clock = ManualClock()
        self.detector = DetectorService(
            self.bus, [PAIR], {A.key: NO_FEE, B.key: NO_FEE},
            DetectorSettings(max_qty=200_000_000, min_profit=1, ttl_micros=1_000_000,
                             depth_levels=depth_levels,
                             max_book_age_micros=max_book_age_micros), self.clock)
        self.seen: list[opportunity_pb2.Opportunity] = []
        self.bus.subscribe(topics.OPPORTUNITIES, "saga", opportunity_pb2.Opportunity,
                           self._collect)

    async def _collect(self, envelope: Envelope[opportunity_pb2.Opportunity]) -> None:
        self.seen.append(envelope.value)

    async def send(self, market: Market, event: market_data_pb2.BookEvent) -> int:
        """Publish like a gateway; return how many opportunities it produced."""
        before = len(self.seen)
        self.clock.advance(2_000_000)  # every earlier opportunity has expired
        await self.bus.publish(topics.BOOKS, market.key, event)
        await self.bus.drained()
        return len(self.seen) - before


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    await h.bus.start()
    # B's YES bid at 50c: buying NO on B costs 50c, so YES on A under 50c is an arbitrage.
    await h.send(B, snapshot(B, 1, [(50, TEN)], [(52, TEN)]))
    await h.send(A, snapshot(A, 1, [(46, TEN)], [(55, TEN)]))
    yield h
    await h.bus.stop()


async def test_an_arbitrage_on_book_events_is_published_without_an_order_book_service(
    harness: Harness,
) -> None:
    assert await harness.send(A, delta(A, 2, [], [(47, TEN)])) == 1
    opp = harness.seen[-1]
    assert (opp.yes_leg.venue, opp.yes_leg.market_id) == (A.venue, A.market_id)
    assert opp.yes_leg.limit_price_micros == 47 * CENT
    assert opp.no_leg.limit_price_micros == 50 * CENT  # NO on B: 1 - its 50c YES bid
    assert opp.qty_micros == TEN and opp.expected_profit_micros == 300_000


async def test_nothing_trades_before_a_first_snapshot() -> None:
    h = Harness()
    await h.bus.start()
    assert await h.send(B, delta(B, 1, [(50, TEN)], [])) == 0
    assert await h.send(A, snapshot(A, 1, [], [(40, TEN)])) == 0  # B never snapshotted
    assert h.detector.edges["p1"] < 0
    assert await h.send(B, snapshot(B, 1, [(50, TEN)], [])) == 1
    await h.bus.stop()


async def test_a_dropped_delta_stops_the_market_until_the_reconnect_snapshot(
    harness: Harness,
) -> None:
    # seq 2 is lost on the way: seq 3 opens an arbitrage the detector must not trust
    assert await harness.send(A, delta(A, 3, [], [(47, TEN)])) == 0
    assert harness.detector.feed.live(A.key) is None
    assert await harness.send(A, delta(A, 2, [], [(45, TEN)])) == 0  # late and out of order
    assert await harness.send(B, delta(B, 2, [(51, TEN)], [])) == 0  # the other leg moves
    assert harness.detector.edges["p1"] < 0  # the stale leg reads as an empty book
    assert await harness.send(A, snapshot(A, 1, [(46, TEN)], [(47, TEN)])) == 1
    assert harness.seen[-1].yes_leg.limit_price_micros == 47 * CENT


async def test_out_of_order_deltas_stop_the_market(harness: Harness) -> None:
    assert await harness.send(A, delta(A, 3, [], [(48, TEN)])) == 0
    assert await harness.send(A, delta(A, 2, [], [(47, TEN)])) == 0
    assert await harness.send(A, delta(A, 4, [], [(46, TEN)])) == 0
    assert harness.detector.feed.live(A.key) is None


async def test_a_duplicate_is_ignored_and_trading_goes_on(harness: Harness) -> None:
    opening = delta(A, 2, [], [(47, TEN)])
    assert await harness.send(A, opening) == 1
    evaluations = harness.detector.evaluations
    assert await harness.send(A, opening) == 0  # redelivered: not even evaluated
    assert harness.detector.evaluations == evaluations
    assert await harness.send(A, delta(A, 3, [(45, TEN)], [(46, 0)])) == 1  # still live
    assert harness.seen[-1].yes_leg.limit_price_micros == 47 * CENT


async def test_a_dark_book_after_a_dropped_stream_is_not_traded(harness: Harness) -> None:
    # A gateway whose stream dropped publishes each book empty (`books_lost`), then the
    # venue's fresh snapshots on resubscribe.
    assert await harness.send(A, snapshot(A, 1, [], [])) == 0
    assert await harness.send(B, delta(B, 2, [(51, TEN)], [])) == 0
    assert await harness.send(A, snapshot(A, 1, [], [(45, TEN)])) == 1


async def test_a_ladder_is_sized_only_as_deep_as_configured() -> None:
    deep = Harness(depth_levels=1)
    await deep.bus.start()
    await deep.send(B, snapshot(B, 1, [(50, TEN), (49, TEN)], []))
    assert await deep.send(A, snapshot(A, 1, [], [(45, TEN), (46, TEN)])) == 1
    assert deep.seen[-1].qty_micros == TEN  # the second level, though it pays, is not seen
    await deep.bus.stop()


async def test_no_opportunity_is_taken_from_a_book_an_update_left_crossed(
    harness: Harness,
) -> None:
    """Mid-burst a venue may publish an ask under the best bid (a match in progress): the
    book drops the bids it crossed but trades on nothing until the next update settles it."""
    assert await harness.send(A, delta(A, 2, [], [(40, TEN)])) == 0  # 40c crosses the 46c bid
    assert harness.detector.feed.books[A.key].crossed
    assert await harness.send(A, delta(A, 3, [(30, TEN)], [])) == 1  # settled: 40c stands
    assert harness.seen[-1].yes_leg.limit_price_micros == 40 * CENT


async def test_a_crossing_level_matched_away_by_the_next_update_never_trades(
    harness: Harness,
) -> None:
    assert await harness.send(A, delta(A, 2, [], [(40, TEN)])) == 0
    assert await harness.send(A, delta(A, 3, [], [(40, 0)])) == 0  # gone: it never settled
    assert harness.detector.feed.books[A.key].best_ask_price() == 55 * CENT


async def test_a_book_the_venue_went_quiet_on_is_not_traded_until_it_speaks() -> None:
    h = Harness(max_book_age_micros=3_000_000)  # each send moves the clock 2 s
    await h.bus.start()
    await h.send(B, snapshot(B, 1, [(50, TEN)], [(52, TEN)]))
    await h.send(A, snapshot(A, 1, [(46, TEN)], [(55, TEN)]))
    assert await h.send(A, delta(A, 2, [], [(47, TEN)])) == 0  # B last heard 4 s ago
    assert h.detector.aged_out == 1
    assert await h.send(B, delta(B, 2, [], [(53, TEN)])) == 1  # B speaks; A is 2 s old
    await h.bus.stop()
