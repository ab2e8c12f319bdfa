from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.instruments import Market, MarketPair, Outcome
from arbiter.core.units import (
    CENT,
    ONE_DOLLAR,
    ceil_to,
    notional,
    price_from_decimal,
    qty_from_decimal,
    to_decimal,
)

FAST = settings(max_examples=200, deadline=None)


# -- price / qty conversion --------------------------------------------------------------
@pytest.mark.parametrize(
    "text, micros",
    [("0", 0), ("1", 1_000_000), ("0.5", 500_000), ("0.01", 10_000), ("0.000001", 1),
     ("0.999999", 999_999), ("0.4300", 430_000), ("1.000000", 1_000_000)],
)
def test_price_examples(text, micros):
    assert price_from_decimal(text) == micros
    assert price_from_decimal(Decimal(text)) == micros


@given(st.integers(0, ONE_DOLLAR))
@FAST
def test_price_round_trip(micros):
    assert price_from_decimal(to_decimal(micros)) == micros
    assert price_from_decimal(str(to_decimal(micros))) == micros
    assert to_decimal(micros) == Decimal(micros) / Decimal(1_000_000)


@given(st.integers(0, 10**15))
@FAST
def test_qty_round_trip(micros):
    assert qty_from_decimal(to_decimal(micros)) == micros
    assert qty_from_decimal(str(to_decimal(micros))) == micros


@pytest.mark.parametrize("text", ["0.0000001", "0.5000001", "0.1234567"])
def test_price_rejects_too_many_decimals(text):
    with pytest.raises(ValueError, match="6 decimal places"):
        price_from_decimal(text)


@pytest.mark.parametrize("text", ["-0.01", "1.000001", "2", "-1"])
def test_price_rejects_out_of_range(text):
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        price_from_decimal(text)


def test_qty_rejections():
    with pytest.raises(ValueError, match="6 decimal places"):
        qty_from_decimal("1.0000001")
    with pytest.raises(ValueError, match="negative"):
        qty_from_decimal("-0.000001")
    assert qty_from_decimal("12.5") == 12_500_000


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-5, max_value=5))
@FAST
def test_price_accepts_exactly_the_unit_interval(value):
    if 0 <= value <= 1:
        assert price_from_decimal(value) == int(value * 1_000_000)
    else:
        with pytest.raises(ValueError):
            price_from_decimal(value)


@pytest.mark.parametrize(
    "fn, text",
    [(price_from_decimal, "Infinity"), (qty_from_decimal, "Infinity"),
     (price_from_decimal, "abc"), (qty_from_decimal, "1.2.3"), (price_from_decimal, "NaN")],
)
def test_non_finite_or_garbage_rejected_with_value_error(fn, text):
    with pytest.raises(ValueError) as info:
        fn(text)
    assert "decimal places" not in str(info.value)


def test_qty_rejects_inexact_even_with_many_digits():
    with pytest.raises(ValueError):
        qty_from_decimal("1234567890123456789012345.0000001")


# -- notional / ceil_to -------------------------------------------------------------------
@given(st.integers(0, ONE_DOLLAR), st.integers(0, 10**12))
@FAST
def test_notional_rounds_up_to_micro(price, qty):
    exact = Decimal(price) * Decimal(qty) / Decimal(1_000_000)
    got = notional(price, qty)
    assert got >= exact
    assert got - exact < 1


def test_notional_examples():
    assert notional(500_000, 10_000_000) == 5_000_000  # 10 @ $0.50 = $5
    assert notional(333_333, 1) == 1  # 0.333333 micro rounds up
    assert notional(0, 10**9) == 0
    assert notional(ONE_DOLLAR, 7) == 7


@given(st.integers(0, 10**12), st.integers(1, 10**7))
@FAST
def test_ceil_to(value, step):
    got = ceil_to(value, step)
    assert got % step == 0
    assert value <= got < value + step


