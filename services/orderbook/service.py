"""Order book service: every instrument's L2 book, for depth queries, staleness and the UI.

It is off the trading path: the detector keeps its own books from the same book events
(`arbiter.core.books.BookFeed`, the one applier both use, so they agree on sequence gaps,
redeliveries, rejected updates and tick-grid changes). What this service adds is what
nobody trades on: the last-update age and stale count per venue (metrics), the live view's
books, `depth` for queries, and the venue-ticker cross-check. A venue ticker (Kalshi) is
the venue's own top of book: when ours disagrees with it `DIVERGENT_TICKERS` tickers in a
row (one ticker may race a delta), the divergence is counted and logged once, an alert for
a book that is silently wrong (a lost delta no sequence number caught).

Metrics: the venue-received -> book-applied hop per event; book age and stale counts per
venue are computed at scrape time from `updated_micros` and `stale`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from arbiter.core.book import L2Book
from arbiter.core.books import Applied, BookFeed
from arbiter.core.instruments import Market
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.clock import wall_micros
from arbiter.platform.telemetry import metrics
from arbiter.v1 import market_data_pb2

log = logging.getLogger(__name__)

DIVERGENT_TICKERS = 3
RESYNC_EVERY_S = 5.0
"""How often one stale book asks its gateway for a fresh snapshot, while it stays stale."""

Depth = tuple[list[tuple[int, int]], list[tuple[int, int]]]


class OrderBookService:
    def __init__(self, bus: Bus, markets: Sequence[Market], depth_levels: int = 10) -> None:
        self.bus = bus
        self.depth_levels = depth_levels
        self.feed = BookFeed(markets)
        self._resync_asked: dict[str, int] = {}  # key -> when its snapshot was last asked for
        self._stale_swept = wall_micros()  # when the stale books were last asked for again
        self.updates = 0
        self.updated_micros = {key: wall_micros() for key in self.feed.books}  # wall time
        self._applied = metrics.hop("book_applied")  # the first hop: also its tick latency
        self._divergent: dict[str, int] = {}  # key -> tickers in a row that disagreed
        venues = sorted({m.venue for m in markets})
        self._venue_of = {m.key: m.venue for m in markets}
        self._divergences = {v: metrics.BOOK_DIVERGENCES.labels(venue=v) for v in venues}
        self._gap_counters = {
            v: metrics.SEQUENCE_GAPS.labels(venue=v, service="orderbook") for v in venues
        }
        for venue in venues:
            metrics.watch_books(venue, lambda v=venue: self.oldest_age_seconds(v),
                                lambda v=venue: self.stale_count(v))
        bus.subscribe(topics.BOOKS, "orderbook", market_data_pb2.BookEvent, self.on_book_event)

    def add_market(self, market: Market) -> None:
        """A market listed while running: its book, stale until the venue's snapshot."""
        self.feed.add(market)
        self.updated_micros[market.key] = wall_micros()
        self._venue_of[market.key] = market.venue

    def retire_market(self, key: str) -> None:
        """A settled market's book is quiet for good: it no longer counts toward its
        venue's oldest-book age (the stale-book alert). The book stays, for the record."""
        self.updated_micros.pop(key, None)

    @property
    def books(self) -> dict[str, L2Book]:
        return self.feed.books

    @property
    def stale(self) -> set[str]:
        """Keys of books not to be trusted until their next snapshot."""
        return self.feed.stale

    @property
    def gaps(self) -> int:
        return self.feed.gaps

    def stale_count(self, venue: str) -> int:
        return sum(self._venue_of[key] == venue for key in self.feed.stale)

    def oldest_age_seconds(self, venue: str) -> float:
        """Seconds since the venue's least recently updated book changed."""
        oldest = min((t for k, t in self.updated_micros.items() if self._venue_of[k] == venue),
                     default=wall_micros())
        return (wall_micros() - oldest) / 1e6

    def depth(self, key: str, levels: int | None = None) -> tuple[Depth, bool] | None:
        """Up to `levels` (default: the configured depth) bids and asks of one book, best
        first, and whether it is stale; None for an instrument this service does not hold."""
        book = self.feed.books.get(key)
        if book is None:
            return None
        return book.depth(levels or self.depth_levels), key in self.feed.stale

    async def on_book_event(self, envelope: Envelope[market_data_pb2.BookEvent]) -> None:
        event = envelope.value
        kind = event.WhichOneof("event")
        key = envelope.key
        if self.feed.stale:
            await self._sweep_stale()
        if kind == "ticker":
            self._check_ticker(key, event.ticker)
            return
        if kind == "snapshot":
            result = self.feed.apply_snapshot(key, event.snapshot)
        elif kind == "delta":
            result = self.feed.apply_delta(key, event.delta)
        else:
            log.warning("book event under %s carries nothing; dropped", key)
            return
        if result is Applied.REDELIVERED:
            return
        if result is Applied.UNKNOWN:
            log.warning("%s; dropped", self.feed.rejection)
            return
        if result is Applied.GAP:
            self._gap_counters[self._venue_of[key]].inc()
            log.warning("%s", self.feed.rejection)
            await self._ask_snapshot(key, str(self.feed.rejection))
        elif result is Applied.REJECTED:
            log.error("book %s rejected an update: %s", key, self.feed.rejection)
            await self._ask_snapshot(key, str(self.feed.rejection))
        elif result is Applied.REGRIDDED:
            log.warning("book %s: rebuilt on the new grid of %d", key, self.feed.books[key].tick)
        self.updates += 1
        now = wall_micros()
        self.updated_micros[key] = now
        self._applied.observe(max(0, now - event.received_micros) / 1e6)

    async def _sweep_stale(self) -> None:
        """Every `RESYNC_EVERY_S`, books still stale ask for a snapshot again, though no
        event of theirs arrives: a gateway that dropped their deltas while it waited for a
        snapshot that was lost on the way would otherwise leave them stale for good."""
        now = wall_micros()
        if now - self._stale_swept < RESYNC_EVERY_S * 1_000_000:
            return
        self._stale_swept = now
        # only books that went stale and asked once: a book still waiting for its first
        # snapshot (start-up) is its gateway's to bring, not to be asked again here
        for stale in sorted(self.feed.stale & self._resync_asked.keys()):
            await self._ask_snapshot(stale, f"still stale after {RESYNC_EVERY_S:.0f}s")

    async def _ask_snapshot(self, key: str, reason: str) -> None:
        """A stale book asks its gateway for a fresh snapshot, at most every
        `RESYNC_EVERY_S`: the gateway may be the only one that never saw anything wrong
        (the events in between were lost on the way, not by the venue)."""
        now = wall_micros()
        if now - self._resync_asked.get(key, -(1 << 62)) < RESYNC_EVERY_S * 1_000_000:
            return
        self._resync_asked[key] = now
        market = self.feed.markets[key]
        await self.bus.publish(topics.BOOK_RESYNC, key, market_data_pb2.BookResyncRequest(
            venue=market.venue, market_id=market.market_id, reason=reason))

    def _check_ticker(self, key: str, ticker: market_data_pb2.Ticker) -> None:
        book = self.feed.live(key)
        market = self.feed.markets.get(key)
        if book is None or market is None or ticker.market_id != market.market_id:
            return  # stale, unknown, or a ticker under another market's key
        ours = (book.best_bid_price() or 0, book.best_ask_price() or 0)
        theirs = (ticker.yes_bid_micros, ticker.yes_ask_micros)
        streak = self._divergent.get(key, 0) + 1 if ours != theirs else 0
        self._divergent[key] = streak
        if streak == DIVERGENT_TICKERS:
            self._divergences[self._venue_of[key]].inc()
            log.warning("book %s: top %s differs from the venue's ticker %s for %d tickers",
                        key, ours, theirs, streak)
