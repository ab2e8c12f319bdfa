"""Exact Polymarket CLOB V2 maker/taker amounts from integer micro-dollar prices and micro-shares.

The venue recomputes the implied price from the two signed base-unit amounts, so a rounding
difference of one base unit gets an order rejected. The official SDKs compute in binary floats;
this module reproduces their *intended* decimal rules with exact integer arithmetic:

* pUSD and outcome tokens both have 6 decimals, so one base unit is one micro-dollar or one
  micro-share, the codebase's own units. Amounts are therefore plain integers throughout.
* size (limit orders) and amount (market orders) are floored to ``size_decimals`` (2).
* the collateral leg, when it has more than ``amount_decimals`` decimals, is rounded UP at
  ``amount_decimals + 4`` places and then DOWN to ``amount_decimals`` places.
* limit prices must lie on the tick grid (rejected otherwise: rounding half-even to the tick's
  decimals is the identity on the grid); market-order prices are rounded DOWN to the tick's
  decimals (the V2 rule) and only range-checked, as the SDK does.

``Decimal`` appears only in `arbiter.core.units.parse_micros` and :func:`format_micros`,
the wire boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import IntEnum

MICROS = 1_000_000
"""Base units per dollar / per share (6 decimals for pUSD and for outcome tokens)."""


class Side(IntEnum):
    """Order side as signed in the EIP-712 struct (the JSON body uses the names)."""

    BUY = 0
    SELL = 1


@dataclass(frozen=True)
class TickSize:
    """One row of the SDK rounding table: the tick and the decimals each leg is rounded to."""

    label: str
    tick_micros: int
    price_decimals: int
    size_decimals: int
    amount_decimals: int


TICK_SIZES: dict[str, TickSize] = {
    t.label: t
    for t in (
        TickSize("0.1", 100_000, 1, 2, 3),
        TickSize("0.01", 10_000, 2, 2, 4),
        TickSize("0.001", 1_000, 3, 2, 5),
        TickSize("0.0001", 100, 4, 2, 6),
        TickSize("0.005", 5_000, 3, 2, 5),
        TickSize("0.0025", 2_500, 4, 2, 6),
    )
}


@dataclass(frozen=True)
class OrderAmounts:
    """Signed amounts in base units: what the maker gives and what the maker wants."""

    maker_amount: int
    taker_amount: int


class AmountError(ValueError):
    """An order input that cannot be turned into valid venue amounts."""


def tick_size(label: str) -> TickSize:
    """Look up a tick size by its venue label (``"0.01"``, as in GET /tick-size)."""
    try:
        return TICK_SIZES[str(Decimal(str(label)).normalize())]
    except (KeyError, InvalidOperation):
        raise AmountError(f"tick_size {label!r} is not one of {', '.join(TICK_SIZES)}") from None


def format_micros(micros: int, decimals: int = 6) -> str:
    """Render integer micro-units as a fixed-point string with exactly ``decimals`` places."""
    if decimals > 6 or micros % 10 ** (6 - decimals):
        raise AmountError(f"{micros} micro-units cannot be written with {decimals} decimals")
    return f"{Decimal(micros).scaleb(-6):.{decimals}f}"


def _floor_to(micros: int, decimals: int) -> int:
    step = 10 ** (6 - decimals)
    return micros - micros % step


def _round_amount(numerator: int, denominator: int, tick: TickSize) -> int:
    """Base units of the whole-unit value ``numerator / denominator`` under the SDK's
    up-at-(a+4)-then-down-to-a rule (a = ``amount_decimals``).

    When the value has at most ``a`` decimals both steps are exact, so the SDK's
    "only if it has too many decimals" guard needs no separate branch.
    """
    a = tick.amount_decimals
    up = -(-numerator * 10 ** (a + 4) // denominator)
    return (up // 10**4) * 10 ** (6 - a)


def validate_limit_price(price_micros: int, tick: TickSize) -> None:
    """Reject a limit price outside ``tick <= p <= 1 - tick`` or off the tick grid."""
    if not tick.tick_micros <= price_micros <= MICROS - tick.tick_micros:
        raise AmountError(
            f"price {format_micros(price_micros)} outside [{tick.label}, "
            f"{format_micros(MICROS - tick.tick_micros)}] for tick size {tick.label}"
        )
    if price_micros % tick.tick_micros:
        raise AmountError(
            f"price {format_micros(price_micros)} is not on the {tick.label} tick grid"
        )


def _positive_floored(micros: int, tick: TickSize, field: str) -> int:
    floored = _floor_to(micros, tick.size_decimals)
    if floored <= 0:
        raise AmountError(
            f"{field} {format_micros(micros)} is below the minimum "
            f"{format_micros(10 ** (6 - tick.size_decimals))} after flooring"
        )
    return floored


def limit_order_amounts(
    side: Side, price_micros: int, size_micros: int, tick: TickSize
) -> OrderAmounts:
    """Amounts for a limit order of ``size_micros`` shares at ``price_micros`` per share."""
    validate_limit_price(price_micros, tick)
    shares = _positive_floored(size_micros, tick, "size")
    collateral = _round_amount(shares * price_micros, MICROS * MICROS, tick)
    if side is Side.BUY:
        return OrderAmounts(maker_amount=collateral, taker_amount=shares)
    return OrderAmounts(maker_amount=shares, taker_amount=collateral)


def market_order_price(price_micros: int, tick: TickSize) -> int:
    """The worst acceptable price of a market order, rounded DOWN to the tick's decimals (V2)."""
    price = _floor_to(price_micros, tick.price_decimals)
    if not tick.tick_micros <= price <= MICROS - tick.tick_micros:
        raise AmountError(
            f"market price {format_micros(price_micros)} outside [{tick.label}, "
            f"{format_micros(MICROS - tick.tick_micros)}] for tick size {tick.label}"
        )
    return price


def market_order_amounts(
    side: Side, price_micros: int, amount_micros: int, tick: TickSize
) -> OrderAmounts:
    """Amounts for a FOK/FAK order: BUY spends ``amount`` micro-dollars, SELL sells ``amount`` shares."""
    price = market_order_price(price_micros, tick)
    maker = _positive_floored(amount_micros, tick, "amount")
    if side is Side.BUY:
        return OrderAmounts(maker_amount=maker, taker_amount=_round_amount(maker, price, tick))
    return OrderAmounts(
        maker_amount=maker, taker_amount=_round_amount(maker * price, MICROS * MICROS, tick)
    )
