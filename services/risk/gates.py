"""The per-tenant pre-trade gate chain and HardStop, pure and synchronous.

Gates run in a fixed order and the first that objects names itself and its reason:
HardStop -> trading-ready -> max position per market -> max position total -> max exposure
-> pending saga on the pair (and the open-saga slots) -> order-rate budget. The sizing gates
shrink the quantity to what fits and reject only when nothing does.

One lock covers every public method, so a check, its budget spend and its reservation are
one step: callers on many threads or tasks can never both pass a limit only one fits under.
Every latch, reset, auto-clear, readiness and limit change goes to the audit log.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from arbiter.core.clock import Clock
from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import to_decimal
from arbiter.platform.config import RiskConfig
from arbiter.risk.audit import AuditAction, AuditLog, AuditRecord
from arbiter.risk.budget import TokenBucket
from arbiter.risk.latch import HardStopLatch, LatchView, Trigger, Trip
from arbiter.risk.ledger import Key, Ledger, LegIntent
from arbiter.risk.limits import RiskLimits
from arbiter.risk.monitors import Monitors, usd
from arbiter.risk.readiness import Aspect, Readiness
from arbiter.risk.tradingday import next_day_start, trading_day

__all__ = ["Decision", "Gate", "LegIntent", "RiskState", "SagaLegs", "check_compensation"]


class Gate(enum.StrEnum):
    DUPLICATE = "duplicate"
    HARD_STOP = "hard_stop"
    NOT_READY = "not_ready"
    MAX_POSITION_MARKET = "max_position_market"
    MAX_POSITION_TOTAL = "max_position_total"
    MAX_EXPOSURE = "max_exposure"
    PENDING_PAIR = "pending_pair"
    MAX_OPEN_SAGAS = "max_open_sagas"
    ORDER_RATE = "order_rate"
    # compensation (reduce-only) checks
    SAGA_MISMATCH = "saga_mismatch"
    NOT_SAGA_MARKET = "not_saga_market"
    INCREASES_EXPOSURE = "increases_exposure"


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    gate: str = ""
    reason: str = ""
    qty: int = 0


def _reject(gate: Gate, reason: str) -> Decision:
    return Decision(False, gate.value, reason)


def _contracts(micros: int) -> str:
    return format(to_decimal(micros).normalize(), "f")


def _name(key: Key) -> str:
    venue, market_id, outcome = key
    return f"{venue}:{market_id}:{Outcome(outcome).name}"


@dataclass(frozen=True, slots=True)
class SagaLegs:
    """A saga's two legs as approved: which market outcome pays on which side of the event.

    Any order on one of the two markets has an event side: the leg's own outcome pays on
    the leg's side, its complement on the other. That is what makes a leg-2 resend and an
    unwind of leg 1 comparable: both buy the side the saga is short of.
    """

    yes: Key  # pays if the event happens
    no: Key  # pays if it does not

    def event_side(self, key: Key) -> Outcome | None:
        """The event side buying `key` pays on; None off the saga's markets."""
        for leg, side in ((self.yes, Outcome.YES), (self.no, Outcome.NO)):
            if key[:2] == leg[:2]:
                return side if key[2] is leg[2] else side.other
        return None

    def net(self, held: Mapping[Key, int]) -> int:
        """YES-event units less NO-event units of what the saga bought."""
        total = 0
        for key, qty in held.items():
            side = self.event_side(key)
            total += qty if side is Outcome.YES else -qty if side is Outcome.NO else 0
        return total


