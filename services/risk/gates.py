"""The pre-trade gate chain, pure and synchronous.

Gates run in a fixed order and the first that objects names itself and its reason. The
chain owns the state the gates read (positions from fills, sagas in flight, the HardStop
latch), so a check and the reservation it makes happen in one step: two sagas can never both
pass a limit that only one fits under.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from arbiter.core.instruments import Outcome


@dataclass(frozen=True, slots=True)
class LegIntent:
    venue: int
    market_id: str
    outcome: Outcome
    qty: int
    price: int


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    gate: str = ""
    reason: str = ""
    qty: int = 0


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_position_per_market: int  # micro-contracts, per outcome
    max_open_sagas: int


@dataclass(slots=True)
class RiskState:
    limits: RiskLimits
    positions: dict[tuple[int, str, Outcome], int] = field(default_factory=lambda: defaultdict(int))
    open_sagas: dict[str, str] = field(default_factory=dict)  # saga id -> pair id
    hard_stop: str = ""  # first trigger reason; empty when not latched
    _trades: set[str] = field(default_factory=set)

    def check(self, saga_id: str, pair_id: str, legs: tuple[LegIntent, ...]) -> Decision:
        """Run the gate chain; on approval reserve the saga slot atomically."""
        if self.hard_stop:
            return Decision(False, "hard_stop", f"HardStop latched: {self.hard_stop}")
        if saga_id in self.open_sagas:
            return Decision(False, "duplicate", f"saga {saga_id} already approved")
        if pair_id in self.open_sagas.values():
            return Decision(False, "pending_pair", f"a saga on pair {pair_id} is in flight")
        if len(self.open_sagas) >= self.limits.max_open_sagas:
            return Decision(
                False, "max_open_sagas",
                f"{len(self.open_sagas)} sagas open, limit {self.limits.max_open_sagas}",
            )
        qty = min(leg.qty for leg in legs)
        for leg in legs:
            held = self.positions[(leg.venue, leg.market_id, leg.outcome)]
            room = self.limits.max_position_per_market - held
            if room <= 0:
                return Decision(
                    False, "max_position_market",
                    f"{leg.market_id} {leg.outcome.name} holds {held}, limit "
                    f"{self.limits.max_position_per_market}",
                )
            qty = min(qty, room)
        self.open_sagas[saga_id] = pair_id
        return Decision(True, qty=qty)

    def record_fill(self, trade_id: str, venue: int, market_id: str, outcome: Outcome,
                    qty: int) -> bool:
        """Count a fill once (by trade id); returns False for a repeat."""
        if trade_id in self._trades:
            return False
        self._trades.add(trade_id)
        self.positions[(venue, market_id, outcome)] += qty
        return True

    def close_saga(self, saga_id: str) -> None:
        self.open_sagas.pop(saga_id, None)

    def latch(self, reason: str) -> None:
        """Latch HardStop; the first reason is kept until an explicit reset."""
        if not self.hard_stop:
            self.hard_stop = reason

    def reset(self) -> None:
        self.hard_stop = ""
