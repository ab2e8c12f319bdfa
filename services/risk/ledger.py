"""What the tenant holds and what its open sagas may still add.

Held positions and their cost come from fills (counted once per trade id). An approved
saga reserves its quantity on each leg until it closes; its own fills turn reservation into
position, so a saga in flight is counted once, never twice and never zero times. Every
total is kept incrementally so a gate check costs O(legs), not O(markets + sagas).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, notional

Key = tuple[Venue, str, Outcome]  # (venue, market id, outcome)


@dataclass(frozen=True, slots=True)
class LegIntent:
    venue: Venue
    market_id: str
    outcome: Outcome
    qty: int  # micro-contracts
    price: int  # limit, micro-dollars per contract
    # Worst cash per contract the leg may take from the venue, fees included; 0: the limit.
    unit_cost: int = 0
    key: Key = field(init=False, repr=False, compare=False)  # built once: the gates reuse it

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.venue, self.market_id, self.outcome))
        object.__setattr__(self, "unit_cost", max(self.unit_cost, self.price))


@dataclass(slots=True)
class _Reservation:
    pair_id: str
    remaining: dict[Key, int]  # reserved micro-contracts not yet filled
    prices: dict[Key, int]
    unit_costs: dict[Key, int]  # worst cash per contract, fees included


class Ledger:
    def __init__(self) -> None:
        self._held: dict[Key, int] = defaultdict(int)
        self._cost: dict[Key, int] = defaultdict(int)
        self._reserved: dict[Key, int] = defaultdict(int)
        self._reserved_funds: dict[Venue, int] = defaultdict(int)
        self._sagas: dict[str, _Reservation] = {}
        self._pairs: dict[str, str] = {}  # pair id -> saga id
        self._trades: set[str] = set()
        self._saga_held: dict[str, dict[Key, int]] = {}  # open sagas' own fills, by key
        self.total_held = 0  # sum of |position|
        self.total_reserved = 0
        self.held_cost = 0
        self.reserved_cost = 0

    # -- reads -----------------------------------------------------------------------
    def held(self, key: Key) -> int:
        return self._held.get(key, 0)

    def committed(self, key: Key) -> int:
        return abs(self._held.get(key, 0)) + self._reserved.get(key, 0)

    @property
    def committed_total(self) -> int:
        return self.total_held + self.total_reserved

    def reserved_funds(self, venue: Venue) -> int:
        """Cash the open sagas' unfilled legs on `venue` may still take, at worst cost."""
        return self._reserved_funds.get(venue, 0)

    @property
    def at_risk(self) -> int:
        """Capital at risk: cost of what is held plus the worst case of what is reserved."""
        return self.held_cost + self.reserved_cost

    @property
    def open_sagas(self) -> int:
        return len(self._sagas)

    def saga_open(self, saga_id: str) -> bool:
        return saga_id in self._sagas

    def saga_on_pair(self, pair_id: str) -> str | None:
        return self._pairs.get(pair_id)

    def expected_price(self, saga_id: str, key: Key) -> int:
        """The limit the saga was approved at on this market; 0 when unknown."""
        reservation = self._sagas.get(saga_id)
        return reservation.prices.get(key, 0) if reservation else 0

    def saga_legs(self, saga_id: str) -> tuple[Key, ...]:
        """The keys an approved saga reserved, YES-event leg first; () when not approved."""
        reservation = self._sagas.get(saga_id)
        return tuple(reservation.prices) if reservation else ()

    def saga_held(self, saga_id: str) -> dict[Key, int]:
        """What one saga's own fills bought, by key (counted once per trade id)."""
        return dict(self._saga_held.get(saga_id, {}))

    def positions(self) -> dict[Key, int]:
        return {k: v for k, v in self._held.items() if v}

    def costs(self) -> dict[Key, int]:
        """What each held position cost, fees included."""
        return {k: self._cost.get(k, 0) for k, v in self._held.items() if v}

    # -- writes ----------------------------------------------------------------------
    def reserve(self, saga_id: str, pair_id: str, legs: tuple[LegIntent, ...], qty: int) -> None:
        reservation = _Reservation(pair_id, {}, {}, {})
        for leg in legs:
            reservation.remaining[leg.key] = qty
            reservation.prices[leg.key] = leg.price
            reservation.unit_costs[leg.key] = leg.unit_cost
            self._reserve_delta(reservation, leg.key, 0, qty)
        self._sagas[saga_id] = reservation
        self._pairs[pair_id] = saga_id

    def release(self, saga_id: str) -> None:
        self._saga_held.pop(saga_id, None)
        reservation = self._sagas.pop(saga_id, None)
        if reservation is None:
            return
        if self._pairs.get(reservation.pair_id) == saga_id:
            del self._pairs[reservation.pair_id]
        for key, left in reservation.remaining.items():
            self._reserve_delta(reservation, key, left, 0)

    def fill(self, trade_id: str, saga_id: str, key: Key, qty: int, price: int,
             open_saga: bool = True) -> bool:
        """Count a fill once (by trade id); returns False for a repeat. `open_saga`: the
        saga has not closed, so its own fills are kept for its compensation checks."""
        if trade_id in self._trades:
            return False
        self._trades.add(trade_id)
        if saga_id and open_saga:
            held = self._saga_held.setdefault(saga_id, {})
            held[key] = held.get(key, 0) + qty
        before = self._held[key]
        after = before + qty
        if qty > 0:
            added = notional(price, qty)
        else:  # selling releases cost pro rata (what stays keeps its average price)
            sold = min(-qty, max(before, 0))
            added = -(self._cost[key] * sold // before) if sold else 0
        if after <= 0:
            added = -self._cost[key]
        self._cost[key] += added
        self.held_cost += added
        self._held[key] = after
        self.total_held += abs(after) - abs(before)
        reservation = self._sagas.get(saga_id)
        if qty > 0 and reservation is not None and key in reservation.remaining:
            left = reservation.remaining[key]
            now_left = max(0, left - qty)
            reservation.remaining[key] = now_left
            self._reserve_delta(reservation, key, left, now_left)
        return True

    def seed(self, venue: Venue, truth: dict[tuple[str, Outcome], int],
             netted: bool = False) -> list[tuple[Key, int, int]]:
        """Make the venue's positions the held ones (restart reconciliation): returns each
        (key, held before, venue) that disagreed. Where the venue nets YES against NO, a
        market disagrees only if its net does (the pairs the log held became cash). Cost
        follows the change conservatively: a smaller position keeps its average price,
        contracts we did not know of are costed at $1, the most a binary contract costs."""
        keys = {k for k in self._held if k[0] == venue} | {(venue, m, o) for m, o in truth}
        log = {(m, o): self._held.get((venue, m, o), 0) for _, m, o in keys}
        changed = []
        for key in sorted(keys):
            before, after = log[key[1:]], truth.get(key[1:], 0)
            if before == after:
                continue
            if not netted or _net(log, key[1]) != _net(truth, key[1]):
                changed.append((key, before, after))
            if after <= 0:
                cost = 0
            elif after < before:
                cost = self._cost[key] * after // before
            elif before > 0:
                cost = self._cost[key] + notional(ONE_DOLLAR, after - before)
            else:
                cost = notional(ONE_DOLLAR, after)
            self.held_cost += cost - self._cost[key]
            self._cost[key] = cost
            self._held[key] = after
            self.total_held += abs(after) - abs(before)
        return changed

    def _reserve_delta(self, reservation: _Reservation, key: Key, before: int,
                       after: int) -> None:
        price, unit_cost = reservation.prices[key], reservation.unit_costs[key]
        self._reserved[key] += after - before
        self.total_reserved += after - before
        self.reserved_cost += notional(price, after) - notional(price, before)
        self._reserved_funds[key[0]] += notional(unit_cost, after) - notional(unit_cost, before)


def _net(held: dict[tuple[str, Outcome], int], market_id: str) -> int:
    return held.get((market_id, Outcome.YES), 0) - held.get((market_id, Outcome.NO), 0)
