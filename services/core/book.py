"""L2 order book on a fixed array of integer ticks.

A market's price grid is small and bounded (100 levels for a cent tick, 10_000 for
$0.0001), so each side is a plain list indexed by tick number: an update is an index store
plus a best-price check, and reading the top is two attribute loads. This is the hot path
(see tools/bench_hotpath.py); keep it allocation-free.

The book never crosses: a positive bid at or above the best ask (or an ask at or below the
best bid) is the newer information, so the stale levels it crosses are removed. The update
that did so leaves the book `crossed` until the next one: venues publish briefly crossed
books in the middle of a burst of changes, and a level that crossed is as likely to be
matched away a moment later as to stand, so nothing may trade on that state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NoReturn


class BookError(ValueError):
    """An update the book cannot apply (off-grid price, negative size)."""


class SequenceGap(BookError):
    """A delta arrived out of sequence; the book must be rebuilt from a snapshot."""

    def __init__(self, key: str, expected: int, got: int) -> None:
        super().__init__(f"book {key}: expected seq {expected}, got {got}")
        self.expected = expected
        self.got = got


class L2Book:
    """Bids and asks of one YES-referenced market, sizes in micro-contracts."""

    __slots__ = ("asks", "best_ask", "best_bid", "bids", "crossed", "key", "seq", "tick", "top",
                 "ts")

    def __init__(self, key: str, tick_micros: int) -> None:
        self.key = key
        self.tick = tick_micros
        self.top = 1_000_000 // tick_micros  # highest tick index (price $1)
        self.bids = [0] * (self.top + 1)
        self.asks = [0] * (self.top + 1)
        self.best_bid = -1  # tick index; -1 when there are no bids
        self.best_ask = self.top + 1  # tick index; top+1 when there are no asks
        self.seq = 0
        self.ts = 0
        self.crossed = False  # the latest update crossed the book: not a settled state

    # -- updates ---------------------------------------------------------------------
    def set_bid(self, price: int, qty: int) -> None:
        """Set the total bid size at `price` (0 removes the level)."""
        idx = price // self.tick
        if idx * self.tick != price or qty < 0 or idx < 0 or idx > self.top:
            self._reject(price, qty)
        bids = self.bids
        bids[idx] = qty
        if qty:
            if idx > self.best_bid:
                self.best_bid = idx
                if idx >= self.best_ask:
                    self._clear_asks_through(idx)
        elif idx == self.best_bid:
            while idx >= 0 and not bids[idx]:
                idx -= 1
            self.best_bid = idx

    def set_ask(self, price: int, qty: int) -> None:
        """Set the total ask size at `price` (0 removes the level)."""
        idx = price // self.tick
        if idx * self.tick != price or qty < 0 or idx < 0 or idx > self.top:
            self._reject(price, qty)
        asks = self.asks
        asks[idx] = qty
        if qty:
            if idx < self.best_ask:
                self.best_ask = idx
                if idx <= self.best_bid:
                    self._clear_bids_through(idx)
        elif idx == self.best_ask:
            top = self.top
            while idx <= top and not asks[idx]:
                idx += 1
            self.best_ask = idx

    def _reject(self, price: int, qty: int) -> NoReturn:
        if qty < 0:
            raise BookError(f"book {self.key}: negative size {qty} at {price}")
        raise BookError(f"book {self.key}: price {price} is off the {self.tick} grid")

    def _clear_asks_through(self, idx: int) -> None:
        self.crossed = True
        asks = self.asks
        for i in range(self.best_ask, idx + 1):
            asks[i] = 0
        i, top = idx + 1, self.top
        while i <= top and not asks[i]:
            i += 1
        self.best_ask = i

    def _clear_bids_through(self, idx: int) -> None:
        self.crossed = True
        bids = self.bids
        for i in range(idx, self.best_bid + 1):
            bids[i] = 0
        i = idx - 1
        while i >= 0 and not bids[i]:
            i -= 1
        self.best_bid = i

    def _validated(self, levels: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Check a whole update before any of it is applied, so a bad one changes nothing."""
        checked = list(levels)
        for price, qty in checked:
            idx, rem = divmod(price, self.tick)
            if rem or qty < 0 or not 0 <= idx <= self.top:
                self._reject(price, qty)
        return checked

    def apply_snapshot(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        seq: int,
        ts: int = 0,
    ) -> None:
        """Replace the whole book and reset the sequence to `seq`."""
        new_bids, new_asks = self._validated(bids), self._validated(asks)
        self.crossed = False
        self.bids = [0] * (self.top + 1)
        self.asks = [0] * (self.top + 1)
        self.best_bid, self.best_ask = -1, self.top + 1
        for price, qty in new_asks:
            self.set_ask(price, qty)
        for price, qty in new_bids:
            self.set_bid(price, qty)
        self.seq, self.ts = seq, ts

    def apply_delta(
        self,
        bid_changes: Iterable[tuple[int, int]],
        ask_changes: Iterable[tuple[int, int]],
        seq: int,
        ts: int = 0,
    ) -> None:
        """Apply absolute level sizes; `seq` must follow the last applied one.

        Ask changes go first, so when one message crosses itself its bids win.
        """
        if seq != self.seq + 1:
            raise SequenceGap(self.key, self.seq + 1, seq)
        new_bids, new_asks = self._validated(bid_changes), self._validated(ask_changes)
        self.crossed = False
        for price, qty in new_asks:
            self.set_ask(price, qty)
        for price, qty in new_bids:
            self.set_bid(price, qty)
        self.seq, self.ts = seq, ts

    # -- queries ---------------------------------------------------------------------
    def best_bid_price(self) -> int | None:
        return self.best_bid * self.tick if self.best_bid >= 0 else None

    def best_ask_price(self) -> int | None:
        return self.best_ask * self.tick if self.best_ask <= self.top else None

    def iter_bids(self) -> Iterator[tuple[int, int]]:
        """(price, qty) from the best (highest) bid down."""
        bids, tick = self.bids, self.tick
        for i in range(self.best_bid, -1, -1):
            if bids[i]:
                yield i * tick, bids[i]

    def iter_asks(self) -> Iterator[tuple[int, int]]:
        """(price, qty) from the best (lowest) ask up."""
        asks, tick = self.asks, self.tick
        for i in range(self.best_ask, self.top + 1):
            if asks[i]:
                yield i * tick, asks[i]

    def depth(self, levels: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Up to `levels` bids and asks, best first."""
        bids: list[tuple[int, int]] = []
        for level in self.iter_bids():
            if len(bids) == levels:
                break
            bids.append(level)
        asks: list[tuple[int, int]] = []
        for level in self.iter_asks():
            if len(asks) == levels:
                break
            asks.append(level)
        return bids, asks
