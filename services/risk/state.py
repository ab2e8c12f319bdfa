"""One tenant's risk state: the ledger, the HardStop latch, readiness, monitors and budget.

The decisions are the pure gates' (risk/gates.py); this is the shell around them. One lock
covers every public method, so a check, its budget spend and its reservation are one step:
callers on many threads or tasks can never both pass a limit only one fits under. Every
latch, reset, auto-clear, readiness and limit change goes to the audit log.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence

from arbiter.core.clock import Clock
from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, notional
from arbiter.risk.audit import AuditAction, AuditLog, AuditRecord
from arbiter.risk.budget import TokenBucket
from arbiter.risk.funds import Funds, FundsView
from arbiter.risk.gates import (
    Decision,
    LegIntent,
    NewSaga,
    RiskView,
    SagaLegs,
    check_compensation,
    check_new,
)
from arbiter.risk.latch import HardStopLatch, LatchView, Trigger, Trip
from arbiter.risk.ledger import Ledger
from arbiter.risk.limits import RiskLimits
from arbiter.risk.monitors import Monitors, usd
from arbiter.risk.readiness import Aspect, Readiness
from arbiter.risk.tradingday import next_day_start, trading_day


class UnacknowledgedTrips(Exception):
    """A reset that does not name every safety trip latched (failed unwind, reconciliation)."""

    def __init__(self, triggers: tuple[str, ...]) -> None:
        super().__init__(f"the HardStop holds {', '.join(triggers)}: the reset must "
                         f"acknowledge {'it' if len(triggers) == 1 else 'them'} by name "
                         "after checking the positions at the venues")
        self.triggers = triggers


class RiskState:
    def __init__(self, limits: RiskLimits, clock: Clock, venues: Sequence[Venue],
                 audit: AuditLog | None = None) -> None:
        self._lock = threading.Lock()
        self.clock = clock
        self.limits = limits
        self.audit = audit or AuditLog()
        self.ledger = Ledger()
        self.venues = frozenset(venues)
        self.readiness = Readiness(tuple(venues))
        self.funds = Funds(tuple(venues))
        self.latch = HardStopLatch()
        self.monitors = Monitors()
        self._closed: set[str] = set()
        self.paused_pairs: dict[str, str] = {}  # pair id -> why (operator pauses)
        self._day_ends = 0  # when the current trading day ends; 0 = not yet known
        self._budget = TokenBucket(self.limits.orders_per_second, self.limits.order_burst,
                                   clock.now_micros())
        self._view = RiskView(self.ledger, self.latch, self.readiness, self._budget, self.funds,
                              self.paused_pairs)

    # -- the gate chain ----------------------------------------------------------------
    def check(self, saga_id: str, pair_id: str, legs: tuple[LegIntent, ...],
              lot: int = 1) -> Decision:
        """Run the chain; on approval spend the budget and reserve the saga, atomically."""
        with self._lock:
            now = self._observe()
            decision = check_new(self.limits, self._view,
                                 NewSaga(saga_id, pair_id, legs, lot), now)
            if decision.approved:
                self._budget.take(len(legs), now)
                self.ledger.reserve(saga_id, pair_id, legs, decision.qty)
            return decision

    def check_compensation(self, saga_id: str, legs: SagaLegs, order: LegIntent) -> Decision:
        """A saga's hedge, retry, chase or unwind order, against what risk itself counted of
        the saga's fills (see `check_compensation`)."""
        with self._lock:
            self._observe()
            return check_compensation(legs, self.ledger.saga_legs(saga_id),
                                      self.ledger.saga_held(saga_id), order)

    # -- events --------------------------------------------------------------------------
    def record_fill(self, trade_id: str, venue: Venue, market_id: str, outcome: Outcome,
                    qty: int, price: int, saga_id: str = "", expected_price: int = 0,
                    fee: int = 0) -> bool:
        """Count a fill once (by trade id), spend a buy's cash on its venue and watch its
        slippage; False for a repeat."""
        with self._lock:
            now = self._observe()
            key = (venue, market_id, outcome)
            expected = expected_price or self.ledger.expected_price(saga_id, key)
            if not self.ledger.fill(trade_id, saga_id, key, qty, price,
                                    open_saga=saga_id not in self._closed):
                return False
            if qty > 0 and venue in self.venues:
                self.funds.spend(venue, notional(price, qty) + max(fee, 0))
                self._judge_funds(venue, "fill", now)
            if qty > 0 and price and expected:
                self.monitors.on_fill_slippage(price - expected, self.limits.slippage_threshold)
                self._evaluate(now)
            return True

    def record_settlement(self, venue: Venue, market_id: str, yes_payout: int) -> int:
        """Close what is held in a settled market at its payout (YES pays `yes_payout`, NO
        the rest of $1), which frees its capital and position room; returns the contracts
        closed. What is no longer held is not closed again, so a repeat, or a restarted
        risk seeded from the venue (which lists no settled positions), closes nothing."""
        with self._lock:
            self._observe()
            closed = 0
            for outcome, pays in ((Outcome.YES, yes_payout),
                                  (Outcome.NO, ONE_DOLLAR - yes_payout)):
                key = (venue, market_id, outcome)
                held = self.ledger.held(key)
                if held > 0:
                    self.ledger.fill(f"settlement:{venue}:{market_id}:{outcome.name}", "",
                                     key, -held, pays)
                    closed += held
            return closed

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
    def latch_operator(self, reason: str, actor: str, unreconciled: bool = False) -> LatchView:
        """Latch with an operator's (or, `unreconciled`, a failed reconciliation's) reason."""
        return self.latch_fault(Trigger.RECONCILIATION if unreconciled else Trigger.OPERATOR,
                                reason, actor)

    def latch_fault(self, trigger: Trigger, reason: str, actor: str) -> LatchView:
        """Latch for something outside the trading figures: an operator, a failed
        reconciliation, the message broker."""
        with self._lock:
            now = self._observe()
            self._trip(Trip(trigger, reason), actor, now)
            return self.latch.view()

    def pause(self, reason: str, actor: str) -> LatchView:
        """An operator's pause: latched like a kill switch, but a resume lifts it."""
        with self._lock:
            now = self._observe()
            self._trip(Trip(Trigger.PAUSE, reason), actor, now)
            return self.latch.view()

    def resume(self, actor: str) -> LatchView:
        """Lift the pause and nothing else: a kill switch, a failed unwind or any monitor's
        trip keeps the latch, and only an explicit reset clears those."""
        with self._lock:
            now = self._observe()
            lifted = self.latch.lift_pause()
            left = "; ".join(str(t) for t in self.latch.trips) or "nothing"
            detail = ("; ".join(str(t) for t in lifted) if lifted else "was not paused")
            self.audit.append(AuditRecord(now, actor, AuditAction.RESUMED,
                                          f"{detail} (still latched by: {left})"))
            return self.latch.view()

    def reset(self, actor: str, reason: str = "",
              acknowledged: Collection[str] = ()) -> LatchView:
        """Explicit operator reset: clears the latch and the streaks. Money limits still
        exceeded trip it again at once (raise the limit first to trade on). A failed unwind
        or reconciliation among the trips must be in `acknowledged`, else
        `UnacknowledgedTrips` and nothing changes."""
        with self._lock:
            now = self._observe()
            missing = self.latch.unacknowledged(frozenset(acknowledged))
            if missing:
                raise UnacknowledgedTrips(missing)
            cleared = self.latch.clear()
            self.monitors.acknowledge()
            detail = ("; ".join(str(t) for t in cleared) if cleared else "was not latched")
            if acknowledged:
                detail = f"{detail} (acknowledged: {', '.join(sorted(acknowledged))})"
            if reason:
                detail = f"{detail} (why: {reason})"
            self.audit.append(AuditRecord(now, actor, AuditAction.RESET, detail))
            self._evaluate(now)
            return self.latch.view()

    def hard_stop(self) -> LatchView:
        with self._lock:
            self._observe()
            return self.latch.view()

    def pause_pair(self, pair_id: str, paused: bool, reason: str, actor: str) -> dict[str, str]:
        """Refuse (or again allow) new sagas on one pair; the rest trade on. Audited when it
        changes anything; returns every paused pair and why."""
        with self._lock:
            now = self._observe()
            if paused and pair_id not in self.paused_pairs:
                self.paused_pairs[pair_id] = reason or "paused by operator"
                self.audit.append(AuditRecord(now, actor, AuditAction.PAIR_PAUSED,
                                              f"{pair_id}: {self.paused_pairs[pair_id]}"))
            elif not paused and pair_id in self.paused_pairs:
                why = self.paused_pairs.pop(pair_id)
                self.audit.append(AuditRecord(now, actor, AuditAction.PAIR_RESUMED,
                                              f"{pair_id} (was paused: {why})"))
            return dict(self.paused_pairs)

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
        """Every synced aspect of one venue at once (what a finished reconciliation says);
        its funds only a balance read can vouch for (`report_balance`)."""
        for aspect in Aspect:
            if aspect is not Aspect.FUNDS:
                missing = self.mark_ready(venue, aspect, actor)
        return missing

    def report_balance(self, venue: Venue, spendable: int, actor: str) -> FundsView:
        """A fresh read of what the venue lets us spend; funds readiness follows it."""
        with self._lock:
            now = self._observe()
            self.funds.read(venue, spendable)
            self._judge_funds(venue, actor, now)
            return self.funds_view(venue)

    def funds_view(self, venue: Venue) -> FundsView:
        view = self._view.funds_view(self.limits, venue)
        return view if view is not None else FundsView(venue, 0, 0, self.limits.min_free_balance)

    def update_limits(self, limits: RiskLimits, changes: Sequence[tuple[str, str, str]],
                      actor: str, reason: str = "") -> None:
        """Trade on new limits from now on; `changes` (field, before, after), in the
        operator's units, is what the audit record shows. No changes: nothing happens."""
        with self._lock:
            now = self._observe()
            if not changes:
                return
            self.limits = limits
            self._day_ends = 0  # the boundary may have moved
            self._budget.resize(limits.orders_per_second, limits.order_burst, now)
            self.audit.append(AuditRecord(now, actor, AuditAction.LIMITS_UPDATED,
                                          reason or "no reason given", tuple(changes)))
            self._evaluate(now)

    # -- internals -------------------------------------------------------------------------
    def _judge_funds(self, venue: Venue, actor: str, now: int) -> None:
        """Funds readiness: up while the venue's spendable cash covers the minimum."""
        view = self.funds_view(venue)
        if self.readiness.set(venue, Aspect.FUNDS, not view.low):
            state = (f"low: {usd(view.spendable)} spendable, under the {usd(view.minimum)} "
                     "minimum" if view.low else "ready")
            self.audit.append(AuditRecord(now, actor, AuditAction.READINESS,
                                          f"{venue}:funds {state}"))

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
