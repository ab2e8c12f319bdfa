"""Venues, markets and market pairs.

Every market is normalised to one YES-referenced book: buying NO at q is selling YES at
1 - q (that is literally Kalshi's V2 order model, and Polymarket's matching engine mirrors
the two outcome tokens). A pair maps the same real-world event on two markets, on two venues
or on one; when market B lists the complement (B's YES is A's NO) the pair says so with
`b_inverted`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import TypeAlias

Venue: TypeAlias = str
"""A venue's slug ("polymarket", "kalshi", ...): the name it is registered under in the
venue registry and the value carried on the wire, in bus keys, metric labels and service
names. The core knows no venue; what a venue is lives in its own package."""


class Outcome(enum.IntEnum):
    """Values match `arbiter.v1.Outcome`."""

    YES = 1
    NO = 2

    @property
    def other(self) -> Outcome:
        return Outcome.NO if self is Outcome.YES else Outcome.YES


@dataclass(frozen=True, slots=True)
class Market:
    """One binary market on one venue, with its price grid and size granularity."""

    venue: Venue
    market_id: str
    tick_micros: int = 10_000
    lot_micros: int = 1_000_000
    yes_token: str = ""
    no_token: str = ""

    def __post_init__(self) -> None:
        if self.tick_micros <= 0 or 1_000_000 % self.tick_micros:
            raise ValueError(
                f"market {self.key}: tick_micros={self.tick_micros} must divide 1_000_000"
            )
        if self.lot_micros <= 0:
            raise ValueError(f"market {self.key}: lot_micros={self.lot_micros} must be > 0")

    @property
    def key(self) -> str:
        """Bus key: one instrument's events stay ordered under it."""
        return f"{self.venue}:{self.market_id}"


@dataclass(frozen=True, slots=True)
class MarketPair:
    """The same event on two markets (any venues). If `b_inverted`, B's YES pays when A's NO does."""

    pair_id: str
    a: Market
    b: Market
    b_inverted: bool = False

    def __post_init__(self) -> None:
        if self.a.key == self.b.key:
            raise ValueError(f"pair {self.pair_id}: both legs are the market {self.a.key}")

    @property
    def lot_micros(self) -> int:
        """Smallest size both venues accept: the least common multiple of their lots."""
        return math.lcm(self.a.lot_micros, self.b.lot_micros)
