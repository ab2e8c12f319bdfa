"""The one book applier: how a stream of book snapshots and deltas becomes books to trust.

The order book service (depth queries, staleness, the live view) and the detector (the
trading path) each keep their own books from the gateways' book events, so that the detector
never waits on another service to act. They must agree on when a book may be traded, so
the rules live here, once:

* a delta that repeats an applied seq is a redelivery (the bus is at-least-once) and is
  ignored;
* a delta that does not follow the last applied seq (dropped, reordered) is a gap: the book
  is stale until the gateway's next snapshot;
* an update the book cannot apply (off-grid price, negative size, a market that does not
  match its key) is rejected whole and leaves the book stale the same way;
* a snapshot replaces the book and makes it live; one carrying another `tick_micros` (the
  venue moved the market to a new grid) rebuilds the tick-indexed book first, and a grid
  that does not divide $1 is refused, the old book kept and stale.

Every book starts stale: nothing is traded before the first snapshot. The messages are read
through structural protocols, so the generated protobuf types are applied as they arrive
(no copy) while this module imports no I/O or wire code.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol

from arbiter.core.book import BookError, L2Book, SequenceGap
from arbiter.core.instruments import Market


class Level(Protocol):
    """One price level as the wire carries it."""

    @property
    def price_micros(self) -> int: ...

    @property
    def qty_micros(self) -> int: ...


class BookMessage(Protocol):
    """What every book message carries: whose book, and where it stands in the stream."""

    @property
    def venue(self) -> str: ...

    @property
    def market_id(self) -> str: ...

    @property
    def seq(self) -> int: ...

    @property
    def ts_micros(self) -> int: ...


class SnapshotMessage(BookMessage, Protocol):
    """A full replacement of one market's book (`arbiter.v1.BookSnapshot`)."""

    @property
    def tick_micros(self) -> int: ...

    @property
    def bids(self) -> Iterable[Level]: ...

    @property
    def asks(self) -> Iterable[Level]: ...


class DeltaMessage(BookMessage, Protocol):
    """Absolute new sizes at the changed levels of one book (`arbiter.v1.BookDelta`)."""

    @property
    def bid_changes(self) -> Iterable[Level]: ...

    @property
    def ask_changes(self) -> Iterable[Level]: ...


class Applied(enum.Enum):
    """What one book event did to the books."""

    UPDATED = "updated"  # the book changed (it may still be stale: see `BookFeed.live`)
    REGRIDDED = "regridded"  # a snapshot rebuilt the book on a new tick grid
    REDELIVERED = "redelivered"  # an already applied delta: nothing changed
    GAP = "gap"  # out of sequence: stale until a snapshot (`BookFeed.rejection` says why)
    REJECTED = "rejected"  # invalid update: stale until a snapshot (`rejection` says why)
    UNKNOWN = "unknown"  # no book under that key, or the body names another market

    @property
    def changed(self) -> bool:
        """Whether the event may have changed what the book says is tradable."""
        return self is not Applied.REDELIVERED and self is not Applied.UNKNOWN


class BookFeed:
    """The books of a fixed set of markets, kept from one ordered stream of book events."""

    __slots__ = ("books", "gaps", "markets", "rejection", "stale")

    def __init__(self, markets: Iterable[Market]) -> None:
        self.markets = {m.key: m for m in markets}
        self.books = {key: L2Book(key, m.tick_micros) for key, m in self.markets.items()}
        self.stale: set[str] = set(self.books)  # until the first snapshot
        self.gaps = 0
        self.rejection: BookError | None = None  # why the latest GAP/REJECTED/UNKNOWN

    def add(self, market: Market) -> None:
        """One more market (listed while running), stale until its first snapshot."""
        if market.key in self.markets:
            raise ValueError(f"book {market.key} is already held")
        self.markets[market.key] = market
        self.books[market.key] = L2Book(market.key, market.tick_micros)
        self.stale.add(market.key)

    def live(self, key: str) -> L2Book | None:
        """The book under `key` if it may be traded (known, synced, not stale, not left
        crossed by its latest update), else None."""
        if key in self.stale:
            return None
        book = self.books.get(key)
        return None if book is None or book.crossed else book

    def _book(self, key: str, body: SnapshotMessage | DeltaMessage) -> L2Book | None:
        """The book `body` updates: the key routes it, the body must name the same market
        (a peer's key and payload are both checked, neither trusted alone)."""
        market = self.markets.get(key)
        if market is None or body.market_id != market.market_id or body.venue != market.venue:
            self.rejection = BookError(
                f"book event under key {key!r} for {body.venue}:{body.market_id} matches no "
                "book held")
            return None
        return self.books[key]

    def apply_snapshot(self, key: str, snapshot: SnapshotMessage) -> Applied:
        """Replace the book under `key` (on the snapshot's grid) and make it live."""
        book = self._book(key, snapshot)
        if book is None:
            return Applied.UNKNOWN
        result = Applied.UPDATED
        tick = snapshot.tick_micros
        if tick and tick != book.tick:
            if tick <= 0 or 1_000_000 % tick:
                return self._reject(key, BookError(
                    f"book {key}: tick {tick} does not divide 1_000_000"), Applied.REJECTED)
            book = self.books[key] = L2Book(key, tick)
            result = Applied.REGRIDDED
        try:
            book.apply_snapshot(
                [(lv.price_micros, lv.qty_micros) for lv in snapshot.bids],
                [(lv.price_micros, lv.qty_micros) for lv in snapshot.asks],
                snapshot.seq, snapshot.ts_micros)
        except BookError as exc:
            return self._reject(key, exc, Applied.REJECTED)
        self.stale.discard(key)
        return result

    def apply_delta(self, key: str, delta: DeltaMessage) -> Applied:
        """Apply one delta to the book under `key`, in sequence, or mark the book stale."""
        book = self._book(key, delta)
        if book is None:
            return Applied.UNKNOWN
        if delta.seq <= book.seq and key not in self.stale:
            return Applied.REDELIVERED
        try:
            book.apply_delta(
                [(lv.price_micros, lv.qty_micros) for lv in delta.bid_changes],
                [(lv.price_micros, lv.qty_micros) for lv in delta.ask_changes],
                delta.seq, delta.ts_micros)
        except SequenceGap as gap:
            self.gaps += 1
            return self._reject(key, gap, Applied.GAP)
        except BookError as exc:
            return self._reject(key, exc, Applied.REJECTED)
        return Applied.UPDATED

    def _reject(self, key: str, error: BookError, result: Applied) -> Applied:
        self.stale.add(key)
        self.rejection = error
        return result
