"""`resync_books`: after a broker lost what the gateway published, every book is taken dark
and comes back from a fresh venue snapshot, though the venue stream never dropped."""

from __future__ import annotations

import pytest

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
