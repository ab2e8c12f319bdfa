"""The per-tenant pre-trade gates: pure functions of (limits, state, request).

A new saga runs the chain in a fixed order and the first gate that objects names itself and
its reason: HardStop -> trading-ready -> max position per market -> max position total ->
max exposure -> capital on every leg's venue -> pending saga on the pair (and the open-saga
slots) -> order-rate budget. The sizing gates shrink the quantity to what fits and reject
only when nothing does: no leg 1 is approved that leg 2's venue cannot pay for. A
compensation order has its own, hedge-aware check (`check_compensation`).

Nothing here reads a clock, takes a lock or changes state: `RiskState` (risk/state.py) reads
the clock, holds the lock and applies what an approval implies (budget spent, saga reserved).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from arbiter.core.instruments import Outcome
from arbiter.core.units import to_decimal
from arbiter.risk.budget import TokenBucket
from arbiter.risk.funds import Funds, FundsView
from arbiter.risk.latch import HardStopLatch
from arbiter.risk.ledger import Key, Ledger, LegIntent
from arbiter.risk.limits import RiskLimits
from arbiter.risk.monitors import usd
from arbiter.risk.readiness import Readiness

__all__ = ["Decision", "Gate", "LegIntent", "NewSaga", "RiskView", "SagaLegs", "check_compensation",
           "check_new"]


class Gate(enum.StrEnum):
    DUPLICATE = "duplicate"
    HARD_STOP = "hard_stop"
    PAIR_PAUSED = "pair_paused"
    NOT_READY = "not_ready"
    MAX_POSITION_MARKET = "max_position_market"
    MAX_POSITION_TOTAL = "max_position_total"
    MAX_EXPOSURE = "max_exposure"
    CAPITAL = "capital"
    PENDING_PAIR = "pending_pair"
    MAX_OPEN_SAGAS = "max_open_sagas"
    ORDER_RATE = "order_rate"
    # compensation (reduce-only) checks
    SAGA_MISMATCH = "saga_mismatch"
    NOT_SAGA_MARKET = "not_saga_market"
    INCREASES_EXPOSURE = "increases_exposure"


LIMIT_GATES = frozenset(g.value for g in (
    Gate.MAX_POSITION_MARKET, Gate.MAX_POSITION_TOTAL, Gate.MAX_EXPOSURE, Gate.CAPITAL,
    Gate.MAX_OPEN_SAGAS))
"""Gates that refuse a trade because a configured limit or the capital is used up, not
because of a transient state (a pending saga, the order rate) or a stop."""


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    gate: str = ""  # a `Gate` value when refused
    reason: str = ""
    qty: int = 0


def _reject(gate: Gate, reason: str) -> Decision:
    return Decision(False, gate.value, reason)


@dataclass(frozen=True, slots=True)
class RiskView:
    """The parts of a tenant's risk state the gates read (and never write)."""

    ledger: Ledger
    latch: HardStopLatch
    readiness: Readiness
    budget: TokenBucket
    funds: Funds
    paused_pairs: Mapping[str, str] = field(default_factory=dict)  # pair id -> why paused

    def funds_view(self, limits: RiskLimits, venue: str) -> FundsView | None:
        """The venue's capital; None before its balance was first read."""
        spendable = self.funds.spendable(venue)
        if spendable is None:
            return None
        return FundsView(venue, spendable, self.ledger.reserved_funds(venue),
                         limits.min_free_balance)


@dataclass(frozen=True, slots=True)
class NewSaga:
    saga_id: str
    pair_id: str
    legs: tuple[LegIntent, ...]
    lot: int = 1  # approved sizes are whole multiples (both venues' order lot)


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


