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


async def test_a_book_whose_snapshot_never_came_is_asked_for_again_once_overdue(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway waits for one snapshot at a time per book; if the venue's answer (or our
    publication of it) was lost, a request after SNAPSHOT_WAIT_MICROS asks the venue again
    instead of waiting for good."""
    import arbiter.venues.polymarket.gateway as polymarket_gateway
    from arbiter.gateways.base import SNAPSHOT_WAIT_MICROS

    setup = await open_venue("polymarket")
    gateway = setup.gateway
    events: list[market_data_pb2.BookEvent] = []

    async def on_book(event: market_data_pb2.BookEvent) -> None:
        events.append(event)

    gateway.on_book = on_book
    now = 1_800_000_000_000_000
    monkeypatch.setattr(polymarket_gateway, "wall_micros", lambda: now)
    market_id = setup.market_id
    gateway._awaiting_book.add(market_id)  # asked, and the answer never arrived
    gateway.snapshot_asked(market_id, now)
    await gateway.resync_books([market_id])
    await setup.settle()
    assert events == []  # still within the wait: not asked twice
    now += SNAPSHOT_WAIT_MICROS
    await gateway.resync_books([market_id])
    await setup.settle()
    snapshots = [e.snapshot for e in events if e.HasField("snapshot")]
    assert [s.market_id for s in snapshots] == [market_id, market_id]  # dark, then fresh
    assert snapshots[-1].bids or snapshots[-1].asks
    assert market_id not in gateway._awaiting_book
    await gateway.close()


async def test_a_stale_book_with_no_events_of_its_own_asks_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A book stale and silent (its gateway drops its deltas while it waits) is asked for
    again every RESYNC_EVERY_S, on any other book's event."""
    import arbiter.orderbook.service as orderbook_service

    setup = await open_venue("kalshi")
    markets = list(setup.gateway.markets.values())
    await setup.gateway.close()
    assert len(markets) >= 2
    now = 1_800_000_000_000_000
    monkeypatch.setattr(orderbook_service, "wall_micros", lambda: now)
    bus = MemoryBus()
    books = OrderBookService(bus, markets)
    asked: list[str] = []

    async def heard(envelope: Envelope[market_data_pb2.BookResyncRequest]) -> None:
        asked.append(envelope.value.market_id)

    bus.subscribe(topics.BOOK_RESYNC, "test", market_data_pb2.BookResyncRequest, heard)
    await bus.start()
    try:
        live, silent = markets[0], markets[1]

        async def snapshot_of(market_id: str) -> None:
            await books.on_book_event(Envelope(topics.BOOKS, f"kalshi:{market_id}",
                                               market_data_pb2.BookEvent(
                snapshot=market_data_pb2.BookSnapshot(venue="kalshi", market_id=market_id,
                                                      seq=1))))

        await snapshot_of(live.market_id)
        await snapshot_of(silent.market_id)
        await books.on_book_event(Envelope(topics.BOOKS, f"kalshi:{silent.market_id}",
                                           market_data_pb2.BookEvent(
            delta=market_data_pb2.BookDelta(venue="kalshi", market_id=silent.market_id,
                                            seq=9))))  # a gap: asked once, then silence
        await bus.drained()
        assert asked == [silent.market_id] and f"kalshi:{silent.market_id}" in books.stale
        now += int(orderbook_service.RESYNC_EVERY_S * 1_000_000)
        await snapshot_of(live.market_id)
        await bus.drained()
        # asked again; the books still waiting for their first snapshot are not asked
        assert asked == [silent.market_id, silent.market_id]
        await snapshot_of(live.market_id)  # within the next period: not asked again
        await bus.drained()
        assert len(asked) == 2
    finally:
        await bus.stop()
