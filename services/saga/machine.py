"""The two-leg saga as a pure state machine: events in, commands out, no I/O.

    created -> risk approved -> leg 1 submitted -> leg 1 filled -> leg 2 submitted -> completed
                      \\-> risk rejected   \\-> leg 1 failed (nothing filled, nothing to hedge)
    leg 2 short of leg 1 -> compensating: one order per step of the hedge ladder (retry
                            leg 2, chase its price up to break-even, unwind leg 1's excess
                            on its own venue) -> compensated | held

Sequentially (the default) leg 2 is sized to what leg 1 actually filled. With
`Policy.parallel` both legs go at once at the approved size (leg 1 submitted -> leg 2
submitted, no leg-1-filled step): neither filling is a leg-1 failure, and whichever leg
fell short is compensated exactly as leg 2 is sequentially — resent, chased up to
break-even against the long leg's cost, then the long leg's excess unwound on its venue. What an order is for is data on its
record (`LegRole`, and the ladder step's `HedgeStrategy`), never parsed back out of its id;
the client order id `saga:role:attempt` is only a key, so that a resend of the same intent
is recognisably the same order. Exposure is counted in event units: a YES-event unit and a
NO-event unit together pay $1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, notional


class LegRole(enum.IntEnum):
    """What an order is for within its saga. Values match `arbiter.v1.LegRole`."""

    FIRST = 1  # leg 1: fired first, sized by risk
    SECOND = 2  # leg 2 and its resends: buys the hedge, sized to leg 1's fills
    UNWIND = 3  # buys leg 1's complement on leg 1's own market

    @property
    def slug(self) -> str:
        """The role's part of a client order id (unchanged on the wire: `leg1`, `leg2`)."""
        return _ROLE_SLUGS[self]


_ROLE_SLUGS = {LegRole.FIRST: "leg1", LegRole.SECOND: "leg2", LegRole.UNWIND: "unwind"}


class HedgeStrategy(enum.IntEnum):
    """A step of the hedge ladder. Values match `arbiter.v1.HedgeStrategy`."""

    RETRY = 1  # leg 2 resent at its limit
    CHASE = 2  # leg 2 resent `ticks` worse, capped at break-even
    UNWIND = 3  # leg 1's excess bought back as its complement on leg 1's market

    @property
    def slug(self) -> str:
        return self.name.lower()

    @property
    def role(self) -> LegRole:
        """Which leg a step's order belongs to when leg 2 is the short leg (always, in
        sequential execution)."""
        return LegRole.UNWIND if self is HedgeStrategy.UNWIND else LegRole.SECOND


class State(enum.IntEnum):
    """Values match `arbiter.v1.SagaState`."""

    CREATED = 1
    RISK_APPROVED = 2
    RISK_REJECTED = 3
    LEG1_SUBMITTED = 4
    LEG1_FILLED = 5
    LEG1_FAILED = 6
    LEG2_SUBMITTED = 7
    COMPLETED = 8
    COMPENSATING = 9
    COMPENSATED = 10
    HELD = 11


TERMINAL = frozenset({State.RISK_REJECTED, State.LEG1_FAILED, State.COMPLETED,
                      State.COMPENSATED, State.HELD})


@dataclass(frozen=True, slots=True)
class LegPlan:
    venue: Venue
    market_id: str
    outcome: Outcome
    limit_price: int
    tick: int
    event_side: Outcome  # which side of the *event* this leg's outcome pays on


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    client_order_id: str
    venue: Venue
    market_id: str
    outcome: Outcome
    limit_price: int
    qty: int


@dataclass(slots=True)
class OrderRecord:
    command: PlaceOrder
    role: LegRole
    event_side: Outcome
    strategy: HedgeStrategy | None = None  # the ladder step that sent it; None: legs 1 and 2
    filled: int = 0
    canceled: int = 0  # quantity the venue says will never fill
    cost: int = 0
    fees: int = 0
    closed: bool = False  # the venue has reported the order's end (cancel, reject, IOC rest)

    @property
    def done(self) -> bool:
        """Over once the venue has ended it and every fill it reported has arrived, so a
        fill delayed behind the cancel still lands on the right order."""
        return self.closed and self.filled + self.canceled >= self.command.qty