def check_new(limits: RiskLimits, view: RiskView, request: NewSaga, now: int) -> Decision:
    """The gate chain for a new saga; an approval's qty is what fits every limit."""
    ledger, legs, saga_id = view.ledger, request.legs, request.saga_id
    if ledger.saga_open(saga_id):
        return _reject(Gate.DUPLICATE, f"saga {saga_id} is already approved")
    if view.latch.latched:
        return _reject(Gate.HARD_STOP, f"HardStop latched: {view.latch.reason}")
    if (why := view.paused_pairs.get(request.pair_id)) is not None:
        return _reject(Gate.PAIR_PAUSED, f"pair {request.pair_id} is paused: {why}")
    if not view.readiness.ready:
        return _reject(Gate.NOT_READY, f"not synced: {', '.join(view.readiness.missing())}")
    lot = max(request.lot, 1)
    qty = min(leg.qty for leg in legs)
    for leg in legs:
        committed = ledger.committed(leg.key)
        room = limits.max_position_per_market - committed
        if _lots(room, lot) <= 0:
            return _reject(Gate.MAX_POSITION_MARKET,
                           f"{_name(leg.key)} has {_contracts(committed)} held or reserved, "
                           f"limit {_contracts(limits.max_position_per_market)}")
        qty = min(qty, room)
    total = ledger.committed_total
    qty = _lots(min(qty, (limits.max_position_total - total) // len(legs)), lot)
    if qty <= 0:
        return _reject(Gate.MAX_POSITION_TOTAL,
                       f"{_contracts(total)} contracts held or reserved leave no room for "
                       f"{len(legs)} legs under {_contracts(limits.max_position_total)}")
    qty = _lots(_fit_exposure(limits, ledger, legs, qty), lot)
    if qty <= 0:
        return _reject(Gate.MAX_EXPOSURE,
                       f"{usd(ledger.at_risk)} at risk leaves no room under "
                       f"{usd(limits.max_exposure)} at a worst case of "
                       f"{usd(sum(leg.price for leg in legs))} per contract")
    qty, short = _fit_funds(limits, view, legs, qty)
    qty = _lots(qty, lot)
    if qty <= 0:
        return _reject(Gate.CAPITAL, short or f"the funds fit less than one lot of "
                                              f"{_contracts(lot)} contracts")
    pending = ledger.saga_on_pair(request.pair_id)
    if pending is not None:
        return _reject(Gate.PENDING_PAIR,
                       f"saga {pending} on pair {request.pair_id} is in flight")
    if ledger.open_sagas >= limits.max_open_sagas:
        return _reject(Gate.MAX_OPEN_SAGAS,
                       f"{ledger.open_sagas} sagas open, limit {limits.max_open_sagas}")
    wait = view.budget.wait(len(legs), now)
    if wait:
        return _reject(Gate.ORDER_RATE,
                       f"order budget of {limits.orders_per_second}/s (burst "
                       f"{limits.order_burst}) spent; {len(legs)} orders fit again in "
                       f"{-(-wait // 1000)} ms")
    return Decision(True, qty=qty)


def _lots(qty: int, lot: int) -> int:
    """`qty` rounded down to whole lots (what the venues accept)."""
    return qty - qty % lot if qty > 0 else qty


def _fit_exposure(limits: RiskLimits, ledger: Ledger, legs: tuple[LegIntent, ...],
                  qty: int) -> int:
    """Largest qty <= `qty` whose worst-case cost (sum of per-leg notionals, each rounded
    up) fits the exposure room; conservative by < 1 micro-dollar per extra leg."""
    room = limits.max_exposure - ledger.at_risk - (len(legs) - 1)
    per_contract = sum(leg.price for leg in legs)
    if room <= 0:
        return 0
    return min(qty, room * 1_000_000 // per_contract) if per_contract else qty


def _fit_funds(limits: RiskLimits, view: RiskView, legs: tuple[LegIntent, ...],
               qty: int) -> tuple[int, str]:
    """Largest qty <= `qty` that every leg's venue can pay for at the legs' worst cost
    (fees included) and still keep its minimum free; with the reason when none fits."""
    per_venue: dict[str, int] = {}
    for leg in legs:
        per_venue[leg.venue] = per_venue.get(leg.venue, 0) + leg.unit_cost
    for venue, per_contract in sorted(per_venue.items()):
        funds = view.funds_view(limits, venue)
        if funds is None:
            return 0, f"{venue} balance not read yet"
        fits = max(0, funds.free) * 1_000_000 // per_contract
        if fits <= 0:
            return 0, (f"{venue} can fund nothing: {usd(funds.spendable)} spendable, "
                       f"{usd(funds.reserved)} reserved by open sagas, {usd(funds.minimum)} "
                       f"kept free, {usd(per_contract)} needed per contract")
        qty = min(qty, fits)
    return qty, ""
