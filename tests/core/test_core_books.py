"""BookFeed, the one book applier: a faulty book stream never leaves a wrong book tradable.

The stream is the gateways' own wire type (`arbiter.v1.BookEvent` bodies); faults are
injected deterministically between a true stream and the feed: a dropped delta, a duplicate,
two deltas swapped, and the reconnect snapshot that resyncs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.book import L2Book
from arbiter.core.books import Applied, BookFeed
from arbiter.core.instruments import Market
from arbiter.v1 import market_data_pb2

CENT = 10_000
MARKET = Market("kalshi", "KX", tick_micros=CENT)
KEY = MARKET.key
Levels = list[tuple[int, int]]


def _levels(pairs: Levels) -> list[market_data_pb2.PriceLevel]:
    return [market_data_pb2.PriceLevel(price_micros=p, qty_micros=q) for p, q in pairs]


def snapshot(seq: int, bids: Levels, asks: Levels, tick: int = 0,
             market: Market = MARKET) -> market_data_pb2.BookSnapshot:
    return market_data_pb2.BookSnapshot(venue=market.venue, market_id=market.market_id,
                                        seq=seq, bids=_levels(bids), asks=_levels(asks),
                                        tick_micros=tick)


def delta(seq: int, bids: Levels, asks: Levels,
          market: Market = MARKET) -> market_data_pb2.BookDelta:
    return market_data_pb2.BookDelta(venue=market.venue, market_id=market.market_id, seq=seq,
                                     bid_changes=_levels(bids), ask_changes=_levels(asks))


def levels_of(book: L2Book) -> tuple[Levels, Levels]:
    return list(book.iter_bids()), list(book.iter_asks())


@dataclass
class TrueStream:
    """What the venue's book really is after each seq: the reference the feed must match."""

    deltas: list[market_data_pb2.BookDelta] = field(default_factory=list)
    states: dict[int, tuple[Levels, Levels]] = field(default_factory=dict)

    @classmethod
    def build(cls, changes: list[tuple[bool, int, int]]) -> TrueStream:
        truth = L2Book("truth", CENT)
        truth.apply_snapshot([(40 * CENT, 5)], [(60 * CENT, 5)], 1)
        stream = cls(states={1: levels_of(truth)})
        for seq, (is_bid, cents, qty) in enumerate(changes, start=2):
            bids, asks = ([(cents * CENT, qty)], []) if is_bid else ([], [(cents * CENT, qty)])
            truth.apply_delta(bids, asks, seq)
            stream.deltas.append(delta(seq, bids, asks))
            stream.states[seq] = levels_of(truth)
        return stream

    def snapshot_at(self, seq: int) -> market_data_pb2.BookSnapshot:
        bids, asks = self.states[seq]
        return snapshot(seq, bids, asks)


ACTIONS = ("next", "next", "next", "drop", "duplicate", "swap", "reconnect")


@given(changes=st.lists(st.tuples(st.booleans(), st.integers(1, 99), st.integers(0, 9)),
                        min_size=4, max_size=40),
       actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=60))
@settings(max_examples=300, deadline=None)
def test_a_faulty_stream_never_leaves_a_wrong_book_live(changes, actions) -> None:
    stream = TrueStream.build(changes)
    feed = BookFeed([MARKET])
    assert feed.live(KEY) is None  # nothing is traded before the first snapshot
    feed.apply_snapshot(KEY, stream.snapshot_at(1))
    sent = 0  # deltas of the true stream consumed (delivered or lost)
    last: market_data_pb2.BookDelta | None = None
    expect_live, lost = True, False  # lost: a delta vanished and the feed cannot know yet
    for action in actions:
        remaining = len(stream.deltas) - sent
        if action == "next" and remaining:
            last = stream.deltas[sent]
            sent += 1
            feed.apply_delta(KEY, last)
            expect_live = expect_live and not lost
        elif action == "drop" and remaining:
            sent += 1
            lost = True
        elif action == "duplicate" and last is not None:
            assert feed.apply_delta(KEY, last) is (
                Applied.REDELIVERED if expect_live else Applied.GAP)
        elif action == "swap" and remaining >= 2:
            later, earlier = stream.deltas[sent + 1], stream.deltas[sent]
            assert feed.apply_delta(KEY, later) is Applied.GAP
            feed.apply_delta(KEY, earlier)
            last, sent, expect_live = earlier, sent + 2, False
        elif action == "reconnect":
            seq = sent + 1
            assert feed.apply_snapshot(KEY, stream.snapshot_at(seq)) is Applied.UPDATED
            expect_live, lost = True, False
        book = feed.live(KEY)
        settled = not feed.books[KEY].crossed  # an update that crossed is never traded on
        assert (book is not None) == (expect_live and settled)
        if book is not None:
            assert levels_of(book) == stream.states[book.seq]
            assert book.seq == sent + 1 or lost


