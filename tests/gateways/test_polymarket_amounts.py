"""Polymarket V2 amounts: SDK vectors, every tick size, validation and properties."""

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.units import parse_micros
from arbiter.venues.polymarket.amounts import (
    MICROS,
    TICK_SIZES,
    AmountError,
    Side,
    TickSize,
    format_micros,
    limit_order_amounts,
    market_order_amounts,
    tick_size,
)

# protocol-facts.md A6 (py-clob-client tests) and v2-migration-facts.md A10.
SDK_VECTORS = [
    (Side.BUY, "0.24", "15", 3600000, 15000000),
    (Side.SELL, "0.24", "15", 15000000, 3600000),
    (Side.BUY, "0.82", "101", 82820000, 101000000),
    (Side.BUY, "0.78", "12.8205", 9999600, 12820000),
    (Side.SELL, "0.39", "2435.89", 2435890000, 949997100),
    (Side.SELL, "0.43", "19.1", 19100000, 8213000),
    (Side.BUY, "0.58", "18233.33", 10575331400, 18233330000),
    (Side.BUY, "0.53", "10", 5300000, 10000000),
    (Side.SELL, "0.53", "10", 10000000, 5300000),
]


@pytest.mark.parametrize(("side", "price", "size", "maker", "taker"), SDK_VECTORS)
def test_sdk_vectors_tick_001(side: Side, price: str, size: str, maker: int, taker: int) -> None:
    amounts = limit_order_amounts(side, parse_micros(price), parse_micros(size), tick_size("0.01"))
    assert (amounts.maker_amount, amounts.taker_amount) == (maker, taker)


# One worked example per row of the rounding table (hand-computed: size floored to 2 dp,
# collateral = size x price, exact within the tick's amount decimals).
@pytest.mark.parametrize(
    ("tick", "side", "price", "size", "maker", "taker"),
    [
        ("0.1", Side.BUY, "0.5", "10", 5000000, 10000000),
        ("0.1", Side.SELL, "0.7", "3.339", 3330000, 2331000),
        ("0.01", Side.BUY, "0.99", "0.01", 9900, 10000),
        ("0.001", Side.BUY, "0.123", "12.34", 1517820, 12340000),
        ("0.0001", Side.BUY, "0.1234", "12.34", 1522756, 12340000),
        ("0.005", Side.SELL, "0.335", "7.77", 7770000, 2602950),
        ("0.0025", Side.BUY, "0.3325", "7.77", 2583525, 7770000),
    ],
)
def test_every_tick_size(
    tick: str, side: Side, price: str, size: str, maker: int, taker: int
) -> None:
    amounts = limit_order_amounts(side, parse_micros(price), parse_micros(size), tick_size(tick))
    assert (amounts.maker_amount, amounts.taker_amount) == (maker, taker)


def test_rounding_table_matches_facts() -> None:
    rows = {
        t.label: (t.price_decimals, t.size_decimals, t.amount_decimals) for t in TICK_SIZES.values()
    }
    assert rows == {
        "0.1": (1, 2, 3),
        "0.01": (2, 2, 4),
        "0.001": (3, 2, 5),
        "0.0001": (4, 2, 6),
        "0.005": (3, 2, 5),
        "0.0025": (4, 2, 6),
    }
    assert tick_size("0.010") is TICK_SIZES["0.01"]


def test_market_orders() -> None:
    tick = tick_size("0.01")
    buy = market_order_amounts(Side.BUY, parse_micros("0.3"), parse_micros("5.009"), tick)
    assert (buy.maker_amount, buy.taker_amount) == (5000000, 16666600)  # 5 / 0.3 floored at 4 dp
    sell = market_order_amounts(Side.SELL, parse_micros("0.53"), parse_micros("10"), tick)
    assert (sell.maker_amount, sell.taker_amount) == (10000000, 5300000)
    # V2 rounds a market price DOWN to the tick's decimals.
    down = market_order_amounts(Side.SELL, parse_micros("0.539"), parse_micros("10"), tick)
    assert down.taker_amount == 5300000