# -- instruments --------------------------------------------------------------------------
def test_market_tick_must_divide_a_dollar():
    for tick in (1, 100, 1_000, 10_000, 1_000_000):
        Market("kalshi", "m", tick_micros=tick)
    for tick in (0, -100, 3_000, 7, 2_000_000):
        with pytest.raises(ValueError, match="must divide"):
            Market("kalshi", "m", tick_micros=tick)
    with pytest.raises(ValueError, match="lot_micros"):
        Market("kalshi", "m", lot_micros=0)


def test_venue_outcome_helpers():
    assert Outcome.YES.other is Outcome.NO and Outcome.NO.other is Outcome.YES
    assert Market("kalshi", "KX-1").key == "kalshi:KX-1"
    assert CENT == 10_000


def test_pair_takes_the_coarser_lot_on_any_two_markets_but_not_one_market_twice():
    a = Market("polymarket", "a", lot_micros=10_000)
    b = Market("kalshi", "b", lot_micros=1_000_000)
    assert MarketPair("p", a, b).lot_micros == 1_000_000
    assert MarketPair("same-venue", a, Market("polymarket", "c", lot_micros=10_000)).lot_micros == 10_000
    with pytest.raises(ValueError, match="both legs are the market polymarket:a"):
        MarketPair("p", a, Market("polymarket", "a"))


def test_pair_lot_is_tradeable_on_both_venues():
    a = Market("polymarket", "a", lot_micros=300_000)
    b = Market("kalshi", "b", lot_micros=200_000)
    lot = MarketPair("p", a, b).lot_micros
    assert lot % 300_000 == 0 and lot % 200_000 == 0


# -- the wire parser against an independent reference, on any string ------------------------
def _reference_micros(text: str) -> int | None:
    """What `parse_micros` must give: Python's own decimal syntax, finite, within 1e±30, and
    exact in micro-units (via `Fraction`); None where it must raise."""
    from fractions import Fraction
    try:
        number = Decimal(text)
    except ArithmeticError:
        return None
    if not number.is_finite() or (number and not -30 <= number.adjusted() <= 30):
        return None
    micros = Fraction(number) * 1_000_000
    return int(micros) if micros.denominator == 1 else None


def _parsed(text: str) -> int | None:
    from arbiter.core.units import parse_micros
    try:
        return parse_micros(text, "price")
    except ValueError as exc:
        assert "price" in str(exc)  # the rejection names the field
        return None


PLAIN = st.builds(lambda sign, whole, places: f"{sign}{whole}{places}",
                  st.sampled_from(["", "-"]), st.from_regex(r"[0-9]{1,33}", fullmatch=True),
                  st.sampled_from([""]) | st.from_regex(r"\.[0-9]{0,8}", fullmatch=True))


@settings(max_examples=2000, deadline=None)
@given(text=PLAIN | st.text(alphabet="0123456789.-+eE _", max_size=12)
       | st.decimals(allow_nan=True).map(str))
def test_the_wire_parser_accepts_and_rejects_exactly_what_the_reference_does(text: str) -> None:
    assert _parsed(text) == _reference_micros(text)


@pytest.mark.parametrize(("text", "micros"), [
    ("0.53", 530_000), ("-12", -12_000_000), ("100.000001", 100_000_001), ("007.5", 7_500_000),
    ("-0.000001", -1), ("0.5300000", 530_000), ("1e2", 100_000_000), (" 1.5", 1_500_000),
    ("1.", 1_000_000), (".5", 500_000),  # Decimal's syntax
])
def test_venue_strings_and_their_odd_cousins(text: str, micros: int) -> None:
    assert _parsed(text) == micros


@pytest.mark.parametrize("text", ["0.0000001", "--1", "1e999999", "NaN", "", "0x10", "1" * 41])
def test_what_no_venue_may_send_is_rejected(text: str) -> None:
    assert _parsed(text) is None
