"""PairEvaluator: directions, complement mapping, thresholds, ids, TTL, and a reference."""

from __future__ import annotations

import pytest
from _core_reference import (
    KALSHI_TAKER_SPEC,
    NO_FEE_SPEC,
    brute_force_best,
    cost_micros,
    poly_spec,
    walk,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.fees import KALSHI_TAKER, NO_FEE, polymarket_fee
from arbiter.core.instruments import Market, MarketPair, Outcome
from arbiter.core.opportunity import BookTop, PairEvaluator, buy_ladder

A = Market("polymarket", "pm-1", tick_micros=10_000, lot_micros=1_000_000)
B = Market("kalshi", "KX-1", tick_micros=10_000, lot_micros=1_000_000)
PAIR = MarketPair("p1", A, B)
PAIR_INV = MarketPair("p1inv", A, B, b_inverted=True)
TEN = 10_000_000


def top(bids, asks, size=TEN):
    """Book top from cent prices, best first."""
    return BookTop(bids=[(c * 10_000, size) for c in bids], asks=[(c * 10_000, size) for c in asks])


def evaluator(pair=PAIR, fee_a=NO_FEE, fee_b=NO_FEE, max_qty=5_000_000, min_profit=1,
              ttl=1_000_000):
    return PairEvaluator(pair, fee_a, fee_b, max_qty, min_profit, ttl, 10)


def test_buy_ladder_maps_no_to_yes_bids():
    t = top([55, 50], [60, 65])
    assert buy_ladder(t, Outcome.YES, 10) == [(600_000, TEN), (650_000, TEN)]
    assert buy_ladder(t, Outcome.NO, 10) == [(450_000, TEN), (500_000, TEN)]
    assert buy_ladder(t, Outcome.NO, 1) == [(450_000, TEN)]  # only as deep as configured


def test_yes_on_a_no_on_b():
    # YES on A at 40c + NO on B at 100-55 = 45c -> 15c/contract. Reverse: 61c + 56c.
    a, b = top([39], [40]), top([55], [56])
    opp = evaluator().evaluate(a, b, now=100)
    assert opp is not None
    assert (opp.first.market, opp.first.outcome, opp.first.limit_price) == (A, Outcome.YES, 400_000)
    assert (opp.second.market, opp.second.outcome, opp.second.limit_price) == (
        B, Outcome.NO, 450_000)
    assert opp.qty == opp.first.qty == opp.second.qty == 5_000_000
    assert (opp.first.cost, opp.second.cost, opp.profit) == (2_000_000, 2_250_000, 750_000)
    assert opp.edge_per_contract == 150_000
    assert opp.pair_id == "p1"


def test_no_on_a_yes_on_b():
    # NO on A at 100-60 = 40c + YES on B at 25c -> 35c/contract. Reverse: 62c + 76c.
    a, b = top([60], [62]), top([24], [25])
    opp = evaluator().evaluate(a, b, now=0)
    assert opp is not None
    # `first` is always the event's YES (in A's terms): here B's YES.
    assert (opp.first.market, opp.first.outcome, opp.first.limit_price) == (B, Outcome.YES, 250_000)
    assert (opp.second.market, opp.second.outcome, opp.second.limit_price) == (
        A, Outcome.NO, 400_000)
    assert opp.profit == 5 * 350_000
    assert opp.first.cost + opp.second.cost + opp.profit == opp.qty


def test_b_inverted_flips_the_complement():
    # B lists the complement. YES(A) 40c + YES(B) 45c = 85c pays only if B is inverted;
    # the non-inverted pairings cost 40+70 and 62+45.
    a, b = top([38], [40]), top([30], [45])
    assert evaluator(PAIR).evaluate(a, b, 0) is None
    assert evaluator(PAIR).quick_edge(a, b) <= 0
    opp = evaluator(PAIR_INV).evaluate(a, b, 0)
    assert opp is not None
    assert (opp.first.market, opp.first.outcome) == (A, Outcome.YES)
    assert (opp.second.market, opp.second.outcome, opp.second.limit_price) == (
        B, Outcome.YES, 450_000)
    assert opp.profit == 5 * 150_000
    # And NO(A) + NO(B) when inverted: 100-70 = 30c + 100-60 = 40c.
    opp = evaluator(PAIR_INV).evaluate(top([70], [90]), top([60], [95]), 0)
    assert opp is not None
    assert (opp.first.market, opp.first.outcome, opp.first.limit_price) == (B, Outcome.NO, 400_000)
    assert (opp.second.market, opp.second.outcome, opp.second.limit_price) == (
        A, Outcome.NO, 300_000)


def test_picks_the_more_profitable_direction():
    # YES-A/NO-B: 40 + 45 = 85c (15c); NO-A/YES-B: 100-80 = 20c + 50c = 70c (30c)... crossed
    # books are fine for the evaluator: it only sees each venue's own top.
    a, b = BookTop(bids=[(800_000, TEN)], asks=[(400_000, TEN)]), top([55], [50])
    opp = evaluator().evaluate(a, b, 0)
    assert opp is not None and opp.profit == 5 * 300_000
    assert opp.first.market == B and opp.second.outcome is Outcome.NO


def test_min_profit_threshold():
    a, b = top([39], [40]), top([55], [56])
    assert evaluator(min_profit=750_000).evaluate(a, b, 0) is not None
    assert evaluator(min_profit=750_001).evaluate(a, b, 0) is None


def test_fees_can_kill_a_thin_edge():
    # 49c + 50c leaves 1c; Kalshi's fee alone is ~1.75c per contract.
    a, b = top([48], [49]), top([50], [52])
    assert evaluator().evaluate(a, b, 0) is not None
    ev = evaluator(fee_a=KALSHI_TAKER, fee_b=KALSHI_TAKER)
    assert ev.quick_edge(a, b) <= 0
    assert ev.evaluate(a, b, 0) is None


def test_ttl_and_deterministic_ids():
    a, b = top([39], [40]), top([55], [56])
    ev1, ev2 = evaluator(ttl=500), evaluator(ttl=500)
    ids1 = [ev1.evaluate(a, b, now=1_000).opportunity_id for _ in range(3)]
    assert ev1.evaluate(top([], []), b, 1_000) is None  # a miss does not consume an id
    ids1.append(ev1.evaluate(a, b, 2_000).opportunity_id)
    ids2 = [ev2.evaluate(a, b, now=t).opportunity_id for t in (1, 2, 3, 4)]
    assert ids1 == ids2 == ["p1-1", "p1-2", "p1-3", "p1-4"]
    opp = evaluator(ttl=500).evaluate(a, b, now=1_000)
    assert (opp.created, opp.expires) == (1_000, 1_500)
    assert opp.is_live(1_000) and opp.is_live(1_499)
    assert not opp.is_live(1_500) and not opp.is_live(10_000)


def test_empty_sides():
    ev = evaluator()
    assert ev.evaluate(top([], []), top([55], [56]), 0) is None
    assert ev.evaluate(top([39], []), top([], [56]), 0) is None  # NO-A 61c + YES-B 56c
    assert ev.evaluate(top([], [40]), top([55], []), 0) is not None  # YES-A + NO-B only


# -- property: evaluate == brute force over both directions ----------------------------------
FEES = [(NO_FEE, NO_FEE_SPEC), (KALSHI_TAKER, KALSHI_TAKER_SPEC),
        (polymarket_fee("0.04"), poly_spec("0.04", 1)),
        (polymarket_fee("0.03", 2), poly_spec("0.03", 2))]


@st.composite
def book_top(draw, mid_cents):
    spread = draw(st.integers(1, 6))
    bid0 = max(0, min(98, mid_cents - spread // 2))
    ask0 = min(100, bid0 + spread)
    n_b, n_a = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    bids, p = [], bid0
    for _ in range(n_b):
        if p < 0:
            break
        bids.append((p * 10_000, draw(st.integers(1, 4)) * 1_000_000))
        p -= draw(st.integers(1, 3))
    asks, p = [], ask0
    for _ in range(n_a):
        if p > 100:
            break
        asks.append((p * 10_000, draw(st.integers(1, 4)) * 1_000_000))
        p += draw(st.integers(1, 3))
    return BookTop(bids=bids, asks=asks)


def my_ladder(t: BookTop, outcome: Outcome):
    if outcome is Outcome.YES:
        return list(t.asks)
    return [(1_000_000 - p, q) for p, q in t.bids]


@given(
    data=st.data(),
    inverted=st.booleans(),
    fees=st.tuples(st.sampled_from(FEES), st.sampled_from(FEES)),
    max_lots=st.integers(1, 12),
    min_profit=st.sampled_from([1, 10_000, 100_000]),
)
@settings(max_examples=300, deadline=None)
def test_evaluate_matches_brute_force(data, inverted, fees, max_lots, min_profit):
    (fa, sa), (fb, sb) = fees
    mid_a = data.draw(st.integers(2, 98))
    # Put B's (YES) mid near where an arb could exist, sometimes on the wrong side.
    mid_b = (mid_a if inverted is False else 100 - mid_a) + data.draw(st.integers(-12, 12))
    mid_b = max(1, min(99, mid_b))
    a, b = data.draw(book_top(mid_a)), data.draw(book_top(mid_b))
    pair = PAIR_INV if inverted else PAIR
    ev = PairEvaluator(pair, fa, fb, max_lots * 1_000_000, min_profit, 1_000, 10)
    opp = ev.evaluate(a, b, now=5)

    # Pairings that pay exactly $1 in every world: YES_A pays iff event; B's YES pays iff
    # event (not inverted) or iff not event (inverted).
    combos = [(Outcome.YES, Outcome.NO), (Outcome.NO, Outcome.YES)] if not inverted else \
        [(Outcome.YES, Outcome.YES), (Outcome.NO, Outcome.NO)]
    best = 0
    for oa, ob in combos:
        la, lb = my_ladder(a, oa), my_ladder(b, ob)
        if la and lb:
            best = max(best, brute_force_best(la, sa, lb, sb, 1_000_000, max_lots * 1_000_000)[0])

    if ev.quick_edge(a, b) <= 0:
        assert opp is None
    if best < max(min_profit, 1):
        assert opp is None
        return
    assert opp is not None
    assert opp.profit == best
    assert opp.profit >= min_profit and opp.profit > 0
    assert opp.first.qty == opp.second.qty == opp.qty
    assert opp.qty % 1_000_000 == 0 and opp.qty <= max_lots * 1_000_000
    # Both legs together cost less than the $1 x qty they are certain to pay.
    assert opp.first.cost + opp.second.cost + opp.profit == opp.qty
    assert opp.first.cost + opp.second.cost < opp.qty
    # Each leg's cost/limit is an independent walk of the right ladder.
    by_market = {A: (a, sa), B: (b, sb)}
    for leg in (opp.first, opp.second):
        t, spec = by_market[leg.market]
        fills = walk(my_ladder(t, leg.outcome), opp.qty)
        assert fills is not None
        assert leg.cost == cost_micros(fills) + spec.fee(fills)
        assert leg.limit_price == fills[-1][0]
    # `first` is the event's YES, `second` the event's NO, one leg per venue.
    assert {opp.first.market, opp.second.market} == {A, B}
    yes_b = Outcome.NO if inverted else Outcome.YES
    first_is_event_yes = (opp.first.market == A and opp.first.outcome is Outcome.YES) or (
        opp.first.market == B and opp.first.outcome is yes_b)
    assert first_is_event_yes
    assert opp.is_live(5) and not opp.is_live(1_005)


@pytest.mark.parametrize("inverted", [False, True])
def test_quick_edge_is_an_upper_bound_on_the_first_contract(inverted):
    # quick_edge uses fee floors, so it can only overstate the best-level edge.
    pair = PAIR_INV if inverted else PAIR
    ev = PairEvaluator(pair, KALSHI_TAKER, polymarket_fee("0.04"), 10**7, 1, 1, 10)
    a, b = top([45], [47]), top([50, 49], [53])
    edge = ev.quick_edge(a, b)
    combos = [(47, 50), (55, 53)] if not inverted else [(47, 53), (55, 50)]
    exact = max(
        1_000_000 - ca * 10_000 - cb * 10_000
        - KALSHI_TAKER_SPEC.exact_micros([(ca * 10_000, 1_000_000)])
        - poly_spec("0.04", 1).exact_micros([(cb * 10_000, 1_000_000)])
        for ca, cb in combos
    )
    assert exact <= edge < exact + 2