def check_compensation(legs: SagaLegs, approved: tuple[Key, ...], held: Mapping[Key, int],
                       order: LegIntent) -> Decision:
    """May this compensation order go? Pure: of the saga's legs, the legs risk approved it
    with (() when risk no longer knows, as after a restart), the saga's own fills and the
    order. Approved only if it buys the saga's short event side for at most the unhedged
    quantity, so that even filled in full it cannot leave the saga more exposed than before.

    No limit, latch or budget applies: compensation exists to restore them and is never
    blocked by them, like a cancel.
    """
    if approved and set(approved) != {legs.yes, legs.no}:
        return _reject(Gate.SAGA_MISMATCH,
                       f"legs {_name(legs.yes)} / {_name(legs.no)} are not the legs risk "
                       f"approved: {' / '.join(_name(k) for k in approved)}")
    side = legs.event_side(order.key)
    if side is None:
        return _reject(Gate.NOT_SAGA_MARKET, f"{_name(order.key)} is on neither market of the "
                                             f"saga ({_name(legs.yes)}, {_name(legs.no)})")
    net = legs.net(held)
    if not net:
        return _reject(Gate.INCREASES_EXPOSURE, f"the saga is flat: buying "
                                                f"{_contracts(order.qty)} {_name(order.key)} "
                                                f"would open exposure")
    short = Outcome.NO if net > 0 else Outcome.YES
    if side is not short:
        return _reject(Gate.INCREASES_EXPOSURE,
                       f"buying {_name(order.key)} adds to the saga's long {side.name} side "
                       f"({_contracts(abs(net))} unhedged)")
    if order.qty > abs(net):
        return _reject(Gate.INCREASES_EXPOSURE,
                       f"{_contracts(order.qty)} {_name(order.key)} exceeds the "
                       f"{_contracts(abs(net))} unhedged: the excess would open "
                       f"{_contracts(order.qty - abs(net))} on the {side.name} side")
    return Decision(True, qty=order.qty)


