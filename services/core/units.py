"""Integer money units used on every decision path.

Prices are micro-dollars per contract (0..1_000_000 = $0..$1), quantities micro-contracts,
amounts micro-dollars. One scale for both venues keeps Polymarket's 6-decimal token amounts
and Kalshi's sub-cent ticks / fractional counts exact; `Decimal` appears only at boundaries.
"""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

PRICE_SCALE = 1_000_000
QTY_SCALE = 1_000_000
ONE_DOLLAR = PRICE_SCALE
CENT = PRICE_SCALE // 100

_PRICE_Q = Decimal(PRICE_SCALE)
# Enough digits that scaling by 1e6 never rounds, so the exactness checks below are honest.
_EXACT = Context(prec=100, Emax=100, Emin=-100)
_MAX_TEXT = 40  # longer than any amount a venue sends; bounds the work a bad message costs


def _scaled(value: Decimal | str, what: str) -> int:
    """`value` x 1e6 as an int; ValueError naming `what` for anything not a finite number
    with at most 6 decimals."""
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{what} {value!r} is not a finite number")
    if number and not -30 <= number.adjusted() <= 30:
        raise ValueError(f"{what} {value!r} is out of range")
    micros = _EXACT.multiply(number, _PRICE_Q)
    if micros != micros.to_integral_value():
        raise ValueError(f"{what} {value} has more than 6 decimal places")
    return int(micros)


def parse_micros(text: str, field: str = "value") -> int:
    """A venue's decimal string (``"0.53"``, ``"12.5"``) as integer micro-units, for any sign.

    The wire boundary's one parser: anything but a finite decimal with at most 6 places (a
    bare exponent like ``"1e999999"`` included) raises `ValueError` naming the field, so a
    malformed venue message is rejected by type, never half-applied."""
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise ValueError(f"{field} {text!r:.40} is not a decimal string")
    return _scaled(text, field)


def parse_amount(text: str, field: str = "value") -> int:
    """`parse_micros` for what cannot be negative: a size, a balance, a matched amount."""
    micros = parse_micros(text, field)
    if micros < 0:
        raise ValueError(f"{field} {text!r:.40} is negative")
    return micros


def price_from_decimal(value: Decimal | str) -> int:
    """Convert a dollar price to micro-dollars; reject values that are not exact or in [0, 1]."""
    result = _scaled(value, "price")
    if not 0 <= result <= ONE_DOLLAR:
        raise ValueError(f"price {value} is outside [0, 1]")
    return result


def qty_from_decimal(value: Decimal | str) -> int:
    """Convert a contract count to micro-contracts; reject inexact or negative values."""
    micros = _scaled(value, "quantity")
    if micros < 0:
        raise ValueError(f"quantity {value} is negative")
    return micros


def money_from_decimal(value: Decimal | str) -> int:
    """Convert a dollar amount (any sign) to micro-dollars; reject sub-micro precision."""
    return _scaled(value, "amount")


def to_decimal(micros: int) -> Decimal:
    """Micro-units to a `Decimal` in whole units, for display and wire formats."""
    return Decimal(micros).scaleb(-6)


def notional(price_micros: int, qty_micros: int) -> int:
    """Cost in micro-dollars of `qty` contracts at `price`, rounded up to the micro-dollar."""
    return -((-price_micros * qty_micros) // QTY_SCALE)


def ceil_to(value: int, step: int) -> int:
    """Round a non-negative integer up to a multiple of `step`."""
    return -(-value // step) * step