def test_a_duplicate_changes_nothing_and_is_not_a_gap() -> None:
    feed = BookFeed([MARKET])
    feed.apply_snapshot(KEY, snapshot(1, [(40 * CENT, 5)], [(60 * CENT, 5)]))
    move = delta(2, [(41 * CENT, 3)], [])
    assert feed.apply_delta(KEY, move) is Applied.UPDATED
    assert feed.apply_delta(KEY, move) is Applied.REDELIVERED
    book = feed.live(KEY)
    assert book is not None and levels_of(book) == ([(41 * CENT, 3), (40 * CENT, 5)],
                                                    [(60 * CENT, 5)])
    assert feed.gaps == 0


def test_a_dropped_delta_is_a_gap_until_the_reconnect_snapshot() -> None:
    feed = BookFeed([MARKET])
    feed.apply_snapshot(KEY, snapshot(1, [(40 * CENT, 5)], [(60 * CENT, 5)]))
    assert feed.apply_delta(KEY, delta(3, [(42 * CENT, 1)], [])) is Applied.GAP
    assert feed.live(KEY) is None and feed.gaps == 1
    assert "expected seq 2, got 3" in str(feed.rejection)
    # the missing one arriving late does not make the book trustworthy again
    assert feed.apply_delta(KEY, delta(2, [(41 * CENT, 1)], [])) is Applied.UPDATED
    assert feed.live(KEY) is None
    assert feed.apply_snapshot(KEY, snapshot(1, [(45 * CENT, 2)], [])) is Applied.UPDATED
    book = feed.live(KEY)
    assert book is not None and levels_of(book) == ([(45 * CENT, 2)], [])


def test_an_invalid_update_is_rejected_whole_and_stales_the_book() -> None:
    feed = BookFeed([MARKET])
    feed.apply_snapshot(KEY, snapshot(1, [(40 * CENT, 5)], [(60 * CENT, 5)]))
    bad = delta(2, [(41 * CENT, 1), (40 * CENT + 1, 1)], [])  # second level off the grid
    assert feed.apply_delta(KEY, bad) is Applied.REJECTED
    assert "off the 10000 grid" in str(feed.rejection)
    assert feed.live(KEY) is None
    assert levels_of(feed.books[KEY]) == ([(40 * CENT, 5)], [(60 * CENT, 5)])  # unchanged
    assert feed.apply_snapshot(KEY, snapshot(1, [], [(30 * CENT, -1)])) is Applied.REJECTED
    assert feed.live(KEY) is None


@pytest.mark.parametrize("body", [
    delta(2, [(41 * CENT, 1)], [], market=Market("kalshi", "OTHER")),
    delta(2, [(41 * CENT, 1)], [], market=Market("polymarket", "KX")),
], ids=["other market", "other venue"])
def test_a_body_that_contradicts_its_key_is_dropped(body) -> None:
    feed = BookFeed([MARKET])
    feed.apply_snapshot(KEY, snapshot(1, [(40 * CENT, 5)], []))
    assert feed.apply_delta(KEY, body) is Applied.UNKNOWN
    assert f"{body.venue}:{body.market_id}" in str(feed.rejection)
    book = feed.live(KEY)
    assert book is not None and book.seq == 1 and levels_of(book) == ([(40 * CENT, 5)], [])
    assert feed.apply_delta("kalshi:NOPE", body) is Applied.UNKNOWN


def test_a_new_tick_grid_rebuilds_the_book_and_a_bad_one_is_refused() -> None:
    feed = BookFeed([MARKET])
    feed.apply_snapshot(KEY, snapshot(1, [(40 * CENT, 5)], []))
    original = feed.books[KEY]
    assert feed.apply_snapshot(KEY, snapshot(1, [], [], tick=CENT)) is Applied.UPDATED
    assert feed.books[KEY] is original  # the same grid is not a rebuild
    assert feed.apply_snapshot(KEY, snapshot(1, [(405_000, 2)], [], tick=1_000)) \
        is Applied.REGRIDDED
    book = feed.live(KEY)
    assert book is not None and book.tick == 1_000 and levels_of(book) == ([(405_000, 2)], [])
    assert feed.apply_snapshot(KEY, snapshot(1, [], [], tick=3_000)) is Applied.REJECTED
    assert feed.books[KEY] is book and feed.live(KEY) is None
