"""Risk gRPC service: the gate chain, fills, saga outcomes, HardStop, readiness and limits.

Only translation and validation live here; every decision is `RiskState`'s. The service
also consumes execution reports from the bus, so positions follow every fill and the
rejection monitor sees every venue reject even when no saga reports them; fills count once
per trade id and rejects once per order either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

import grpc

from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, money_from_decimal, qty_from_decimal, to_decimal
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.config import ConfigError, RiskConfig
from arbiter.platform.peers import current_peer
from arbiter.platform.rpc import Context, require_tenant
from arbiter.platform.telemetry import metrics
from arbiter.platform.tenancy import TenantLimits, Tier, TierLimitExceeded, tenant_scoped
from arbiter.risk.audit import AuditRecord
from arbiter.risk.funds import FundsView
from arbiter.risk.gates import LIMIT_GATES, LegIntent, SagaLegs
from arbiter.risk.latch import LatchView
from arbiter.risk.limits import RiskLimits
from arbiter.risk.readiness import Aspect
from arbiter.risk.state import RiskState, UnacknowledgedTrips
from arbiter.v1 import common_pb2, execution_pb2, opportunity_pb2, risk_pb2, risk_pb2_grpc

_MAX_PRICE = 1_000_000
_OUTCOMES = frozenset(int(o) for o in Outcome)  # what a wire enum may be, as plain ints
_ASPECTS = frozenset(int(a) for a in Aspect)


def limits_from_config(config: RiskConfig) -> RiskLimits:
    """The operator's limits (decimal contracts and dollars) as the gates' integers."""
    hours, minutes = (int(part) for part in config.trading_day_start.split(":"))
    return RiskLimits(
        max_position_per_market=qty_from_decimal(config.max_position_per_market),
        max_position_total=qty_from_decimal(config.max_position_total),
        max_exposure=money_from_decimal(config.max_exposure_usd),
        max_open_sagas=config.max_open_sagas,
        orders_per_second=config.orders_per_second,
        order_burst=config.order_burst,
        max_cumulative_loss=money_from_decimal(config.max_cumulative_loss_usd),
        max_daily_loss=money_from_decimal(config.max_daily_loss_usd),
        max_consecutive_losses=config.max_consecutive_losses,
        max_failed_unwinds=config.max_failed_unwinds,
        max_rejections_per_hour=config.max_rejections_per_hour,
        slippage_threshold=money_from_decimal(config.slippage_threshold_usd),
        max_slippage_streak=config.max_slippage_streak,
        min_free_balance=money_from_decimal(config.min_free_balance_usd),
        day_start=time(hours, minutes),
        day_zone=ZoneInfo(config.trading_day_timezone),
    )


def update_limits(state: RiskState, config: RiskConfig, changes: Mapping[str, str],
                  actor: str, reason: str = "", tier: Tier | None = None) -> RiskConfig:
    """Apply limit changes validated like the config file and, given the tenant's `tier`,
    within its caps (`ConfigError` on bad input, nothing applied); returns the limits now in
    force, in the operator's units."""
    new = config.updated(changes)
    if tier is not None:
        within_tier(tier, new)
    old_values, new_values = config.model_dump(), new.model_dump()
    diff = tuple((name, str(old_values[name]), str(new_values[name]))
                 for name in new_values if old_values[name] != new_values[name])
    state.update_limits(limits_from_config(new), diff, actor, reason)
    return new


def within_tier(tier: Tier, limits: RiskConfig) -> None:
    """`ConfigError` naming the first limit above what `tier` allows."""
    try:
        tier.check("", TenantLimits(pairs=0, orders_per_second=limits.orders_per_second,
                                    max_exposure_usd=limits.max_exposure_usd,
                                    max_open_sagas=limits.max_open_sagas))
    except TierLimitExceeded as exc:
        raise ConfigError(f"{exc.limit}={exc.value} exceeds the {tier.name!r} tier's cap of "
                          f"{exc.cap}") from None


