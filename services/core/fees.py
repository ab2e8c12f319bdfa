"""Exact venue fee models.

All fee formulas are of the form `coefficient * C * (P * (1 - P)) ** exponent`, summed
over an order's fills and then rounded *up* to the venue's precision once per order:

* Kalshi taker `ceil(0.07 * C * P * (1 - P))` to the cent; maker (on series that charge
  it) 0.0175 instead of 0.07. Summing fills before rounding matches Kalshi's per-order
  rounding accumulator, which converges to the fee of one equivalent fill.
* Polymarket V2: `C * rate * (P * (1 - P)) ** exponent` with the market's `fd.r` / `fd.e`,
  taker-only, rounded up to $0.0001 here (the venue's exact precision is unconfirmed, so the
  model errs on the side of overstating the fee).

Raw (unrounded) fees are `Fraction`s of a micro-dollar so that sums stay exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from arbiter.core.units import CENT, ONE_DOLLAR, QTY_SCALE

_ONE = ONE_DOLLAR


@dataclass(frozen=True)
class FeeModel:
    """A quadratic fee with one rounding step per order.

    Internally a raw fee is the integer `scaled_fee(p, q)` over the model's constant
    `denominator` (exact, and far cheaper than `Fraction` arithmetic on the hot path).
    """

    name: str
    coefficient: Fraction
    exponent: int = 1
    rounding_micros: int = CENT
    _floors: dict[int, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def denominator(self) -> int:
        scale: int = (_ONE * _ONE) ** self.exponent  # int ** int is typed Any (could be float)
        return self.coefficient.denominator * scale

    def scaled_fee(self, price: int, qty: int) -> int:
        """Raw fee x `denominator`, in micro-dollars, for `qty` micro-contracts at `price`."""
        power: int = (price * (_ONE - price)) ** self.exponent  # exponent >= 1: an int
        return self.coefficient.numerator * qty * power

    def raw_fee(self, price: int, qty: int) -> Fraction:
        """Unrounded fee in micro-dollars for `qty` micro-contracts at `price` micro-dollars."""
        return Fraction(self.scaled_fee(price, qty), self.denominator)

    def round_scaled(self, scaled_total: int) -> int:
        """Round a summed scaled fee up to the venue's precision, in micro-dollars."""
        return -(-scaled_total // (self.denominator * self.rounding_micros)) * self.rounding_micros

    def round(self, raw_total: Fraction) -> int:
        """Round a summed raw fee up to the venue's precision, in micro-dollars."""
        steps = -(-raw_total.numerator // (raw_total.denominator * self.rounding_micros))
        return int(steps) * self.rounding_micros

    def fee(self, fills: Iterable[tuple[int, int]]) -> int:
        """Fee in micro-dollars for one order's fills given as (price, qty)."""
        return self.round_scaled(sum(self.scaled_fee(p, q) for p, q in fills))

    def floor_per_contract(self, price: int) -> int:
        """Lower bound of the fee per whole contract at `price`, for cheap pre-filters."""
        floor = self._floors.get(price)
        if floor is None:
            floor = self._floors[price] = self.scaled_fee(price, QTY_SCALE) // self.denominator
        return floor


KALSHI_TAKER = FeeModel("kalshi-taker", Fraction(7, 100))
KALSHI_MAKER = FeeModel("kalshi-maker", Fraction(175, 10_000))
NO_FEE = FeeModel("none", Fraction(0), rounding_micros=1)


def polymarket_fee(rate: Fraction | Decimal | str | int, exponent: int = 1) -> FeeModel:
    """Polymarket V2 taker fee for a market's `fd` = {r: rate, e: exponent}.

    A float rate is refused: JSON decoders hand `fd.r` over as a binary float, and 0.04 as a
    float is not 4/100; pass the decimal text instead.
    """
    if isinstance(rate, float) or isinstance(exponent, float):
        raise TypeError(f"polymarket fee rate/exponent must be exact, not float ({rate!r}, {exponent!r})")
    if not isinstance(exponent, int):
        raise TypeError(f"polymarket fee exponent {exponent!r} must be an integer")
    coefficient = Fraction(rate)
    if coefficient < 0 or coefficient > 1:
        raise ValueError(f"polymarket fee rate {rate} must be within [0, 1]")
    if exponent < 1:
        raise ValueError(f"polymarket fee exponent {exponent} must be >= 1")
    return FeeModel(f"polymarket-{rate}-e{exponent}", coefficient, exponent, rounding_micros=100)
