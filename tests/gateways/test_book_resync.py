"""`resync_books`: after a broker lost what the gateway published, or a consumer saw a gap
the gateway never saw, books are taken dark and come back from a fresh venue snapshot,
though the venue stream never dropped."""

from __future__ import annotations

import pytest

from arbiter.gateways.service import answer_resyncs
from arbiter.orderbook.service import OrderBookService
from arbiter.platform import topics
from arbiter.platform.bus import Envelope, MemoryBus
from arbiter.v1 import market_data_pb2

from .venues import open_venue


@pytest.mark.parametrize("venue", ["polymarket", "kalshi"])
async def test_every_book_goes_dark_then_comes_back_from_a_venue_snapshot(venue: str) -> None:
    setup = await open_venue(venue)
    gateway = setup.gateway
    assert gateway.books_live
    events: list[market_data_pb2.BookEvent] = []

    async def on_book(event: market_data_pb2.BookEvent) -> None:
        events.append(event)

    gateway.on_book = on_book
    await gateway.resync_books()  # the in-process venue may answer before this returns
    await setup.settle()
    assert gateway.books_live
    for market_id in gateway.markets:
        snapshots = [e.snapshot for e in events
                     if e.HasField("snapshot") and e.snapshot.market_id == market_id]
        assert len(snapshots) >= 2, f"{market_id}: {snapshots}"
        dark, fresh = snapshots[0], snapshots[-1]
        assert not dark.bids and not dark.asks and dark.seq == 1
        assert fresh.bids or fresh.asks, f"{market_id}: the venue's book is not back"
        assert fresh.seq == 1  # a snapshot restarts the market's sequence
    await gateway.close()


@pytest.mark.parametrize("venue", ["polymarket", "kalshi"])
async def test_a_gap_downstream_heals_through_a_resync_request(venue: str) -> None:
    """Book events lost between the gateway and the order books (the gateway saw nothing
    wrong): the order book service asks, the gateway re-snapshots just that book, and the
    book is live again and equal to the venue's."""
    setup = await open_venue(venue)
    gateway = setup.gateway
    bus = MemoryBus()
    books = OrderBookService(bus, list(gateway.markets.values()))
    asked: list[market_data_pb2.BookResyncRequest] = []

    async def on_book(event: market_data_pb2.BookEvent) -> None:
        body = getattr(event, event.WhichOneof("event"))
        await bus.publish(topics.BOOKS, f"{venue}:{body.market_id}", event)

    async def heard(envelope: Envelope[market_data_pb2.BookResyncRequest]) -> None:
        asked.append(envelope.value)

    gateway.on_book = on_book
    answer_resyncs(bus, gateway, venue)
    bus.subscribe(topics.BOOK_RESYNC, "test", market_data_pb2.BookResyncRequest, heard)
    await bus.start()
    try:
        await gateway.resync_books()  # every book through this bus from a fresh snapshot
        await bus.drained()
        assert not books.stale
        market_id = setup.market_id
        key = f"{venue}:{market_id}"
        lost = books.books[key].seq + 5  # as if four events never reached the bus
        await bus.publish(topics.BOOKS, key, market_data_pb2.BookEvent(
            delta=market_data_pb2.BookDelta(venue=venue, market_id=market_id, seq=lost)))
        await bus.drained()
        await setup.settle()
        await bus.drained()
        assert [(a.venue, a.market_id) for a in asked] == [(venue, market_id)]
        assert "expected seq" in asked[0].reason
        assert key not in books.stale
        bids, asks = setup.book(market_id)
        assert (list(books.books[key].iter_bids()), list(books.books[key].iter_asks())) \
            == (bids, asks)
        # a book that stays stale asks again only after RESYNC_EVERY_S, not per event
        await bus.publish(topics.BOOKS, key, market_data_pb2.BookEvent(
            delta=market_data_pb2.BookDelta(venue=venue, market_id=market_id, seq=lost + 99)))
        await bus.drained()
        assert len(asked) == 1
    finally:
        await bus.stop()
        await gateway.close()
