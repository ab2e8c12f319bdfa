"""Depth-aware sizing of a two-leg YES + NO purchase.

Each leg is a ladder of (price, qty) levels to *buy* one outcome, cheapest first. Buying q
contracts of both outcomes pays q dollars at resolution, so

    profit(q) = q - cost_1(q) - cost_2(q) - fee_1(q) - fee_2(q)

Before fee rounding this is concave in q (price + marginal fee rises along each ladder), so
walking both ladders and stopping where the marginal unit no longer pays finds the raw
optimum. Fee rounding (once per order, upwards) can make a slightly smaller or larger q
better, so the search then steps lot by lot on both sides of the raw optimum while the raw
profit there could still beat the best rounded profit found — exact, and short in practice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from arbiter.core.fees import FeeModel
from arbiter.core.units import QTY_SCALE, notional

Ladder = Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class LegFill:
    """What one leg buys at the chosen size."""

    qty: int
    cost: int  # notional, micro-dollars
    fee: int
    worst_price: int
    fills: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Sizing:
    qty: int
    profit: int
    leg1: LegFill
    leg2: LegFill


def take(ladder: Ladder, qty: int) -> list[tuple[int, int]]:
    """The fills of a marketable buy of `qty` against `ladder`, cheapest level first."""
    fills: list[tuple[int, int]] = []
    left = qty
    for price, size in ladder:
        if left <= 0:
            break
        part = min(left, size)
        fills.append((price, part))
        left -= part
    if left > 0:
        raise ValueError(f"ladder depth is short of {qty} by {left}")
    return fills


def leg_fill(ladder: Ladder, fee_model: FeeModel, qty: int) -> LegFill:
    fills = take(ladder, qty)
    return LegFill(
        qty=qty,
        cost=sum(notional(p, q) for p, q in fills),
        fee=fee_model.fee(fills),
        worst_price=fills[-1][0] if fills else 0,
        fills=tuple(fills),
    )


def rounded_profit(
    ladder1: Ladder, fee1: FeeModel, ladder2: Ladder, fee2: FeeModel, qty: int
) -> int:
    """Profit in micro-dollars of buying `qty` on both ladders, fees rounded per order."""
    l1, l2 = leg_fill(ladder1, fee1, qty), leg_fill(ladder2, fee2, qty)
    return qty - l1.cost - l1.fee - l2.cost - l2.fee


def _raw_profit_scaled(
    ladder1: Ladder, fee1: FeeModel, ladder2: Ladder, fee2: FeeModel, qty: int
) -> int:
    """Profit before any rounding (notional or fee), exact, times `_scale(fee1, fee2)`.

    It is concave in qty and never below the rounded profit, which the search relies on.
    """
    d1, d2 = fee1.denominator, fee2.denominator
    scaled = qty * d1 * d2 * QTY_SCALE
    for ladder, fee, other in ((ladder1, fee1, d2), (ladder2, fee2, d1)):
        for price, part in take(ladder, qty):
            scaled -= price * part * d1 * d2 + fee.scaled_fee(price, part) * other * QTY_SCALE
    return scaled


def _scale(fee1: FeeModel, fee2: FeeModel) -> int:
    return fee1.denominator * fee2.denominator * QTY_SCALE


def _raw_optimum(ladder1: Ladder, fee1: FeeModel, ladder2: Ladder, fee2: FeeModel, cap: int) -> int:
    """Walk both ladders while the marginal contract still pays; return the depth reached."""
    d1, d2 = fee1.denominator, fee2.denominator
    i = j = 0
    used1 = used2 = 0  # quantity consumed at the current level of each ladder
    qty = 0
    while qty < cap and i < len(ladder1) and j < len(ladder2):
        p1, s1 = ladder1[i]
        p2, s2 = ladder2[j]
        marginal = ((QTY_SCALE - p1 - p2) * d1 * d2 - fee1.scaled_fee(p1, QTY_SCALE) * d2
                    - fee2.scaled_fee(p2, QTY_SCALE) * d1)
        if marginal <= 0:
            break
        step = min(s1 - used1, s2 - used2, cap - qty)
        qty += step
        used1 += step
        used2 += step
        if used1 == s1:
            i, used1 = i + 1, 0
        if used2 == s2:
            j, used2 = j + 1, 0
    return qty


def size_opportunity(
    ladder1: Ladder,
    fee1: FeeModel,
    ladder2: Ladder,
    fee2: FeeModel,
    lot: int,
    max_qty: int,
) -> Sizing | None:
    """The lot-multiple size with the highest rounded profit, or None if nothing pays."""
    depth = min(sum(q for _, q in ladder1), sum(q for _, q in ladder2), max_qty)
    max_lots = depth // lot
    if max_lots == 0:
        return None
    raw_best = _raw_optimum(ladder1, fee1, ladder2, fee2, max_lots * lot)
    start = max(1, raw_best // lot)

    scale = _scale(fee1, fee2)

    def raw_scaled(n: int) -> int:
        return _raw_profit_scaled(ladder1, fee1, ladder2, fee2, n * lot)

    best_lots, best = 0, 0
    # Raw profit is concave in lots and >= rounded profit, so on each side of the raw
    # optimum we may stop as soon as raw profit can no longer beat the best found.
    for direction in (-1, 1):
        n = start if direction == -1 else start + 1
        while 1 <= n <= max_lots and raw_scaled(n) > best * scale:
            profit = rounded_profit(ladder1, fee1, ladder2, fee2, n * lot)
            if profit > best:
                best_lots, best = n, profit
            n += direction
    if best_lots == 0:
        return None
    qty = best_lots * lot
    return Sizing(qty, best, leg_fill(ladder1, fee1, qty), leg_fill(ladder2, fee2, qty))
