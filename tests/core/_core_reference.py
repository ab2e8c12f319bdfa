"""Independent reference implementations used by the core tests.

Nothing here imports the code under test's arithmetic: fees, notionals and profits are
recomputed from first principles with `Fraction`, so a test that compares against these
can actually fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

MICRO = 1_000_000


@dataclass(frozen=True)
class FeeSpec:
    """A venue fee written down independently: coef * C * (P(1-P))^e dollars, rounded up."""

    coefficient: Fraction
    exponent: int
    rounding_micros: int

    def exact_micros(self, fills) -> Fraction:
        total = Fraction(0)
        for price, qty in fills:
            p = Fraction(price, MICRO)
            c = Fraction(qty, MICRO)
            total += self.coefficient * c * (p * (1 - p)) ** self.exponent
        return total * MICRO

    def fee(self, fills) -> int:
        exact = self.exact_micros(fills)
        return math.ceil(exact / self.rounding_micros) * self.rounding_micros


KALSHI_TAKER_SPEC = FeeSpec(Fraction("0.07"), 1, 10_000)
KALSHI_MAKER_SPEC = FeeSpec(Fraction("0.0175"), 1, 10_000)
NO_FEE_SPEC = FeeSpec(Fraction(0), 1, 1)


def poly_spec(rate: str, exponent: int) -> FeeSpec:
    return FeeSpec(Fraction(rate), exponent, 100)


def walk(ladder, qty: int) -> list[tuple[int, int]] | None:
    """Fills of buying `qty` against a cheapest-first ladder; None if too shallow."""
    fills = []
    left = qty
    for price, size in ladder:
        if left == 0:
            break
        part = min(size, left)
        if part:
            fills.append((price, part))
        left -= part
    return None if left else fills


def cost_micros(fills) -> int:
    """Notional per fill, rounded up to the micro-dollar (never understates cost)."""
    return sum(math.ceil(Fraction(price * qty, MICRO)) for price, qty in fills)


def profit(ladder1, spec1: FeeSpec, ladder2, spec2: FeeSpec, qty: int) -> int:
    f1, f2 = walk(ladder1, qty), walk(ladder2, qty)
    assert f1 is not None and f2 is not None
    return qty - cost_micros(f1) - spec1.fee(f1) - cost_micros(f2) - spec2.fee(f2)


def brute_force_best(ladder1, spec1, ladder2, spec2, lot: int, max_qty: int):
    """(best profit, [all qtys achieving it]) over every lot multiple; profit 0 if none pays."""
    depth = min(sum(q for _, q in ladder1), sum(q for _, q in ladder2), max_qty)
    best, argbest = 0, []
    for n in range(1, depth // lot + 1):
        p = profit(ladder1, spec1, ladder2, spec2, n * lot)
        if p > best:
            best, argbest = p, [n * lot]
        elif p == best and p > 0:
            argbest.append(n * lot)
    return best, argbest
