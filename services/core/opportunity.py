"""Cross-venue opportunity detection and scoring for one market pair.

Two directions are checked on every evaluation: YES on A + its complement on B, and NO on
A + its complement on B. A cheap top-of-book test with fee lower bounds runs first (the
per-tick path); only when it passes do the ladders get walked by `size_opportunity`.

The evaluator reads books through `Quotes`, which the detector's live `L2Book`s satisfy:
the per-tick test reads two best prices off the tick arrays and copies nothing; only a
positive edge pays for the ladders, `depth_levels` deep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, MarketPair, Outcome
from arbiter.core.sizing import Sizing, size_opportunity
from arbiter.core.units import ONE_DOLLAR

Levels = Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Leg:
    market: Market
    outcome: Outcome
    limit_price: int  # worst price walked, in the outcome's own terms
    qty: int
    cost: int  # notional + fee, micro-dollars


@dataclass(frozen=True, slots=True)
class Opportunity:
    opportunity_id: str
    pair_id: str
    first: Leg  # buys the event's YES (in A's terms)
    second: Leg  # buys the event's NO (in A's terms)
    qty: int
    profit: int  # expected, after fees, micro-dollars
    edge_per_contract: int  # best-level edge after fee lower bounds
    created: int
    expires: int

    def is_live(self, now: int) -> bool:
        return now < self.expires


class Quotes(Protocol):
    """What the evaluator reads of one market's YES book (`L2Book` is one)."""

    def best_bid_price(self) -> int | None: ...

    def best_ask_price(self) -> int | None: ...

    def depth(self, levels: int) -> tuple[Levels, Levels]: ...


@dataclass(frozen=True, slots=True)
class BookTop:
    """A fixed view of one market: best-first bids and asks (`Quotes` for tests, benches
    and the empty book a stale market reads as)."""

    bids: Levels
    asks: Levels

    def best_bid_price(self) -> int | None:
        return self.bids[0][0] if self.bids else None

    def best_ask_price(self) -> int | None:
        return self.asks[0][0] if self.asks else None

    def depth(self, levels: int) -> tuple[Levels, Levels]:
        return self.bids[:levels], self.asks[:levels]


EMPTY = BookTop((), ())


def buy_ladder(quotes: Quotes, outcome: Outcome, levels: int) -> list[tuple[int, int]]:
    """Up to `levels` levels to buy `outcome`, cheapest first: YES lifts asks, NO hits YES
    bids at 1 - p."""
    bids, asks = quotes.depth(levels)
    if outcome is Outcome.YES:
        return list(asks)
    return [(ONE_DOLLAR - price, qty) for price, qty in bids]


@dataclass(slots=True)
class PairEvaluator:
    """Finds and sizes the best opportunity on one pair; deterministic ids per pair."""

    pair: MarketPair
    fee_a: FeeModel
    fee_b: FeeModel
    max_qty: int
    min_profit: int
    ttl_micros: int
    depth_levels: int  # how deep a ladder is sized: the detector's configured depth
    _count: int = 0
    _directions: tuple[tuple[Outcome, Outcome], ...] = ()
    last_edge: int = -ONE_DOLLAR  # best-level edge seen by the latest `evaluate`

    def __post_init__(self) -> None:
        # (outcome on A, outcome on B) that together pay exactly $1 whatever happens.
        pairs_with: Callable[[Outcome], Outcome] = (
            (lambda o: o) if self.pair.b_inverted else (lambda o: o.other))
        self._directions = tuple((o, pairs_with(o)) for o in (Outcome.YES, Outcome.NO))

    def _edges(self, a: Quotes, b: Quotes) -> list[tuple[int, Outcome, Outcome]]:
        """Best-level edge per contract of each direction, with fee lower bounds."""
        edges = []
        for out_a, out_b in self._directions:
            la, lb = buy_ladder_top(a, out_a), buy_ladder_top(b, out_b)
            if la is None or lb is None:
                continue
            edge = (ONE_DOLLAR - la - lb - self.fee_a.floor_per_contract(la)
                    - self.fee_b.floor_per_contract(lb))
            edges.append((edge, out_a, out_b))
        return edges

    def quick_edge(self, a: Quotes, b: Quotes) -> int:
        """Best-level edge per contract in micro-dollars with fee lower bounds (may be < 0)."""
        return max((edge for edge, _, _ in self._edges(a, b)), default=-ONE_DOLLAR)

    def evaluate(self, a: Quotes, b: Quotes, now: int) -> Opportunity | None:
        """The most profitable sized opportunity across both directions, if any.

        Only directions with a positive best-level edge are sized: deeper levels cost more
        and fees only round up, so no size can pay where the top of book does not.
        """
        best: tuple[Sizing, Outcome, Outcome] | None = None
        top_edge = -ONE_DOLLAR
        for edge, out_a, out_b in self._edges(a, b):
            top_edge = max(top_edge, edge)
            if edge <= 0:
                continue
            sizing = size_opportunity(
                buy_ladder(a, out_a, self.depth_levels), self.fee_a,
                buy_ladder(b, out_b, self.depth_levels), self.fee_b,
                self.pair.lot_micros, self.max_qty,
            )
            if sizing and (best is None or sizing.profit > best[0].profit):
                best = (sizing, out_a, out_b)
        self.last_edge = top_edge
        if best is None or best[0].profit < self.min_profit:
            return None
        sizing, out_a, out_b = best
        leg_a = Leg(self.pair.a, out_a, sizing.leg1.worst_price, sizing.qty,
                    sizing.leg1.cost + sizing.leg1.fee)
        leg_b = Leg(self.pair.b, out_b, sizing.leg2.worst_price, sizing.qty,
                    sizing.leg2.cost + sizing.leg2.fee)
        first, second = (leg_a, leg_b) if out_a is Outcome.YES else (leg_b, leg_a)
        self._count += 1
        return Opportunity(
            opportunity_id=f"{self.pair.pair_id}-{self._count}",
            pair_id=self.pair.pair_id,
            first=first,
            second=second,
            qty=sizing.qty,
            profit=sizing.profit,
            edge_per_contract=top_edge,
            created=now,
            expires=now + self.ttl_micros,
        )


def buy_ladder_top(quotes: Quotes, outcome: Outcome) -> int | None:
    """Best price to buy `outcome`, without building the ladder."""
    if outcome is Outcome.YES:
        return quotes.best_ask_price()
    bid = quotes.best_bid_price()
    return None if bid is None else ONE_DOLLAR - bid