class RiskState:
    def __init__(self, config: RiskConfig, clock: Clock, venues: Sequence[Venue],
                 audit: AuditLog | None = None) -> None:
        self._lock = threading.Lock()
        self.clock = clock
        self.config = config
        self.limits = RiskLimits.from_config(config)
        self.audit = audit or AuditLog()
        self.ledger = Ledger()
        self.venues = frozenset(venues)
        self.readiness = Readiness(tuple(venues))
        self.latch = HardStopLatch()
        self.monitors = Monitors()
        self._closed: set[str] = set()
        self._day_ends = 0  # when the current trading day ends; 0 = not yet known
        self._budget = TokenBucket(self.limits.orders_per_second, self.limits.order_burst,
                                   clock.now_micros())

    # -- the gate chain ----------------------------------------------------------------
    def check(self, saga_id: str, pair_id: str, legs: tuple[LegIntent, ...]) -> Decision:
        """Run the chain; on approval spend the budget and reserve the saga, atomically."""
        with self._lock:
            now = self._observe()
            if self.ledger.saga_open(saga_id):
                return _reject(Gate.DUPLICATE, f"saga {saga_id} is already approved")
            if self.latch.latched:
                return _reject(Gate.HARD_STOP, f"HardStop latched: {self.latch.reason}")
            if not self.readiness.ready:
                return _reject(Gate.NOT_READY,
                               f"not synced: {', '.join(self.readiness.missing())}")
            qty = min(leg.qty for leg in legs)
            for leg in legs:
                committed = self.ledger.committed(leg.key)
                room = self.limits.max_position_per_market - committed
                if room <= 0:
                    return _reject(Gate.MAX_POSITION_MARKET,
                                   f"{_name(leg.key)} has {_contracts(committed)} held or "
                                   f"reserved, limit "
                                   f"{_contracts(self.limits.max_position_per_market)}")
                qty = min(qty, room)
            total = self.ledger.committed_total
            qty = min(qty, (self.limits.max_position_total - total) // len(legs))
            if qty <= 0:
                return _reject(Gate.MAX_POSITION_TOTAL,
                               f"{_contracts(total)} contracts held or reserved leave no room "
                               f"for {len(legs)} legs under "
                               f"{_contracts(self.limits.max_position_total)}")
            qty = self._fit_exposure(legs, qty)
            if qty <= 0:
                return _reject(Gate.MAX_EXPOSURE,
                               f"{usd(self.ledger.at_risk)} at risk leaves no room under "
                               f"{usd(self.limits.max_exposure)} at a worst case of "
                               f"{usd(sum(leg.price for leg in legs))} per contract")
            pending = self.ledger.saga_on_pair(pair_id)
            if pending is not None:
                return _reject(Gate.PENDING_PAIR, f"saga {pending} on pair {pair_id} is in flight")
            if self.ledger.open_sagas >= self.limits.max_open_sagas:
                return _reject(Gate.MAX_OPEN_SAGAS,
                               f"{self.ledger.open_sagas} sagas open, limit "
                               f"{self.limits.max_open_sagas}")
            wait = self._budget.take(len(legs), now)
            if wait:
                return _reject(Gate.ORDER_RATE,
                               f"order budget of {self.limits.orders_per_second}/s "
                               f"(burst {self.limits.order_burst}) spent; {len(legs)} orders "
                               f"fit again in {-(-wait // 1000)} ms")
            self.ledger.reserve(saga_id, pair_id, legs, qty)
            return Decision(True, qty=qty)

    def _fit_exposure(self, legs: tuple[LegIntent, ...], qty: int) -> int:
        """Largest qty <= `qty` whose worst-case cost (sum of per-leg notionals, each
        rounded up) fits the exposure room; conservative by < 1 micro-dollar per extra leg."""
        room = self.limits.max_exposure - self.ledger.at_risk - (len(legs) - 1)
        per_contract = sum(leg.price for leg in legs)
        if room <= 0:
            return 0
        return min(qty, room * 1_000_000 // per_contract) if per_contract else qty

    def check_compensation(self, saga_id: str, legs: SagaLegs, order: LegIntent) -> Decision:
        """A saga's hedge, retry, chase or unwind order, against what risk itself counted of
        the saga's fills (see `check_compensation`)."""
        with self._lock:
            self._observe()
            return check_compensation(legs, self.ledger.saga_legs(saga_id),
                                      self.ledger.saga_held(saga_id), order)

    # -- events --------------------------------------------------------------------------
    def record_fill(self, trade_id: str, venue: Venue, market_id: str, outcome: Outcome,
                    qty: int, price: int, saga_id: str = "", expected_price: int = 0) -> bool:
        """Count a fill once (by trade id) and watch its slippage; False for a repeat."""
        with self._lock:
            now = self._observe()
            key = (venue, market_id, outcome)
            expected = expected_price or self.ledger.expected_price(saga_id, key)
            if not self.ledger.fill(trade_id, saga_id, key, qty, price,
                                    open_saga=saga_id not in self._closed):
                return False
            if qty > 0 and price and expected:
                self.monitors.on_fill_slippage(price - expected, self.limits.slippage_threshold)
                self._evaluate(now)
            return True

    def close_saga(self, saga_id: str, realized_pnl: int = 0, held: bool = False) -> bool:
        """Free the saga's slot and reservation and count its outcome, once per saga."""
        with self._lock:
            now = self._observe()
            if saga_id in self._closed:
                return False
            self._closed.add(saga_id)
            self.ledger.release(saga_id)
            self.monitors.on_close(realized_pnl, held)
            self._evaluate(now)
            return True

    def record_rejection(self, order_id: str) -> None:
        """A venue rejected one of our orders (counted once per order id)."""
        with self._lock:
            now = self._observe()
            self.monitors.on_rejection(order_id, now)
            self._evaluate(now)

    # -- operator and reconciliation -------------------------------------------------------
    def latch_operator(self, reason: str, actor: str) -> LatchView:
        with self._lock:
            now = self._observe()
            self._trip(Trip(Trigger.OPERATOR, reason), actor, now)
            return self.latch.view()

    def reset(self, actor: str) -> LatchView:
        """Explicit operator reset: clears the latch and the streaks. Money limits still
        exceeded trip it again at once (raise the limit first to trade on)."""
        with self._lock:
            now = self._observe()
            cleared = self.latch.clear()
            self.monitors.acknowledge()
            detail = ("; ".join(str(t) for t in cleared) if cleared else "was not latched")
            self.audit.append(AuditRecord(now, actor, AuditAction.RESET, detail))
            self._evaluate(now)
            return self.latch.view()

    def hard_stop(self) -> LatchView:
        with self._lock:
            self._observe()
            return self.latch.view()

    def mark_ready(self, venue: Venue, aspect: Aspect, actor: str, ready: bool = True) -> list[str]:
        """Set one readiness aspect; returns what is still missing."""
        with self._lock:
            now = self._observe()
            if self.readiness.set(venue, aspect, ready):
                state = "ready" if ready else "lost"
                self.audit.append(AuditRecord(now, actor, AuditAction.READINESS,
                                              f"{venue}:{aspect.slug} {state}"))
            return self.readiness.missing()

    def seed_positions(self, venue: Venue, truth: dict[tuple[str, Outcome], int],
                       actor: str, netted: bool = False) -> list[str]:
        """The venue's own positions replace what the saga log implied; each disagreement
        is audited and returned. Positions become synced for the venue."""
        with self._lock:
            now = self._observe()
            found = [f"{venue}:{market}:{outcome.name.lower()} log={before} venue={after}"
                     for (_, market, outcome), before, after
                     in self.ledger.seed(venue, truth, netted)]
            for line in found:
                self.audit.append(AuditRecord(now, actor, AuditAction.POSITIONS_SEEDED, line))
            self._evaluate(now)
        self.mark_ready(venue, Aspect.POSITIONS, actor)
        return found

    def mark_venue_ready(self, venue: Venue, actor: str) -> list[str]:
        """Every aspect of one venue synced at once (what a finished reconciliation says)."""
        for aspect in Aspect:
            missing = self.mark_ready(venue, aspect, actor)
        return missing

    def update_limits(self, changes: Mapping[str, str], actor: str, reason: str = "") -> RiskConfig:
        """Apply validated limit changes (`ConfigError` on bad input, nothing applied)."""
        with self._lock:
            now = self._observe()
            new = self.config.updated(changes)
            old_values, new_values = self.config.model_dump(), new.model_dump()
            diff = tuple((name, str(old_values[name]), str(new_values[name]))
                         for name in new_values if old_values[name] != new_values[name])
            if diff:
                self.config, self.limits = new, RiskLimits.from_config(new)
                self._day_ends = 0  # the boundary may have moved
                self._budget.resize(self.limits.orders_per_second, self.limits.order_burst, now)
                self.audit.append(AuditRecord(now, actor, AuditAction.LIMITS_UPDATED,
                                              reason or "no reason given", diff))
                self._evaluate(now)
            return self.config

    # -- internals -------------------------------------------------------------------------
    def _observe(self) -> int:
        """Read the clock, roll the trading day and end a daily-loss cooldown that is due."""
        now = self.clock.now_micros()
        if now >= self._day_ends:
            start, zone = self.limits.day_start, self.limits.day_zone
            self.monitors.roll(trading_day(now, start, zone))
            self._day_ends = next_day_start(now, start, zone)
        if self.latch.due(now):
            cleared = self.latch.clear()
            self.audit.append(AuditRecord(now, "calendar", AuditAction.AUTO_CLEARED,
                                          f"new trading day {self.monitors.day}; cleared "
                                          + "; ".join(str(t) for t in cleared)))
        return now

    def _evaluate(self, now: int) -> None:
        for trip in self.monitors.breaches(self.limits, now):
            self._trip(trip, f"monitor:{trip.trigger}", now)

    def _trip(self, trip: Trip, actor: str, now: int) -> None:
        first = not self.latch.latched
        if self.latch.trip(trip, self._day_ends):
            action = AuditAction.LATCHED if first else AuditAction.TRIGGERED
            self.audit.append(AuditRecord(now, actor, action, str(trip)))
