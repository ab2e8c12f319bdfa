"""Fee models vs. the venue formulas, recomputed independently with Fraction."""

from __future__ import annotations

from fractions import Fraction

import pytest
from _core_reference import KALSHI_MAKER_SPEC, KALSHI_TAKER_SPEC, poly_spec
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.fees import KALSHI_MAKER, KALSHI_TAKER, NO_FEE, polymarket_fee

FAST = settings(max_examples=200, deadline=None)
prices = st.integers(0, 1_000_000)
cent_prices = st.integers(0, 100).map(lambda c: c * 10_000)
qtys = st.integers(0, 10_000_000_000)  # up to 10k contracts
fills = st.lists(st.tuples(prices, st.integers(0, 1_000_000_000)), min_size=1, max_size=6)
RATES = [f"0.{i:03d}" for i in range(0, 75, 5)]  # 0.000 .. 0.070
poly_params = st.tuples(st.sampled_from(RATES), st.sampled_from([1, 2]))


# -- Kalshi -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "contracts, price_cents, fee_micros",
    [
        (10, 50, 180_000),  # 0.07*10*0.25 = 0.175 -> $0.18 (venue docs example)
        (100, 50, 1_750_000),  # exactly $1.75
        (1, 50, 20_000),  # 0.0175 -> $0.02
        (1, 1, 10_000),  # 0.000693 -> $0.01
        (1, 99, 10_000),
        (100, 10, 630_000),  # 0.07*100*0.09 = 0.63
        (1000, 35, 15_930_000),  # 0.07*1000*0.2275 = 15.925 -> 15.93
        (5, 0, 0),
        (5, 100, 0),
        (0, 50, 0),
    ],
)
def test_kalshi_taker_examples(contracts, price_cents, fee_micros):
    assert KALSHI_TAKER.fee([(price_cents * 10_000, contracts * 1_000_000)]) == fee_micros


@pytest.mark.parametrize(
    "contracts, price_cents, fee_micros",
    [(10, 50, 50_000), (100, 50, 440_000), (1, 50, 10_000), (400, 50, 1_750_000)],
)
def test_kalshi_maker_examples(contracts, price_cents, fee_micros):
    # 0.0175 * C * P(1-P): 10@0.50 = 0.04375 -> $0.05; 100@0.50 = 0.4375 -> $0.44.
    assert KALSHI_MAKER.fee([(price_cents * 10_000, contracts * 1_000_000)]) == fee_micros


@given(fills)
@FAST
def test_kalshi_fee_is_whole_cents_just_above_exact(order):
    for model, spec in ((KALSHI_TAKER, KALSHI_TAKER_SPEC), (KALSHI_MAKER, KALSHI_MAKER_SPEC)):
        exact = spec.exact_micros(order)
        got = model.fee(order)
        assert got % 10_000 == 0
        assert exact <= got < exact + 10_000
        assert got == spec.fee(order)
        assert model.raw_fee(*order[0]) == spec.exact_micros(order[:1])


@given(prices, qtys)
@FAST
def test_maker_is_quarter_of_taker_before_rounding(price, qty):
    assert KALSHI_MAKER.raw_fee(price, qty) * 4 == KALSHI_TAKER.raw_fee(price, qty)
    assert KALSHI_MAKER.coefficient == Fraction(175, 10_000)