@pytest.mark.parametrize(
    ("price", "tick", "message"),
    [
        ("0.535", "0.01", "not on the 0.01 tick grid"),
        ("0.0026", "0.0025", "not on the 0.0025 tick grid"),
        ("0.999", "0.01", "outside [0.01, 0.990000]"),
        ("0", "0.1", "outside"),
        ("1", "0.001", "outside"),
    ],
)
def test_invalid_limit_price(price: str, tick: str, message: str) -> None:
    with pytest.raises(AmountError, match=message.replace("[", r"\[")):
        limit_order_amounts(Side.BUY, parse_micros(price), MICROS, tick_size(tick))


def test_invalid_inputs() -> None:
    with pytest.raises(AmountError, match="size 0.009000 is below the minimum 0.010000"):
        limit_order_amounts(Side.BUY, 500_000, 9_000, tick_size("0.01"))
    with pytest.raises(AmountError, match="tick_size '0.02'"):
        tick_size("0.02")
    with pytest.raises(ValueError, match="more than 6 decimal places"):
        parse_micros("0.1234567", "price")
    with pytest.raises(ValueError, match="not a decimal"):
        parse_micros("abc")
    with pytest.raises(ValueError, match="out of range"):
        parse_micros("1e999999", "size")
    with pytest.raises(AmountError, match="market price 1.000000 outside"):
        market_order_amounts(Side.BUY, MICROS, MICROS, tick_size("0.01"))


def _sdk_rule(value: Decimal, tick: TickSize) -> int:
    """The SDK's collateral rule written with Decimal quantize, as an independent reference."""
    a = tick.amount_decimals
    if -value.as_tuple().exponent > a:
        value = value.quantize(Decimal(1).scaleb(-(a + 4)), ROUND_CEILING)
        value = value.quantize(Decimal(1).scaleb(-a), ROUND_FLOOR)
    return int(value * MICROS)


ticks = st.sampled_from(list(TICK_SIZES.values()))
sides = st.sampled_from(list(Side))


@st.composite
def grid_orders(draw: st.DrawFn) -> tuple[Side, int, int, TickSize]:
    tick = draw(ticks)
    price = draw(st.integers(1, MICROS // tick.tick_micros - 1)) * tick.tick_micros
    return draw(sides), price, draw(st.integers(10_000, 10**12)), tick


@given(grid_orders())
def test_limit_properties(order: tuple[Side, int, int, TickSize]) -> None:
    side, price, size, tick = order
    amounts = limit_order_amounts(side, price, size, tick)
    shares, collateral = (
        (amounts.taker_amount, amounts.maker_amount)
        if side is Side.BUY
        else (amounts.maker_amount, amounts.taker_amount)
    )
    assert isinstance(shares, int) and isinstance(collateral, int) and shares > 0 and collateral > 0
    assert shares == size - size % 10_000
    # Implied price is never better than the limit for the signer: here it is exactly the limit.
    assert collateral * MICROS == shares * price
    assert _sdk_rule(Decimal(shares).scaleb(-6) * Decimal(price).scaleb(-6), tick) == collateral


@given(grid_orders())
def test_market_properties(order: tuple[Side, int, int, TickSize]) -> None:
    side, price, amount, tick = order
    amounts = market_order_amounts(side, price, amount, tick)
    maker = amount - amount % 10_000
    assert amounts.maker_amount == maker and amounts.taker_amount >= 0
    if side is Side.SELL:
        # Seller never asks more collateral than maker x price.
        assert amounts.taker_amount * MICROS <= maker * price
        expected = _sdk_rule(Decimal(maker).scaleb(-6) * Decimal(price).scaleb(-6), tick)
    else:
        # Buyer asks at most maker / price shares, plus the SDK's 1e-(a+4) round-up slack.
        slack = Decimal(1).scaleb(-(tick.amount_decimals + 4)) * MICROS
        assert Decimal(amounts.taker_amount) <= Decimal(maker) * MICROS / price + slack
        expected = _sdk_rule(Decimal(maker) / Decimal(price), tick)
    assert amounts.taker_amount == expected


@given(st.integers(0, 10**15))
def test_micros_round_trip(micros: int) -> None:
    assert parse_micros(format_micros(micros)) == micros
