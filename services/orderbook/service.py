"""Order book service: applies gateways' book events, publishes depth after each one.

Sequence handling: a delta that repeats an applied seq is a redelivery and is ignored
(at-least-once bus); a delta that skips ahead marks the book stale until the gateway's next
snapshot, and stale books are published as such so the detector stops trading on them.
A snapshot carrying a different `tick_micros` (the venue changed the market's tick) rebuilds
that market's book on the new grid; deltas never pay for the check. A venue ticker (Kalshi)
is the venue's own top of book: when ours disagrees with it `DIVERGENT_TICKERS` tickers in a
row (one ticker may race a delta), the divergence is counted and logged once, an alert for a
book that is silently wrong (a lost delta no sequence number caught).

Metrics: the venue-received -> book-applied hop per event; book age and stale counts per
venue are computed at scrape time from `updated_micros` and `stale`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from arbiter.core.book import BookError, L2Book, SequenceGap
from arbiter.core.instruments import Market
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.clock import wall_micros
from arbiter.platform.telemetry import metrics
from arbiter.v1 import market_data_pb2

log = logging.getLogger(__name__)

DIVERGENT_TICKERS = 3


class OrderBookService:
    def __init__(self, bus: Bus, markets: Sequence[Market], depth_levels: int = 10) -> None:
        self.bus = bus
        self.depth_levels = depth_levels
        self.books = {m.key: L2Book(m.key, m.tick_micros) for m in markets}
        self.stale: set[str] = {m.key for m in markets}  # until the first snapshot
        self.updates = 0
        self.gaps = 0
        self.updated_micros = {key: wall_micros() for key in self.books}  # last applied, wall
        self._applied = metrics.hop("book_applied")  # the first hop: also its tick latency
        self._divergent: dict[str, int] = {}  # key -> tickers in a row that disagreed
        venues = sorted({m.venue for m in markets})
        self._divergences = {v: metrics.BOOK_DIVERGENCES.labels(venue=v) for v in venues}
        self._gap_counters = {
            v: metrics.SEQUENCE_GAPS.labels(venue=v, service="orderbook") for v in venues
        }
        for venue in venues:
            metrics.watch_books(venue, lambda v=venue: self.oldest_age_seconds(v),
                                lambda v=venue: sum(k.startswith(f"{v}:") for k in self.stale))
        bus.subscribe(topics.BOOKS, "orderbook", market_data_pb2.BookEvent, self.on_book_event)

    def oldest_age_seconds(self, venue: str) -> float:
        """Seconds since the venue's least recently updated book changed."""
        prefix = f"{venue}:"
        oldest = min((t for k, t in self.updated_micros.items() if k.startswith(prefix)),
                     default=wall_micros())
        return (wall_micros() - oldest) / 1e6

    async def on_book_event(self, envelope: Envelope[market_data_pb2.BookEvent]) -> None:
        event = envelope.value
        kind = event.WhichOneof("event")
        if kind == "ticker":
            self._check_ticker(event.ticker)
            return
        body = event.snapshot if kind == "snapshot" else event.delta
        key = f"{body.venue}:{body.market_id}"
        book = self.books.get(key)
        if book is None:
            log.warning("book event for unknown instrument %s dropped", key)
            return
        try:
            if kind == "snapshot":
                if body.tick_micros and body.tick_micros != book.tick:
                    book = self._regrid(key, body.tick_micros)
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
            self._gap_counters[key.split(":", 1)[0]].inc()
            self.stale.add(key)
            log.warning("%s", gap)
        except BookError as exc:
            self.stale.add(key)
            log.error("book %s rejected an update: %s", key, exc)
        self.updates += 1
        now = wall_micros()
        self.updated_micros[key] = now
        self._applied.observe(max(0, now - event.received_micros) / 1e6)
        await self.publish_depth(key, book, event.received_micros)

    def _check_ticker(self, ticker: market_data_pb2.Ticker) -> None:
        key = f"{ticker.venue}:{ticker.market_id}"
        book = self.books.get(key)
        if book is None or key in self.stale:
            return
        ours = (book.best_bid_price() or 0, book.best_ask_price() or 0)
        theirs = (ticker.yes_bid_micros, ticker.yes_ask_micros)
        streak = self._divergent.get(key, 0) + 1 if ours != theirs else 0
        self._divergent[key] = streak
        if streak == DIVERGENT_TICKERS:
            self._divergences[ticker.venue].inc()
            log.warning("book %s: top %s differs from the venue's ticker %s for %d tickers",
                        key, ours, theirs, streak)

    def _regrid(self, key: str, tick_micros: int) -> L2Book:
        """The venue changed the market's tick: the fixed-array book is indexed by tick, so
        it is rebuilt on the new grid (the snapshot that announced it fills it). Stale
        until then; a grid that does not divide $1 is refused and the old book kept."""
        if tick_micros <= 0 or 1_000_000 % tick_micros:
            raise BookError(f"book {key}: tick {tick_micros} does not divide 1_000_000")
        log.warning("book %s: tick %d -> %d, rebuilt on the new grid", key,
                    self.books[key].tick, tick_micros)
        self.stale.add(key)
        book = self.books[key] = L2Book(key, tick_micros)
        return book

    async def publish_depth(self, key: str, book: L2Book, received: int) -> None:
        bids, asks = book.depth(self.depth_levels)
        venue, market_id = key.split(":", 1)
        update = market_data_pb2.DepthUpdate(
            venue=venue,
            market_id=market_id,
            seq=book.seq,
            ts_micros=book.ts,
            bids=[market_data_pb2.PriceLevel(price_micros=p, qty_micros=q) for p, q in bids],
            asks=[market_data_pb2.PriceLevel(price_micros=p, qty_micros=q) for p, q in asks],
            received_micros=received,
            stale=key in self.stale,
        )
        await self.bus.publish(topics.DEPTH, key, update)
