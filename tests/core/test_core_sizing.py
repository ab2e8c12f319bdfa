"""size_opportunity vs. a brute-force enumeration of every lot multiple."""

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
from hypothesis import example, given, settings
from hypothesis import strategies as st

from arbiter.core.fees import KALSHI_TAKER, NO_FEE, polymarket_fee
from arbiter.core.sizing import leg_fill, size_opportunity, take

RATES = [f"0.{i:03d}" for i in range(0, 75, 5)]


@st.composite
def fee_models(draw):
    """(model under test, independent spec) for the same venue fee."""
    kind = draw(st.sampled_from(["kalshi", "poly", "none"]))
    if kind == "kalshi":
        return KALSHI_TAKER, KALSHI_TAKER_SPEC
    if kind == "none":
        return NO_FEE, NO_FEE_SPEC
    rate, exponent = draw(st.sampled_from(RATES)), draw(st.sampled_from([1, 2]))
    return polymarket_fee(rate, exponent), poly_spec(rate, exponent)


@st.composite
def ladder(draw, start_cents, lot, tick=10_000):
    """1-4 levels, strictly increasing prices from `start`, sizes of a few lots."""
    n = draw(st.integers(1, 4))
    steps = draw(st.lists(st.integers(1, 4 * 10_000 // tick), min_size=n, max_size=n))
    price = start_cents * 10_000
    levels = []
    for i, step in enumerate(steps):
        if i:
            price += step * tick
        if price > 1_000_000:
            break
        levels.append((price, draw(st.integers(1, 5)) * lot))
    return levels


@st.composite
def problems(draw, lots=(1_000_000, 100_000, 10_000)):
    lot = draw(st.sampled_from(lots))
    p1 = draw(st.integers(1, 95))
    p2 = max(1, min(99, 100 - p1 - draw(st.integers(-3, 8))))  # around break-even
    l1, l2 = draw(ladder(p1, lot)), draw(ladder(p2, lot))
    f1, f2 = draw(fee_models()), draw(fee_models())
    max_qty = draw(st.one_of(st.integers(1, 25).map(lambda k: k * lot),
                             st.integers(0, 25 * lot)))
    return l1, f1, l2, f2, lot, max_qty


def check_sizing(l1, f1, l2, f2, lot, max_qty):
    (m1, s1), (m2, s2) = f1, f2
    best, argbest = brute_force_best(l1, s1, l2, s2, lot, max_qty)
    got = size_opportunity(l1, m1, l2, m2, lot, max_qty)
    if best <= 0:
        assert got is None
        return None
    assert got is not None, f"missed profit {best} at {argbest}"
    assert got.profit == best, (got.qty, got.profit, argbest, best)
    assert got.qty in argbest
    assert got.qty % lot == 0 and 0 < got.qty <= max_qty
    assert got.qty <= sum(q for _, q in l1) and got.qty <= sum(q for _, q in l2)
    # Legs are consistent with an independent walk of each ladder.
    for leg, lad, spec in ((got.leg1, l1, s1), (got.leg2, l2, s2)):
        fills = walk(lad, got.qty)
        assert leg.qty == got.qty
        assert [f for f in leg.fills if f[1]] == fills
        assert sum(q for _, q in leg.fills) == got.qty
        assert leg.cost == cost_micros(fills)
        assert leg.fee == spec.fee(fills)
        assert leg.worst_price == fills[-1][0]
        assert all(p <= leg.worst_price for p, _ in leg.fills)
    assert got.profit == got.qty - got.leg1.cost - got.leg1.fee - got.leg2.cost - got.leg2.fee
    return got


@given(problems())
@settings(max_examples=400, deadline=None)
# Fee rounding makes a size past the raw optimum the best (see the example test below).
@example(([(490_000, 3_000_000), (530_000, 3_000_000)], (KALSHI_TAKER, KALSHI_TAKER_SPEC),
          [(440_000, 4_000_000)], (KALSHI_TAKER, KALSHI_TAKER_SPEC), 1_000_000, 15_000_000))
def test_size_opportunity_is_optimal(problem):
    check_sizing(*problem)


@given(problems(lots=(1, 7, 1_000)), st.sampled_from([100, 1_000]))
@settings(max_examples=200, deadline=None)
def test_size_opportunity_is_optimal_with_fine_lots(problem, _):
    """Tiny lots make per-fill notional rounding (ceil to the micro-dollar) matter."""
    check_sizing(*problem)


@st.composite
def sub_cent_problems(draw):
    lot = draw(st.sampled_from([1, 3, 10_000, 1_000_000]))
    tick = draw(st.sampled_from([100, 1_000]))
    p1 = draw(st.integers(1, 95))
    p2 = max(1, min(99, 100 - p1 - draw(st.integers(-2, 4))))
    l1, l2 = draw(ladder(p1, lot, tick)), draw(ladder(p2, lot, tick))
    return l1, draw(fee_models()), l2, draw(fee_models()), lot, draw(st.integers(0, 25 * lot))


@given(sub_cent_problems())
@settings(max_examples=200, deadline=None)
def test_size_opportunity_is_optimal_on_sub_cent_grids(problem):
    check_sizing(*problem)


@given(problems(lots=(1_000_000, 10_000)), st.integers(1, 40))
@settings(max_examples=150, deadline=None)
def test_unprofitable_level_never_extends_the_size(problem, overshoot_cents):
    """A level that loses money even before fees (price sum > $1) is never bought."""
    l1, f1, l2, f2, lot, max_qty = problem
    profitable_depth = sum(q for _, q in l1)
    # Leg 2 is deep at its worst price; leg 1 gets an extra level that, paired with any
    # price on leg 2, costs more than $1.
    l2 = [*l2[:-1], (l2[-1][0], l2[-1][1] + 10 * lot)]
    bad_price = min(1_000_000, 1_000_000 - l2[0][0] + overshoot_cents * 10_000)
    if bad_price <= l1[-1][0] or bad_price + l2[0][0] <= 1_000_000:
        return
    base = size_opportunity(l1, f1[0], l2, f2[0], lot, max_qty)
    extended = [*l1, (bad_price, 5 * lot)]
    got = check_sizing(extended, f1, l2, f2, lot, max_qty)
    if got is None:
        assert base is None
        return
    assert got.qty <= profitable_depth
    assert base is not None and got.profit == base.profit


def test_size_stops_at_the_marginal_level():
    # YES 40c x3, 45c x2, 60c x5 vs NO 50c x20, no fees: only the first 5 contracts pay.
    l1 = [(400_000, 3_000_000), (450_000, 2_000_000), (600_000, 5_000_000)]
    l2 = [(500_000, 20_000_000)]
    got = size_opportunity(l1, NO_FEE, l2, NO_FEE, 1_000_000, 100_000_000)
    assert got is not None
    assert (got.qty, got.profit) == (5_000_000, 3 * 100_000 + 2 * 50_000)
    assert got.leg1.worst_price == 450_000 and got.leg1.cost == 2_100_000
    assert got.leg2.cost == 2_500_000


def test_size_respects_max_qty_and_lot():
    l1 = [(400_000, 10_000_000)]
    l2 = [(500_000, 10_000_000)]
    got = size_opportunity(l1, NO_FEE, l2, NO_FEE, 1_000_000, 3_500_000)
    assert got is not None and got.qty == 3_000_000 and got.profit == 300_000
    assert size_opportunity(l1, NO_FEE, l2, NO_FEE, 1_000_000, 999_999) is None
    assert size_opportunity(l1, NO_FEE, [(500_000, 999_999)], NO_FEE, 1_000_000, 10**9) is None


def test_fee_rounding_can_make_a_size_past_the_raw_optimum_best():
    # Kalshi taker on both legs. The 4th contract (53c + 44c + 0.0174 + 0.0172 raw fees)
    # loses money before rounding, yet rounding per order makes q=4 the best size:
    #   q=3: cost 1.47 + 1.32, fees ceil(.052479)=.06 + ceil(.051744)=.06 -> profit 0.09
    #   q=4: cost 2.00 + 1.76, fees ceil(.069916)=.07 + ceil(.068992)=.07 -> profit 0.10
    l1 = [(490_000, 3_000_000), (530_000, 3_000_000)]
    l2 = [(440_000, 4_000_000)]
    got = size_opportunity(l1, KALSHI_TAKER, l2, KALSHI_TAKER, 1_000_000, 15_000_000)
    assert got is not None and (got.qty, got.profit) == (4_000_000, 100_000)
    assert (got.leg1.fee, got.leg2.fee) == (70_000, 70_000)


def test_fee_rounding_examples():
    # 48c + 50c with Kalshi taker on both: every size loses to the per-order fee.
    l1, l2 = [(480_000, 3_000_000)], [(500_000, 3_000_000)]
    assert size_opportunity(l1, KALSHI_TAKER, l2, KALSHI_TAKER, 1_000_000, 3_000_000) is None
    # 40c + 50c: fee per contract 0.0168 + 0.0175; q=4 rounds to 0.07 + 0.07 -> 0.26.
    got = size_opportunity([(400_000, 4_000_000)], KALSHI_TAKER,
                           [(500_000, 4_000_000)], KALSHI_TAKER, 1_000_000, 4_000_000)
    assert got is not None and got.qty == 4_000_000 and got.profit == 260_000


def test_take_and_leg_fill():
    lad = [(100_000, 2), (200_000, 3)]
    assert take(lad, 4) == [(100_000, 2), (200_000, 2)]
    assert take(lad, 0) == []
    with pytest.raises(ValueError, match="short of 6 by 1"):
        take(lad, 6)
    leg = leg_fill([(333_333, 3)], NO_FEE, 3)
    assert (leg.cost, leg.fee, leg.worst_price) == (1, 0, 333_333)


@st.composite
def deep_problems(draw):
    """A shallow level that pays after fees, then a deep one whose price edge is within a
    few cents of its fees either way: where a search that stops on price alone walks far past
    the optimum and, starting from there, finds nothing (or a worse size)."""
    lot = draw(st.sampled_from([1_000_000, 100_000]))
    p1 = draw(st.integers(20, 60))
    p2 = draw(st.integers(max(1, 80 - p1), 90 - p1))  # shallow edge 10-20 cents
    deep_sum = draw(st.integers(94, 99))  # deep edge 1-6 cents: fees are 0-7 cents
    d1 = draw(st.integers(p1 + 1, min(99, deep_sum - p2)))
    l1 = [(p1 * 10_000, draw(st.integers(1, 5)) * lot), (d1 * 10_000,
                                                           draw(st.integers(50, 300)) * lot)]
    l2 = [(p2 * 10_000, draw(st.integers(1, 5)) * lot),
          ((deep_sum - d1) * 10_000, draw(st.integers(50, 300)) * lot)]
    if l2[1][0] <= l2[0][0]:
        l2 = [l2[0], (l2[0][0], l2[1][1])]
    fees = draw(st.sampled_from([(KALSHI_TAKER, KALSHI_TAKER_SPEC),
                                 (polymarket_fee("0.070", 1), poly_spec("0.070", 1)),
                                 (polymarket_fee("0.040", 1), poly_spec("0.040", 1))]))
    return l1, fees, l2, (KALSHI_TAKER, KALSHI_TAKER_SPEC), lot, 10**12


@given(deep_problems())
@settings(max_examples=150, deadline=None)
# one contract at 40c + 50c pays $0.0657 after Kalshi fees; the 200 below at 48c + 50c make
# 2 cents before fees and lose 1.5 after them
@example(([(400_000, 1_000_000), (480_000, 200_000_000)], (KALSHI_TAKER, KALSHI_TAKER_SPEC),
          [(500_000, 201_000_000)], (KALSHI_TAKER, KALSHI_TAKER_SPEC), 1_000_000, 10**12))
def test_deep_levels_whose_edge_is_below_their_fees_are_not_bought(problem):
    check_sizing(*problem)
