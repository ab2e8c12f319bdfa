"""Order book service: applies gateways' book events, publishes depth after each one.

Sequence handling: a delta that repeats an applied seq is a redelivery and is ignored
(at-least-once bus); a delta that skips ahead marks the book stale until the gateway's next
snapshot, and stale books are published as such so the detector stops trading on them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from arbiter.core.book import BookError, L2Book, SequenceGap
from arbiter.core.instruments import Market, Venue
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.v1 import market_data_pb2

log = logging.getLogger(__name__)


class OrderBookService:
    def __init__(self, bus: Bus, markets: Sequence[Market], depth_levels: int = 10) -> None:
        self.bus = bus
        self.depth_levels = depth_levels
        self.books = {m.key: L2Book(m.key, m.tick_micros) for m in markets}
        self.stale: set[str] = {m.key for m in markets}  # until the first snapshot
        self.updates = 0
        self.gaps = 0
        bus.subscribe(topics.BOOKS, "orderbook", market_data_pb2.BookEvent, self.on_book_event)

    async def on_book_event(self, envelope: Envelope[market_data_pb2.BookEvent]) -> None:
        event = envelope.value
        kind = event.WhichOneof("event")
        body = event.snapshot if kind == "snapshot" else event.delta
        key = f"{Venue(body.venue).slug}:{body.market_id}"
        book = self.books.get(key)
        if book is None:
            log.warning("book event for unknown instrument %s dropped", key)
            return
        try:
            if kind == "snapshot":
                book.apply_snapshot(
                    ((lv.price_micros, lv.qty_micros) for lv in body.bids),
                    ((lv.price_micros, lv.qty_micros) for lv in body.asks),
                    body.seq,
                    body.ts_micros,
                )
                self.stale.discard(key)
            else:
                if body.seq <= book.seq and key not in self.stale:
                    return  # redelivered
                book.apply_delta(
                    ((lv.price_micros, lv.qty_micros) for lv in body.bid_changes),
                    ((lv.price_micros, lv.qty_micros) for lv in body.ask_changes),
                    body.seq,
                    body.ts_micros,
                )
        except SequenceGap as gap:
            self.gaps += 1
            self.stale.add(key)
            log.warning("%s", gap)
        except BookError as exc:
            self.stale.add(key)
            log.error("book %s rejected an update: %s", key, exc)
        self.updates += 1
        await self.publish_depth(key, book, event.received_micros)

    async def publish_depth(self, key: str, book: L2Book, received: int) -> None:
        bids, asks = book.depth(self.depth_levels)
        venue, market_id = key.split(":", 1)
        update = market_data_pb2.DepthUpdate(
            venue=Venue.parse(venue),
            market_id=market_id,
            seq=book.seq,
            ts_micros=book.ts,
            bids=[market_data_pb2.PriceLevel(price_micros=p, qty_micros=q) for p, q in bids],
            asks=[market_data_pb2.PriceLevel(price_micros=p, qty_micros=q) for p, q in asks],
            received_micros=received,
            stale=key in self.stale,
        )
        await self.bus.publish(topics.DEPTH, key, update)