# -- generic properties over every model -----------------------------------------------------
def all_models():
    models = [KALSHI_TAKER, KALSHI_MAKER, NO_FEE]
    models += [polymarket_fee(r, e) for r in ("0.01", "0.04", "0.07", "0.25") for e in (1, 2)]
    return models


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
@given(price=prices, qty=qtys, extra=qtys)
@settings(max_examples=60, deadline=None)
def test_symmetric_and_monotone(model, price, qty, extra):
    assert model.raw_fee(price, qty) == model.raw_fee(1_000_000 - price, qty)
    assert model.fee([(price, qty)]) == model.fee([(1_000_000 - price, qty)])
    assert model.fee([(price, qty)]) <= model.fee([(price, qty + extra)])
    assert model.raw_fee(price, qty) >= 0
    # Fee is maximal at P = 0.5.
    assert model.raw_fee(price, qty) <= model.raw_fee(500_000, qty)


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
@given(order=fills)
@settings(max_examples=60, deadline=None)
def test_order_fee_rounds_once(model, order):
    total = model.fee(order)
    singles = [model.fee([f]) for f in order]
    assert total <= sum(singles)
    assert total >= max(singles)
    assert total % model.rounding_micros == 0
    # A split fill at one price costs exactly what the merged fill costs.
    price, qty = order[0]
    assert model.fee([(price, qty // 3), (price, qty - qty // 3)]) == model.fee([(price, qty)])


def test_rounding_once_is_cheaper_than_rounding_each_fill():
    # Three 1-contract fills at 50c: each alone rounds 0.0175 -> 0.02, together 0.0525 -> 0.06.
    order = [(500_000, 1_000_000)] * 3
    assert KALSHI_TAKER.fee(order) == 60_000
    assert sum(KALSHI_TAKER.fee([f]) for f in order) == 60_000
    order = [(500_000, 1_000_000)] * 4  # 0.07 exactly vs 4 * 0.02
    assert KALSHI_TAKER.fee(order) == 70_000 < 4 * KALSHI_TAKER.fee(order[:1])


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.name)
@given(price=prices)
@settings(max_examples=60, deadline=None)
def test_floor_per_contract_is_a_lower_bound(model, price):
    raw = model.raw_fee(price, 1_000_000)
    floor = model.floor_per_contract(price)
    assert floor <= raw < floor + 1


# -- Polymarket ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rate, exponent, shares, price_micros, fee_micros",
    [
        ("0.04", 1, 100, 500_000, 1_000_000),  # 0.04*100*0.25 = $1.00
        ("0.04", 1, 10, 300_000, 84_000),  # 0.04*10*0.21 = $0.084
        ("0.04", 1, 1, 10_000, 400),  # 0.04*0.0099 = 0.000396 -> $0.0004
        ("0.04", 2, 100, 500_000, 250_000),  # 0.04*100*0.0625 = $0.25
        ("0.04", 2, 7, 330_000, 13_700),  # 0.04*7*0.2211^2 = 0.01368786 -> $0.0137
        ("0", 1, 100, 500_000, 0),
        ("0.07", 1, 3, 123_456, 22_800),  # 0.07*3*0.108214... = 0.0227249 -> $0.0228
    ],
)
def test_polymarket_examples(rate, exponent, shares, price_micros, fee_micros):
    assert polymarket_fee(rate, exponent).fee([(price_micros, shares * 1_000_000)]) == fee_micros


@given(poly_params, fills)
@FAST
def test_polymarket_matches_formula_and_tenth_of_cent_rounding(params, order):
    rate, exponent = params
    model, spec = polymarket_fee(rate, exponent), poly_spec(rate, exponent)
    exact = spec.exact_micros(order)
    got = model.fee(order)
    assert got % 100 == 0 and exact <= got < exact + 100
    assert got == spec.fee(order)


@pytest.mark.parametrize("rate, exponent", [("-0.01", 1), ("1.01", 1), ("2", 1),
                                            ("0.04", 0), ("0.04", -1)])
def test_polymarket_rejects_invalid_parameters(rate, exponent):
    with pytest.raises(ValueError, match="polymarket fee"):
        polymarket_fee(rate, exponent)


def test_polymarket_accepts_fraction_and_boundaries():
    assert polymarket_fee(Fraction(1, 25)).coefficient == Fraction("0.04")
    assert polymarket_fee("0").fee([(500_000, 10**9)]) == 0
    assert polymarket_fee("1").fee([(500_000, 1_000_000)]) == 250_000


def test_polymarket_rejects_non_integer_exponent():
    with pytest.raises((ValueError, TypeError)):
        polymarket_fee("0.04", 1.5)


def test_polymarket_float_rate_is_rejected_or_exact():
    try:
        model = polymarket_fee(0.04)
    except (TypeError, ValueError):
        return
    assert model.fee([(500_000, 100_000_000)]) == 1_000_000