@dataclass(frozen=True, slots=True)
class HedgeStep:
    strategy: HedgeStrategy
    ticks: int = 0  # chase only: how many ticks worse than leg 2's limit


DEFAULT_LADDER = (HedgeStep(HedgeStrategy.RETRY), HedgeStep(HedgeStrategy.CHASE, 1),
                  HedgeStep(HedgeStrategy.CHASE, 2), HedgeStep(HedgeStrategy.UNWIND))


@dataclass(frozen=True, slots=True)
class Policy:
    """The hedge ladder: compensation order k is sent by step k; past the last, the saga is
    held. The configuration only accepts ladders that end in an unwind (`SagaConfig`)."""

    ladder: tuple[HedgeStep, ...] = DEFAULT_LADDER
    parallel: bool = False  # both legs at once (`saga.execution: parallel`)
    leg2_slack_ticks: int = 0  # sequential leg 2 may pay this much over its detected price


@dataclass(slots=True)
class Saga:
    saga_id: str
    pair_id: str
    leg1: LegPlan
    leg2: LegPlan
    policy: Policy = Policy()
    state: State = State.CREATED
    version: int = 0
    detail: str = ""
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    _trades: set[str] = field(default_factory=set)
    _attempts: dict[LegRole, int] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def _to(self, state: State, detail: str = "") -> None:
        self.state, self.detail = state, detail
        self.version += 1

    # -- events ----------------------------------------------------------------------
    def reject(self, reason: str) -> None:
        self._to(State.RISK_REJECTED, reason)

    def approve(self, qty: int) -> list[PlaceOrder]:
        self._to(State.RISK_APPROVED)
        commands = [self._order(LegRole.FIRST, self.leg1, self.leg1.limit_price, qty)]
        self._to(State.LEG1_SUBMITTED)
        if self.policy.parallel:
            commands.append(self._order(LegRole.SECOND, self.leg2, self.leg2.limit_price, qty))
            self._to(State.LEG2_SUBMITTED)
        return commands

    def accepts_fill(self, client_order_id: str, trade_id: str) -> bool:
        """Whether a fill is new for this saga (so worth logging before applying)."""
        return client_order_id in self.orders and trade_id not in self._trades

    def accepts_done(self, client_order_id: str) -> bool:
        order = self.orders.get(client_order_id)
        return order is not None and not order.closed

    def on_fill(self, client_order_id: str, trade_id: str, price: int, qty: int, fee: int) -> bool:
        """Count a fill once; False if the order is not ours or the trade was seen."""
        order = self.orders.get(client_order_id)
        if order is None or trade_id in self._trades:
            return False
        self._trades.add(trade_id)
        order.filled += qty
        order.cost += notional(price, qty)
        order.fees += fee
        return True

    def on_order_done(
        self, client_order_id: str, canceled: int | None = None, reason: str = ""
    ) -> None:
        """The venue ended the order; `canceled` is what it says will never fill (None: all
        that has not filled yet, as for a reject)."""
        order = self.orders.get(client_order_id)
        if order is None or order.closed:
            return
        order.closed = True
        order.canceled = order.command.qty - order.filled if canceled is None else canceled
        if reason:
            self.detail = reason

    def progress(self) -> list[PlaceOrder]:
        """The next orders, once every open order is over; call after each fill or end."""
        return self._advance()

    # -- decisions -------------------------------------------------------------------
    def _advance(self) -> list[PlaceOrder]:
        if any(not o.done for o in self.orders.values()) or self.terminal:
            return []
        leg1_filled = self.filled(LegRole.FIRST)
        if self.state is State.LEG1_SUBMITTED:
            if not leg1_filled:
                self._to(State.LEG1_FAILED, self.detail or "leg 1 did not fill")
                return []
            self._to(State.LEG1_FILLED)
            # the book may have moved while leg 1 was out: leg 2 takes up to `slack` ticks
            # more (an IOC still fills at the book's price), never past break-even
            slack = self.policy.leg2_slack_ticks * self.leg2.tick
            price = min(self.leg2.limit_price + slack, self.break_even())
            command = self._order(LegRole.SECOND, self.leg2, price, leg1_filled)
            self._to(State.LEG2_SUBMITTED)
            return [command]
        unhedged = self.unhedged
        if self.state is State.LEG2_SUBMITTED and not self.units(Outcome.YES) + self.units(
                Outcome.NO):  # only in parallel: sequentially leg 1 has filled by now
            self._to(State.LEG1_FAILED, self.detail or "neither leg filled")
            return []
        if not unhedged:
            self._to(State.COMPLETED if self.state is State.LEG2_SUBMITTED else State.COMPENSATED)
            return []
        if self.state is State.LEG2_SUBMITTED:
            self._to(State.COMPENSATING, f"leg 2 short by {unhedged}")
        return self._compensate(unhedged)

    def _compensate(self, unhedged: int) -> list[PlaceOrder]:
        """The next ladder step's order, for exactly what is unhedged; held past the end."""
        sent = sum(1 for o in self.orders.values() if o.strategy is not None)
        if sent >= len(self.policy.ladder):
            self._to(State.HELD, f"holding {unhedged} unhedged after compensation; alert raised")
            return []
        step = self.policy.ladder[sent]
        (long, _), (short, short_role) = self._long_and_short()
        if step.strategy is HedgeStrategy.UNWIND:
            unwind = LegPlan(long.venue, long.market_id, long.outcome.other,
                             ONE_DOLLAR - long.tick, long.tick, long.event_side.other)
            return [self._order(LegRole.UNWIND, unwind, unwind.limit_price, unhedged, step)]
        worse = step.ticks * short.tick
        price = min(short.limit_price + worse, self.break_even(short_role))
        return [self._order(short_role, short, price, unhedged, step)]

    def _long_and_short(self) -> tuple[tuple[LegPlan, LegRole], tuple[LegPlan, LegRole]]:
        """The leg holding more event units and the one to bring up to it. Leg 1, unless
        (in parallel) leg 2 filled more; an unwind adds to the short side, and every order
        is sized to what is unhedged, so the long leg never changes once compensating."""
        first, second = (self.leg1, LegRole.FIRST), (self.leg2, LegRole.SECOND)
        if self.units(self.leg2.event_side) > self.units(self.leg1.event_side):
            return second, first
        return first, second

    def _order(self, role: LegRole, leg: LegPlan, price: int, qty: int,
               step: HedgeStep | None = None) -> PlaceOrder:
        attempt = self._attempts.get(role, 0) + 1
        self._attempts[role] = attempt
        command = PlaceOrder(f"{self.saga_id}:{role.slug}:{attempt}", leg.venue, leg.market_id,
                             leg.outcome, price, qty)
        self.orders[command.client_order_id] = OrderRecord(
            command, role, leg.event_side, step.strategy if step else None)
        return command

    # -- accounting ------------------------------------------------------------------
    def filled(self, role: LegRole) -> int:
        return sum(o.filled for o in self.orders.values() if o.role == role)

    def units(self, side: Outcome) -> int:
        return sum(o.filled for o in self.orders.values() if o.event_side is side)

    @property
    def unhedged(self) -> int:
        return abs(self.units(Outcome.YES) - self.units(Outcome.NO))

    def break_even(self, short_role: LegRole = LegRole.SECOND) -> int:
        """Highest price for the short leg (leg 2 unless stated) at which the long leg's
        average cost, its fees included (a chase that ignored them would lock in their
        loss), plus the short leg still stays <= $1."""
        short = self.leg2 if short_role is LegRole.SECOND else self.leg1
        long_role = LegRole.FIRST if short_role is LegRole.SECOND else LegRole.SECOND
        long = [o for o in self.orders.values() if o.role is long_role]
        filled = sum(o.filled for o in long)
        spent = sum(o.cost + o.fees for o in long)
        average = -(-spent * 1_000_000 // filled) if filled else 0
        ceiling = ONE_DOLLAR - average
        return max(short.limit_price, ceiling - ceiling % short.tick)

    def realized_pnl(self) -> int:
        """Locked-in profit of the hedged units: $1 each, less their share of costs and fees."""
        yes, no = self.units(Outcome.YES), self.units(Outcome.NO)
        hedged = min(yes, no)
        if not hedged:
            return 0
        pnl = hedged
        for side, units in ((Outcome.YES, yes), (Outcome.NO, no)):
            spent = sum(o.cost + o.fees for o in self.orders.values() if o.event_side is side)
            pnl -= -(-spent * hedged // units)
        return pnl
