"""L2Book invariants, checked against a dict-based reference model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from arbiter.core.book import BookError, L2Book, SequenceGap

TICKS = (10_000, 1_000, 100)


class RefBook:
    """Dict model of the same rules: absolute sizes, 0 removes, and a new positive level
    that reaches the other side clears every opposite level it crosses."""

    def __init__(self, tick: int) -> None:
        self.tick = tick
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.seq = 0

    def _check(self, price: int, qty: int) -> None:
        if qty < 0 or price % self.tick or not 0 <= price <= 1_000_000:
            raise BookError("invalid")

    def set_bid(self, price: int, qty: int) -> None:
        self._check(price, qty)
        if qty == 0:
            self.bids.pop(price, None)
            return
        self.bids[price] = qty
        for p in [p for p in self.asks if p <= price]:
            del self.asks[p]

    def set_ask(self, price: int, qty: int) -> None:
        self._check(price, qty)
        if qty == 0:
            self.asks.pop(price, None)
            return
        self.asks[price] = qty
        for p in [p for p in self.bids if p >= price]:
            del self.bids[p]

    def snapshot(self, bids, asks, seq: int) -> None:
        for price, qty in [*bids, *asks]:
            self._check(price, qty)
        self.bids, self.asks = {}, {}
        # Same order as a delta: asks first, then bids (bids are the newer information
        # when a message crosses itself).
        for price, qty in asks:
            self.set_ask(price, qty)
        for price, qty in bids:
            self.set_bid(price, qty)
        self.seq = seq

    def delta(self, bids, asks, seq: int) -> None:
        if seq != self.seq + 1:
            raise SequenceGap("ref", self.seq + 1, seq)
        for price, qty in asks:
            self.set_ask(price, qty)
        for price, qty in bids:
            self.set_bid(price, qty)
        self.seq = seq

    def bid_levels(self):
        return sorted(self.bids.items(), reverse=True)

    def ask_levels(self):
        return sorted(self.asks.items())


def state(book: L2Book):
    return (
        list(book.iter_bids()),
        list(book.iter_asks()),
        book.best_bid_price(),
        book.best_ask_price(),
        book.seq,
        list(book.bids),
        list(book.asks),
    )


def assert_book_invariants(book: L2Book) -> None:
    bids, asks = list(book.iter_bids()), list(book.iter_asks())
    # Every non-empty level in the arrays is reachable by the iterators (nothing hides
    # beyond the cached best), and nothing is negative.
    assert all(q >= 0 for q in book.bids) and all(q >= 0 for q in book.asks)
    assert sorted(((i * book.tick, q) for i, q in enumerate(book.bids) if q), reverse=True) == bids
    assert sorted((i * book.tick, q) for i, q in enumerate(book.asks) if q) == asks
    assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
    assert [p for p, _ in asks] == sorted({p for p, _ in asks})
    assert book.best_bid_price() == (bids[0][0] if bids else None)
    assert book.best_ask_price() == (asks[0][0] if asks else None)
    if bids and asks:
        assert bids[0][0] < asks[0][0], "book is crossed"
    for n in (0, 1, 3):
        db, da = book.depth(n)
        assert db == bids[:n] and da == asks[:n]


def assert_matches(book: L2Book, ref: RefBook) -> None:
    assert list(book.iter_bids()) == ref.bid_levels()
    assert list(book.iter_asks()) == ref.ask_levels()
    assert book.seq == ref.seq


def prices_for(tick: int):
    top = 1_000_000 // tick
    mid = top // 2
    idx = st.one_of(
        st.integers(0, top),
        st.integers(max(0, mid - 4), min(top, mid + 4)),  # dense: lots of crossing
        st.integers(0, 3),
        st.integers(top - 3, top),
    )
    return idx.map(lambda i: i * tick)


sizes = st.one_of(st.just(0), st.integers(1, 5_000_000))


@st.composite
def invalid_update(draw, tick: int):
    """An update the book must reject: off-grid, out of range, or negative size."""
    kind = draw(st.sampled_from(["offgrid", "range", "negative"]))
    if kind == "offgrid":
        price = draw(st.integers(0, 1_000_000).filter(lambda p: p % tick))
        return price, draw(sizes)
    if kind == "range":
        price = draw(st.sampled_from([-tick, 1_000_000 + tick, -1, 2_000_000]))
        return price, draw(sizes)
    return draw(prices_for(tick)), draw(st.integers(-5_000_000, -1))


class BookMachine(RuleBasedStateMachine):
    @initialize(tick=st.sampled_from(TICKS))
    def setup(self, tick):
        self.tick = tick
        self.book = L2Book("t:m", tick)
        self.ref = RefBook(tick)

    @rule(data=st.data(), side=st.sampled_from(["bid", "ask"]))
    def set_level(self, data, side):
        price = data.draw(prices_for(self.tick))
        qty = data.draw(sizes)
        getattr(self.book, f"set_{side}")(price, qty)
        getattr(self.ref, f"set_{side}")(price, qty)

    @rule(data=st.data(), side=st.sampled_from(["bid", "ask"]))
    def invalid_single_update_leaves_book_unchanged(self, data, side):
        price, qty = data.draw(invalid_update(self.tick))
        before = state(self.book)
        with pytest.raises(BookError):
            getattr(self.book, f"set_{side}")(price, qty)
        assert state(self.book) == before

    @rule(data=st.data())
    def delta(self, data):
        levels = st.lists(st.tuples(prices_for(self.tick), sizes), max_size=4)
        bids, asks = data.draw(levels), data.draw(levels)
        seq = self.book.seq + 1
        self.book.apply_delta(bids, asks, seq)
        self.ref.delta(bids, asks, seq)

    @rule(offset=st.sampled_from([-3, -1, 0, 2, 5]))
    def out_of_sequence_delta_is_rejected(self, offset):
        before = state(self.book)
        seq = self.book.seq + 1 + offset if offset else self.book.seq  # 0 => duplicate
        with pytest.raises(SequenceGap) as info:
            self.book.apply_delta([(0, 1)], [(1_000_000, 1)], seq)
        assert info.value.expected == before[4] + 1 and info.value.got == seq
        assert state(self.book) == before

    @rule(data=st.data(), seq=st.integers(0, 10**9))
    def snapshot(self, data, seq):
        levels = st.lists(st.tuples(prices_for(self.tick), st.integers(1, 5_000_000)),
                          max_size=6)
        bids, asks = data.draw(levels), data.draw(levels)
        self.book.apply_snapshot(bids, asks, seq, ts=7)
        self.ref.snapshot(bids, asks, seq)
        assert self.book.ts == 7

    @invariant()
    def invariants(self):
        if hasattr(self, "book"):
            assert_book_invariants(self.book)
            assert_matches(self.book, self.ref)


TestBookMachine = BookMachine.TestCase
TestBookMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# -- plain properties / examples ------------------------------------------------------------
@given(
    tick=st.sampled_from(TICKS),
    data=st.data(),
)
@settings(max_examples=100, deadline=None)
def test_random_update_sequences_match_reference(tick, data):
    book, ref = L2Book("k", tick), RefBook(tick)
    ops = data.draw(st.lists(
        st.tuples(st.sampled_from(["bid", "ask"]), prices_for(tick), sizes), max_size=40))
    for side, price, qty in ops:
        getattr(book, f"set_{side}")(price, qty)
        getattr(ref, f"set_{side}")(price, qty)
        assert_book_invariants(book)
    assert_matches(book, ref)


@pytest.mark.parametrize("tick", TICKS)
def test_crossing_bid_clears_stale_asks(tick):
    book = L2Book("k", tick)
    book.apply_snapshot([(40 * tick, 5)], [(50 * tick, 1), (52 * tick, 2), (60 * tick, 3)], 1)
    book.set_bid(52 * tick, 9)  # newer bid at 52 crosses asks 50 and 52
    assert list(book.iter_asks()) == [(60 * tick, 3)]
    assert list(book.iter_bids()) == [(52 * tick, 9), (40 * tick, 5)]
    book.set_ask(40 * tick, 4)  # newer ask at 40 crosses both bids
    assert list(book.iter_bids()) == []
    assert list(book.iter_asks()) == [(40 * tick, 4), (60 * tick, 3)]
    assert book.best_bid_price() is None


def test_removing_best_levels_walks_to_next():
    book = L2Book("k", 10_000)
    for p in (100_000, 200_000, 300_000):
        book.set_bid(p, 1)
        book.set_ask(p + 500_000, 1)
    book.set_bid(300_000, 0)
    book.set_ask(600_000, 0)
    assert book.best_bid_price() == 200_000 and book.best_ask_price() == 700_000
    book.set_bid(900_000, 0)  # removing an empty level is a no-op
    assert book.best_bid_price() == 200_000
    for p in (100_000, 200_000):
        book.set_bid(p, 0)
    assert book.best_bid_price() is None and list(book.iter_bids()) == []
    assert book.depth(5) == ([], [(700_000, 1), (800_000, 1)])


def test_edge_prices_zero_and_one_dollar():
    book = L2Book("k", 10_000)
    book.set_bid(0, 3)
    book.set_ask(1_000_000, 4)
    assert book.best_bid_price() == 0 and book.best_ask_price() == 1_000_000
    book.set_bid(1_000_000, 1)  # crosses the $1 ask
    assert list(book.iter_asks()) == [] and book.best_ask_price() is None


@pytest.mark.parametrize("tick", TICKS)
def test_invalid_updates_raise_and_leave_book_unchanged(tick):
    book = L2Book("k", tick)
    book.apply_snapshot([(10 * tick, 5)], [(20 * tick, 5)], 3)
    before = state(book)
    for price, qty in [(tick // 2, 1), (tick + 1, 0), (-tick, 1), (1_000_000 + tick, 1),
                       (10 * tick, -1), (30 * tick, -5)]:
        for setter in (book.set_bid, book.set_ask):
            with pytest.raises(BookError):
                setter(price, qty)
            assert state(book) == before


def test_sequence_gap_and_duplicate():
    book = L2Book("k", 10_000)
    book.apply_snapshot([], [], seq=10)
    book.apply_delta([(100_000, 1)], [], 11)
    for bad in (11, 10, 13, 0):
        with pytest.raises(SequenceGap, match=f"expected seq 12, got {bad}"):
            book.apply_delta([(200_000, 1)], [], bad)
    assert book.seq == 11 and list(book.iter_bids()) == [(100_000, 1)]
    assert issubclass(SequenceGap, BookError)


def test_snapshot_resets_levels_and_sequence():
    book = L2Book("k", 1_000)
    book.apply_snapshot([(400_000, 1), (300_000, 2)], [(600_000, 3)], seq=50, ts=9)
    book.apply_delta([(450_000, 4)], [], 51)
    book.apply_snapshot([(100_000, 7)], [], seq=5, ts=10)
    assert list(book.iter_bids()) == [(100_000, 7)] and list(book.iter_asks()) == []
    assert (book.seq, book.ts) == (5, 10)
    book.apply_delta([], [(900_000, 1)], 6)
    with pytest.raises(SequenceGap):
        book.apply_delta([], [], 52)


def test_invalid_delta_leaves_book_unchanged():
    book = L2Book("k", 10_000)
    book.apply_snapshot([(400_000, 1)], [(600_000, 1)], seq=1)
    before = state(book)
    with pytest.raises(BookError):
        book.apply_delta([(500_000, 2), (-10_000, 1)], [(300_000, 5)], seq=2)
    assert state(book) == before


def test_invalid_snapshot_leaves_book_unchanged():
    book = L2Book("k", 10_000)
    book.apply_snapshot([(400_000, 1)], [(600_000, 1)], seq=1)
    before = state(book)
    with pytest.raises(BookError):
        book.apply_snapshot([(450_000, 1), (455_000, 1)], [(700_000, 1)], seq=100)
    assert state(book) == before


def test_an_update_that_crosses_leaves_the_book_crossed_until_the_next() -> None:
    book = L2Book("m", 10_000)
    book.apply_snapshot([(450_000, 5)], [(550_000, 5)], 1)
    assert not book.crossed
    book.apply_delta([], [(400_000, 5)], 2)  # an ask under the bid
    assert book.crossed and book.best_bid_price() is None
    book.apply_delta([(300_000, 5)], [], 3)
    assert not book.crossed
    book.apply_snapshot([(600_000, 5)], [(550_000, 5)], 1)  # a snapshot that crosses itself
    assert book.crossed