def _actor(actor: str, context: Any) -> str:
    """Who asked, for the audit log: the caller's own name, else where the call came from."""
    if actor:
        return actor
    peer = getattr(context, "peer", None)
    return f"unattributed ({peer()})" if peer else "unattributed (in-process)"


def _leg_problem(name: str, leg: opportunity_pb2.Leg, venues: frozenset[Venue]) -> str:
    if leg.venue not in venues:
        return f"{name}.venue={leg.venue!r} is not a venue this tenant trades"
    if not leg.market_id:
        return f"{name}.market_id is empty"
    if leg.outcome not in _OUTCOMES:
        return f"{name}.outcome={leg.outcome} is not YES or NO"
    if leg.qty_micros <= 0:
        return f"{name}.qty_micros={leg.qty_micros} must be positive"
    if not 0 < leg.limit_price_micros <= _MAX_PRICE:
        return f"{name}.limit_price_micros={leg.limit_price_micros} is outside (0, 1_000_000]"
    return ""


def _unit_cost(leg: opportunity_pb2.Leg) -> int:
    """The leg's expected cash per contract, fees included, rounded up (the ledger never
    reserves less than the limit price)."""
    return -(-max(leg.expected_cost_micros, 0) * 1_000_000 // leg.qty_micros)


def _funds(view: FundsView) -> risk_pb2.FundsState:
    return risk_pb2.FundsState(venue=view.venue, spendable_micros=view.spendable,
                               reserved_micros=view.reserved, free_micros=view.free,
                               low=view.low)


def _view(view: LatchView) -> risk_pb2.HardStopState:
    return risk_pb2.HardStopState(latched=view.latched, reason=view.reason,
                                  triggers=view.triggers, clears_at_micros=view.clears_at_micros,
                                  paused=view.paused)


def snapshot(state: RiskState) -> risk_pb2.RiskSnapshot:
    reply = risk_pb2.RiskSnapshot(
        hard_stop=_view(state.hard_stop()), held_cost_micros=state.ledger.held_cost,
        at_risk_micros=state.ledger.at_risk, open_sagas=state.ledger.open_sagas,
        paused_pairs=state.paused_pairs)
    missing = state.readiness.missing()
    for venue in sorted(state.venues):
        prefix = f"{venue}:"
        reply.venues.append(risk_pb2.VenueRisk(
            venue=venue, missing=[m.removeprefix(prefix) for m in missing
                                  if m.startswith(prefix)],
            funds_known=state.funds.known(venue), funds=_funds(state.funds_view(venue))))
    costs = state.ledger.costs()
    for (venue, market_id, outcome), qty in sorted(state.ledger.positions().items()):
        reply.positions.append(risk_pb2.HeldPosition(
            venue=venue, market_id=market_id, outcome=common_pb2.Outcome.ValueType(outcome),
            qty_micros=qty,
            cost_micros=costs.get((venue, market_id, outcome), 0)))
    return reply


def _entry(seq: int, record: AuditRecord) -> risk_pb2.AuditEntry:
    return risk_pb2.AuditEntry(
        seq=seq, at_micros=record.at_micros, actor=record.actor, action=str(record.action),
        detail=record.detail, changes=[risk_pb2.LimitChange(field=f, before=b, after=a)
                                       for f, b, a in record.changes])


class RiskServicer(risk_pb2_grpc.RiskServicer):
    def __init__(self, state: RiskState, config: RiskConfig, tenant_id: str,
                 bus: Bus | None = None, tier: Tier | None = None) -> None:
        self.state = state
        self.config = config  # the limits in force, as the operator set them
        self.tenant_id = tenant_id
        self.tier = tier  # given: runtime limit changes stay within its caps
        self.checks = 0
        self.rejections: dict[str, int] = {}
        self.limited_by = ""
        """Why the latest new-saga check was refused, when a limit refused it ("" after an
        approval or any other refusal): a limit that stops trading, for the live view."""
        self.metrics = metrics.RiskMetrics(tenant_id)
        self.metrics.watch_hard_stop(lambda: self.state.hard_stop().latched)
        self.metrics.watch_exposure(lambda: self.state.ledger.held_cost / 1e6)
        for venue in sorted(state.venues):
            self.metrics.watch_funds(venue, *self._funds_gauges(venue))
        if bus is not None:
            bus.subscribe(topics.EXEC_REPORTS, "risk", execution_pb2.ExecutionReport,
                          tenant_scoped(topics.EXEC_REPORTS, "risk", self.on_report,
                                        serves=tenant_id))

    def _funds_gauges(self, venue: Venue) -> tuple[Callable[[], float], Callable[[], bool]]:
        """What the venue's free-cash and funds-low gauges read when scraped."""
        def free() -> float:
            return float(to_decimal(self.state.funds_view(venue).free))

        def low() -> bool:
            return not self.state.funds.known(venue) or self.state.funds_view(venue).low

        return free, low

    async def CheckRisk(self, request: risk_pb2.RiskCheckRequest,
                        context: Context) -> risk_pb2.RiskDecision:
        await require_tenant(request.tenant, self.tenant_id, context)
        yes, no = await self._legs(request, context)
        self.checks += 1
        if request.reduce_only:
            order = await self._compensation_order(request, context)
            decision = self.state.check_compensation(
                request.saga_id, SagaLegs(yes.key, no.key), order)
        else:
            decision = self.state.check(request.saga_id, request.opportunity.pair_id, (yes, no),
                                        max(request.opportunity.lot_micros, 1))
        gate = decision.gate
        self.metrics.decided(decision.approved, gate)
        if not decision.approved:
            self.rejections[gate] = self.rejections.get(gate, 0) + 1
        if not request.reduce_only:
            self.limited_by = (f"{gate}: {decision.reason}"
                               if gate in LIMIT_GATES and not decision.approved else "")
        return risk_pb2.RiskDecision(
            approved=decision.approved, gate=gate, reason=decision.reason,
            approved_qty_micros=decision.qty,
        )

    async def _legs(self, request: risk_pb2.RiskCheckRequest,
                    context: Context) -> tuple[LegIntent, LegIntent]:
        """The saga's two legs: what a new saga would buy, or, for a compensation check,
        which market pays on which side of the event."""
        opp = request.opportunity
        named = (("opportunity.yes_leg", opp.yes_leg), ("opportunity.no_leg", opp.no_leg))
        problems = [p for n, leg in named if (p := _leg_problem(n, leg, self.state.venues))]
        if not request.saga_id:
            problems.insert(0, "saga_id is empty")
        if problems:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        yes, no = (LegIntent(leg.venue, leg.market_id, Outcome(leg.outcome), leg.qty_micros,
                             leg.limit_price_micros, _unit_cost(leg)) for _, leg in named)
        return yes, no

    async def _compensation_order(self, request: risk_pb2.RiskCheckRequest,
                                  context: Context) -> LegIntent:
        order = request.order
        problems = [] if request.HasField("order") else ["a reduce-only check needs an order"]
        if order.saga_id != request.saga_id:
            problems.append(f"order.saga_id={order.saga_id!r} is not saga_id="
                            f"{request.saga_id!r}")
        leg = opportunity_pb2.Leg(venue=order.venue, market_id=order.market_id,
                                  outcome=order.outcome, qty_micros=order.qty_micros,
                                  limit_price_micros=order.limit_price_micros)
        if problem := _leg_problem("order", leg, self.state.venues):
            problems.append(problem)
        if problems:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        return LegIntent(order.venue, order.market_id, Outcome(order.outcome),
                         order.qty_micros, order.limit_price_micros)

    async def RecordFill(self, request: risk_pb2.FillRecord, context: Context) -> risk_pb2.Empty:
        await require_tenant(request.tenant, self.tenant_id, context)
        if not request.trade_id or request.outcome not in _OUTCOMES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"a fill needs a trade_id and an outcome (trade_id="
                                f"{request.trade_id!r}, outcome={request.outcome})")
        self.state.record_fill(f"{request.venue}:{request.trade_id}", request.venue,
                               request.market_id, Outcome(request.outcome), request.qty_micros,
                               request.price_micros, request.saga_id,
                               request.expected_price_micros, request.fee_micros)
        return risk_pb2.Empty()

    async def RecordSettlement(self, request: risk_pb2.SettlementRecord,
                               context: Context) -> risk_pb2.Empty:
        await require_tenant(request.tenant, self.tenant_id, context)
        if not request.venue or not request.market_id or not (
                0 <= request.yes_payout_micros <= ONE_DOLLAR):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"a settlement needs a venue, a market and a YES payout in "
                                f"[0, {ONE_DOLLAR}] (venue={request.venue!r}, market_id="
                                f"{request.market_id!r}, yes_payout_micros="
                                f"{request.yes_payout_micros})")
        self.state.record_settlement(request.venue, request.market_id,
                                     request.yes_payout_micros)
        return risk_pb2.Empty()

    async def CloseSaga(self, request: risk_pb2.SagaClosed, context: Context) -> risk_pb2.Empty:
        await require_tenant(request.tenant, self.tenant_id, context)
        self.state.close_saga(request.saga_id, request.realized_pnl_micros, request.held)
        return risk_pb2.Empty()

    async def HardStop(self, request: risk_pb2.HardStopRequest, context: Context) -> risk_pb2.HardStopState:
        """Reset (operator), latch with a reason, or, with neither, report the latch."""
        await require_tenant(request.tenant, self.tenant_id, context)
        if sum((request.reset, request.pause, request.resume)) > 1:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "at most one of reset, pause and resume")
        caller = current_peer()
        if (request.reset or request.pause or request.resume) and caller is not None \
                and caller.service != "control":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"only control may pause, resume or reset the HardStop; "
                                f"{caller.service} may only latch it")
        if request.reset:
            try:
                return _view(self.state.reset(_actor(request.actor, context), request.reason,
                                              request.acknowledged))
            except UnacknowledgedTrips as exc:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        if request.resume:
            return _view(self.state.resume(_actor(request.actor, context)))
        if request.pause:
            return _view(self.state.pause(request.reason or "paused",
                                          _actor(request.actor, context)))
        if request.reason:
            return _view(self.state.latch_operator(request.reason,
                                                   _actor(request.actor, context),
                                                   request.unreconciled))
        return _view(self.state.hard_stop())

    async def MarkReady(self, request: risk_pb2.ReadinessRequest, context: Context) -> risk_pb2.ReadinessState:
        await require_tenant(request.tenant, self.tenant_id, context)
        if request.venue not in self.state.venues or request.aspect not in _ASPECTS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"venue={request.venue!r} and aspect={request.aspect} must both "
                                "be set to known values")
        missing = self.state.mark_ready(request.venue, Aspect(request.aspect),
                                        _actor(request.actor, context), ready=not request.lost)
        return risk_pb2.ReadinessState(ready=not missing, missing=missing)

    async def SeedPositions(self, request: risk_pb2.PositionsSeed, context: Context) -> risk_pb2.PositionsSeedResult:
        await require_tenant(request.tenant, self.tenant_id, context)
        snapshot = request.snapshot
        problems = [f"positions[{i}]: outcome={p.outcome} qty_micros={p.qty_micros}"
                    for i, p in enumerate(snapshot.positions)
                    if p.outcome not in _OUTCOMES or p.qty_micros < 0 or not p.market_id]
        if snapshot.venue not in self.state.venues or problems:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"bad positions snapshot for venue={snapshot.venue!r}: "
                                + ("; ".join(problems) or "unknown venue"))
        truth: dict[tuple[str, Outcome], int] = {}
        for p in snapshot.positions:
            key = (p.market_id, Outcome(p.outcome))
            truth[key] = truth.get(key, 0) + p.qty_micros
        found = self.state.seed_positions(snapshot.venue, truth,
                                          _actor(request.actor, context), snapshot.netted)
        return risk_pb2.PositionsSeedResult(discrepancies=found)

    async def ReportBalance(self, request: risk_pb2.BalanceReport,
                            context: Context) -> risk_pb2.FundsState:
        """A gateway's read of its venue balance: new sagas are sized to it from now on."""
        await require_tenant(request.tenant, self.tenant_id, context)
        allowance = request.allowance_micros if request.HasField("allowance_micros") else None
        problems = [f"{name}={value} is negative" for name, value in
                    (("cash_micros", request.cash_micros), ("allowance_micros", allowance))
                    if value is not None and value < 0]
        if request.venue not in self.state.venues:
            problems.insert(0, f"venue={request.venue!r} is not a venue this tenant trades")
        if problems:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(problems))
        spendable = request.cash_micros if allowance is None else min(request.cash_micros,
                                                                     allowance)
        view = self.state.report_balance(request.venue, spendable,
                                         _actor(request.actor, context))
        return _funds(view)

    async def UpdateLimits(self, request: risk_pb2.UpdateLimitsRequest, context: Context) -> risk_pb2.RiskLimitsState:
        """Change limits at runtime (validated like the config file, audited); an empty
        `set` only reads them."""
        await require_tenant(request.tenant, self.tenant_id, context)
        if request.set:
            try:
                self.config = update_limits(self.state, self.config, dict(request.set),
                                            _actor(request.actor, context), request.reason,
                                            self.tier)
            except ConfigError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return risk_pb2.RiskLimitsState(
            limits={k: str(v) for k, v in self.config.model_dump().items()})

    async def PausePair(self, request: risk_pb2.PairPauseRequest,
                        context: Context) -> risk_pb2.PairPauses:
        """Refuse, or again allow, new sagas on one pair (audited)."""
        await require_tenant(request.tenant, self.tenant_id, context)
        if not request.pair_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "pair_id is empty")
        paused = self.state.pause_pair(request.pair_id, request.paused, request.reason,
                                       _actor(request.actor, context))
        return risk_pb2.PairPauses(paused=paused)

    async def Snapshot(self, request: risk_pb2.RiskSnapshotRequest,
                       context: Context) -> risk_pb2.RiskSnapshot:
        """The latch, readiness and funds per venue, and what is held (for operators)."""
        await require_tenant(request.tenant, self.tenant_id, context)
        return snapshot(self.state)

    async def Audit(self, request: risk_pb2.AuditQuery, context: Context) -> risk_pb2.AuditTrail:
        """The audit records after `after_seq`, oldest first."""
        await require_tenant(request.tenant, self.tenant_id, context)
        records = self.state.audit.records
        start = min(request.after_seq, len(records))
        end = len(records) if not request.limit else min(len(records), start + request.limit)
        return risk_pb2.AuditTrail(
            entries=[_entry(seq, records[seq - 1]) for seq in range(start + 1, end + 1)],
            last_seq=len(records))

    async def on_report(self, envelope: Envelope[execution_pb2.ExecutionReport]) -> None:
        report = envelope.value
        if report.tenant_id != self.tenant_id:
            return
        if report.kind == execution_pb2.REPORT_KIND_FILL:
            self.state.record_fill(f"{report.venue}:{report.trade_id}", report.venue,
                                   report.market_id, Outcome(report.outcome), report.qty_micros,
                                   report.price_micros, report.saga_id,
                                   fee=report.fee_micros)
        elif report.kind == execution_pb2.REPORT_KIND_REJECT:
            self.state.record_rejection(f"{report.venue}:{report.client_order_id}")
