"""Queue mechanics of the matching engine that amend/decrease rely on."""

from __future__ import annotations

import pytest

from arbiter.emulators.matching import BookSide, MatchingEngine

TICK = 10_000


def _book() -> tuple[MatchingEngine, str, str, str]:
    engine = MatchingEngine("M", TICK)
    first, mine, last = (engine.submit(owner, BookSide.BID, 450_000, qty).order_id
                         for owner, qty in (("a", 3), ("me", 4), ("b", 5)))
    return engine, first, mine, last


def test_queue_ahead_counts_what_rests_before_an_order_at_its_price() -> None:
    engine, first, mine, last = _book()
    engine.submit("c", BookSide.BID, 460_000, 9)  # a better price is not in this queue

    assert [engine.queue_ahead(o) for o in (first, mine, last)] == [0, 3, 7]
    with pytest.raises(KeyError):
        engine.queue_ahead("no-such-order")


def test_reduce_keeps_the_place_in_the_queue_and_refuses_growth() -> None:
    engine, first, mine, last = _book()

    engine.reduce(mine, 1)
    fill = engine.submit("taker", BookSide.ASK, 450_000, 4)

    assert [(t.maker_order_id, t.qty) for t in fill.trades] == [(first, 3), (mine, 1)]
    assert engine.queue_ahead(last) == 0
    with pytest.raises(ValueError):
        engine.reduce(last, 6)
    assert engine.reduce("gone", 1) is None


def test_an_order_re_entered_under_its_id_goes_to_the_back() -> None:
    engine, _, mine, _ = _book()

    engine.cancel(mine)
    again = engine.submit("me", BookSide.BID, 450_000, 4, order_id=mine)

    assert again.order_id == mine and again.resting == 4
    assert engine.queue_ahead(mine) == 8
