"""Saga service: turns opportunities into two-leg executions and follows them to the end.

I/O lives here; every decision is `Saga`'s. Opportunities arrive from the shared market-data
plane, execution reports from the tenant's gateways; risk and order entry are called through
stub-shaped clients (gRPC distributed, `LocalStub` embedded). Every input is written to the
saga log before it is applied, and every order before it is sent, so `recover()` can rebuild
all sagas after a crash and finish them: unsent orders are sent, possibly-sent ones are
looked up at the venue (never blindly re-sent).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from arbiter.core.instruments import Market, Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, QTY_SCALE
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.clock import Clock, wall_micros
from arbiter.platform.ports import OrderEntryPort, RiskPort
from arbiter.platform.telemetry import metrics
from arbiter.platform.tenancy import tenant_headers, tenant_scoped
from arbiter.saga import log as saga_log
from arbiter.saga.legs import LegChooser
from arbiter.saga.log import LogEntry, SagaLog, SqliteSagaLog
from arbiter.saga.machine import (
    LegPlan,
    LegRole,
    OrderRecord,
    PlaceOrder,
    Policy,
    Saga,
    State,
)
from arbiter.saga.timeline import SagaTimeline, per_contract
from arbiter.v1 import common_pb2, execution_pb2, opportunity_pb2, risk_pb2, saga_pb2

log = logging.getLogger(__name__)

FINISHED_FILLS_KEPT = 4096
"""Fills of finished sagas kept to tell risk again after a broker data loss: more than a
tenant fills in the minutes an outage and its detection take."""
_DONE_KINDS = (execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT)


Quote = Callable[[Venue, str, Outcome], int | None]
"""What one contract of an outcome costs on a market's book now, fees in (None: no offer)."""


def _outcome(outcome: Outcome) -> common_pb2.Outcome.ValueType:
    return common_pb2.Outcome.ValueType(outcome)


@dataclass(frozen=True, slots=True)
class SagaStats:
    started: int
    completed: int
    compensated: int
    held: int
    leg1_failed: int
    risk_rejected: int
    expired: int
    orders_sent: int
    fills: int
    realized_pnl: int


class SagaService:
    def __init__(
        self,
        bus: Bus,
        tenant: common_pb2.TenantContext,
        risk: RiskPort,
        gateways: Mapping[Venue, OrderEntryPort],
        ticks: Mapping[tuple[Venue, str], int],
        clock: Clock,
        policy: Policy = Policy(),
        journal: SagaLog | None = None,
        quote: Quote | None = None,
    ) -> None:
        """`quote`, where the books are at hand (embedded), re-prices a leg for the sagas'
        timelines; without it their edges after detection are not measured."""
        self.bus = bus
        self.tenant = tenant
        self.risk = risk
        self.gateways = gateways
        self.ticks = dict(ticks)
        self.clock = clock
        self.policy = policy
        self.journal = journal or SqliteSagaLog(tenant_id=tenant.tenant_id)
        self.sagas: dict[str, Saga] = {}
        self.sent: dict[str, int] = {}  # client order id -> intent time (µs)
        self._opportunities: dict[str, opportunity_pb2.Opportunity] = {}
        # fills risk may not have counted yet (it also counts them off the bus): told to risk
        # before a compensation check of their saga, and all of them after a restart
        self._unreported: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        # ... and those of the latest finished sagas, which a broker's data loss may have
        # taken off the bus before risk read them (told again by `report_fills_again`)
        self._finished_fills: deque[tuple[str, dict[str, Any]]] = deque(
            maxlen=FINISHED_FILLS_KEPT)
        self._fill_seq = 0  # keeps the order fills arrived in across sagas, for risk's monitors
        self._active: set[str] = set()  # sagas not yet terminal, so periodic work stays O(active)
        self.expired = 0
        self.fills = 0
        self.intent_latencies: list[int] = []  # µs from venue message to leg-1 order intent
        self.legs = LegChooser()
        self.orphans_canceled = 0
        self.metrics = metrics.SagaMetrics(tenant.tenant_id)
        self.metrics.watch(lambda: self.in_flight, self._unhedged_contracts)
        self._walls: dict[str, int] = {}  # saga or order id -> wall time of its last stage
        self.quote = quote
        self.timelines: dict[str, SagaTimeline] = {}  # sagas taken since start, for reports
        group = f"saga-{tenant.tenant_id}"
        bus.subscribe(topics.OPPORTUNITIES, group, opportunity_pb2.Opportunity,
                      self.on_opportunity)
        bus.subscribe(topics.EXEC_REPORTS, group, execution_pb2.ExecutionReport,
                      tenant_scoped(topics.EXEC_REPORTS, group, self.on_report,
                                    serves=tenant.tenant_id))

    async def _write(self, saga_id: str, kind: str, **data: Any) -> None:
        await self.journal.append(LogEntry(saga_id, kind, data))

    # -- inputs ----------------------------------------------------------------------
    async def on_opportunity(self, envelope: Envelope[opportunity_pb2.Opportunity]) -> None:
        opp = envelope.value
        saga_id = f"{self.tenant.tenant_id}:{opp.opportunity_id}"
        if saga_id in self.sagas:
            return  # redelivered
        if self.clock.now_micros() >= opp.expires_micros:
            self.expired += 1
            self.metrics.expired.inc()
            return
        yes_first = self.legs.yes_first(opp.yes_leg.venue, opp.no_leg.venue)
        await self._write(saga_id, saga_log.CREATED, pair_id=opp.pair_id, yes_first=yes_first,
                          opportunity=opp.SerializeToString().hex())
        saga = self._new_saga(saga_id, opp, yes_first)
        await self._publish(saga, opportunity=opp)
        decision = await self.risk.CheckRisk(
            risk_pb2.RiskCheckRequest(tenant=self.tenant, saga_id=saga_id, opportunity=opp))
        decided = wall_micros()
        self._walls[saga_id] = decided
        self.metrics.stage("risk_decision", opp.source_received_micros,
                           envelope.published_micros, decided)
        if not decision.approved:
            reason = f"{decision.gate}: {decision.reason}"
            await self._write(saga_id, saga_log.REJECTED, reason=reason)
            saga.reject(reason)
            await self._finish(saga)
            return
        await self._write(saga_id, saga_log.APPROVED, qty=decision.approved_qty_micros)
        commands = saga.approve(decision.approved_qty_micros)
        if opp.qty_micros:
            self.timelines[saga_id] = SagaTimeline(
                opp.created_micros, per_contract(opp.expected_profit_micros, opp.qty_micros))
        self.metrics.taken.inc()
        self.intent_latencies.append(wall_micros() - opp.source_received_micros)
        await self._execute(saga, commands)

    async def on_report(self, envelope: Envelope[execution_pb2.ExecutionReport]) -> None:
        report = envelope.value
        saga = self.sagas.get(report.saga_id)
        if saga is None or report.tenant_id != self.tenant.tenant_id:
            return
        coid = report.client_order_id
        if report.kind == execution_pb2.REPORT_KIND_FILL:
            trade = f"{report.venue}:{report.trade_id}"
            if saga.accepts_fill(coid, trade):
                await self._write(saga.saga_id, saga_log.FILL, coid=coid, trade=trade,
                            price=report.price_micros, qty=report.qty_micros,
                            fee=report.fee_micros)
                saga.on_fill(coid, trade, report.price_micros, report.qty_micros,
                             report.fee_micros)
                self._unreport(saga.saga_id, {
                    "coid": coid, "trade": trade, "price": report.price_micros,
                    "qty": report.qty_micros, "fee": report.fee_micros})
                self.fills += 1
                self.metrics.fill(report.venue)
                if (sent := self._walls.pop(coid, None)) is not None:
                    self.metrics.stage("fill", self._source(saga), sent, wall_micros())
        elif report.kind in _DONE_KINDS and saga.accepts_done(coid):
            canceled = (report.qty_micros if report.kind == execution_pb2.REPORT_KIND_CANCELED
                        else None)
            await self._write(saga.saga_id, saga_log.DONE, coid=coid, canceled=canceled,
                        reason=report.reason)
            saga.on_order_done(coid, canceled, report.reason)
            command = saga.orders[coid].command
            self.legs.observe_fill(command.venue, command.qty,
                                   command.qty - saga.orders[coid].canceled)
        self._stamp_acks(saga)
        await self._execute(saga, saga.progress())

    # -- recovery --------------------------------------------------------------------
    async def recover(self) -> int:
        """Rebuild every saga from the log and drive the unfinished ones to an end.

        Returns how many sagas were still in flight. Must run before new opportunities are
        taken (the embedded mesh and `arbiter serve saga` call it at start). If the venues
        cannot be reconciled, risk's HardStop is latched with the reason: no new trading.
        """
        async for entry in self.journal.replay():
            self._replay(entry)
        unfinished = [s for s in self.sagas.values() if not s.terminal]
        await self._reseed_risk()
        for saga in self.sagas.values():
            if saga.terminal:
                self._active.discard(saga.saga_id)
        try:
            for saga in unfinished:
                await self._resume(saga)
            await self._sweep_orphans()
            await self._sync_venues()
        except Exception as exc:  # noqa: BLE001 - whatever broke, trading must not start
            reason = f"restart reconciliation failed: {type(exc).__name__}: {exc}"
            log.error("%s; latching HardStop", reason)
            await self.risk.HardStop(risk_pb2.HardStopRequest(
                tenant=self.tenant, reason=reason, actor="saga-recovery", unreconciled=True))
        return len(unfinished)

    async def _resume(self, saga: Saga) -> None:
        """Send what was never sent; look up what may have been."""
        for coid, record in list(saga.orders.items()):
            if record.done:
                continue
            if coid in self.sent:
                await self._gateway(record.command.venue).ReconcileOrder(
                    self._request(saga, record.command, self.sent[coid]))
            else:
                await self._execute(saga, [record.command])

    async def _sweep_orphans(self) -> None:
        """After reconciliation: resting orders that no unfinished saga owns are canceled."""
        keep = [coid for saga_id in self._active
                for coid, record in self.sagas[saga_id].orders.items() if not record.done]
        for venue in sorted(self.gateways):
            swept = await self._gateway(venue).CancelOrphans(
                execution_pb2.OrphanSweep(tenant=self.tenant, keep_client_order_ids=keep))
            self.orphans_canceled += len(swept.canceled_venue_order_ids)

    async def _sync_venues(self) -> None:
        """Last step of recovery: each venue's own positions replace what risk derived from
        the log (a fill the log never saw, a position changed by hand), and orders, fills
        and positions are reported synced so risk lets new trades through."""
        for venue in sorted(self.gateways):
            snapshot = await self._gateway(venue).FetchPositions(
                execution_pb2.PositionsRequest(tenant=self.tenant))
            seeded = await self.risk.SeedPositions(risk_pb2.PositionsSeed(
                tenant=self.tenant, snapshot=snapshot, actor="saga-recovery"))
            for line in seeded.discrepancies:
                log.warning("restart: the venue's position differs from the saga log: %s", line)
            for aspect in (risk_pb2.READINESS_ASPECT_ORDER_SNAPSHOT,
                           risk_pb2.READINESS_ASPECT_FILL_SNAPSHOT):
                await self.risk.MarkReady(risk_pb2.ReadinessRequest(
                    tenant=self.tenant, venue=venue, aspect=aspect, actor="saga-recovery"))

    def _replay(self, entry: LogEntry) -> None:
        data, saga = entry.data, self.sagas.get(entry.saga_id)
        if entry.kind == saga_log.CREATED:
            opp = opportunity_pb2.Opportunity.FromString(bytes.fromhex(data["opportunity"]))
            self._new_saga(entry.saga_id, opp, data.get("yes_first", True))
        elif saga is None:
            raise ValueError(f"saga log entry {entry.kind} for unknown saga {entry.saga_id}")
        elif entry.kind == saga_log.REJECTED:
            saga.reject(data["reason"])
        elif entry.kind == saga_log.APPROVED:
            saga.approve(data["qty"])
        elif entry.kind == saga_log.SENT:
            self.sent[data["coid"]] = data["created"]
        elif entry.kind == saga_log.FILL:
            saga.on_fill(data["coid"], data["trade"], data["price"], data["qty"], data["fee"])
            self._unreport(entry.saga_id, data)
            self.fills += 1
        elif entry.kind == saga_log.DONE:
            saga.on_order_done(data["coid"], data["canceled"], data["reason"])
        if saga is not None:
            saga.progress()  # regenerates the same commands; sending is decided by SENT

    async def _reseed_risk(self) -> None:
        """Tell risk what the log knows: open sagas hold their slot, fills their positions."""
        for saga in self.sagas.values():
            if not saga.terminal and saga.state is not State.CREATED:
                opp = self._opportunities[saga.saga_id]
                await self.risk.CheckRisk(risk_pb2.RiskCheckRequest(
                    tenant=self.tenant, saga_id=saga.saga_id, opportunity=opp))
        fills = sorted((seq, saga_id, fill) for saga_id, fills in self._unreported.items()
                       for seq, fill in fills)
        self._unreported.clear()
        for _, saga_id, fill in fills:
            await self._report_fill(saga_id, fill)

    async def report_fills_again(self) -> int:
        """Tell risk again of every fill of the open sagas and of the latest finished ones
        (it counts each trade once): after a broker lost its data, reports risk had not
        read yet are gone. Returns how many were told."""
        fills = [(saga_id, fill) for saga_id, held in sorted(self._unreported.items())
                 for _, fill in held]
        for saga_id, fill in [*self._finished_fills, *fills]:
            await self._report_fill(saga_id, fill)
        return len(self._finished_fills) + len(fills)

    def _unreport(self, saga_id: str, fill: dict[str, Any]) -> None:
        self._fill_seq += 1
        self._unreported[saga_id].append((self._fill_seq, fill))

    async def _report_fill(self, saga_id: str, fill: dict[str, Any]) -> None:
        """Tell risk of one fill it may not have counted (it counts each trade once)."""
        command = self.sagas[saga_id].orders[fill["coid"]].command
        await self.risk.RecordFill(risk_pb2.FillRecord(
            tenant=self.tenant, saga_id=saga_id, venue=command.venue,
            market_id=command.market_id, outcome=_outcome(command.outcome),
            qty_micros=fill["qty"], price_micros=fill["price"], fee_micros=fill["fee"],
            trade_id=fill["trade"].split(":", 1)[1]))  # the venue's own trade id

    async def reconcile_stale(self, older_than_micros: int) -> int:
        """Look up orders whose outcome has not arrived in time (lost replies, dropped
        messages); returns how many were looked up."""
        now, looked = self.clock.now_micros(), 0
        for saga in [self.sagas[saga_id] for saga_id in sorted(self._active)]:
            if saga.terminal:
                continue
            for coid, record in list(saga.orders.items()):
                created = self.sent.get(coid)
                if not record.done and created is not None and now - created >= older_than_micros:
                    looked += 1
                    await self._gateway(record.command.venue).ReconcileOrder(
                        self._request(saga, record.command, created))
        return looked

    def add_market(self, market: Market) -> None:
        """A market listed while running: its tick, for the orders sagas build on it."""
        self.ticks[(market.venue, market.market_id)] = market.tick_micros

    # -- outputs ---------------------------------------------------------------------
    async def _execute(self, saga: Saga, commands: list[PlaceOrder]) -> None:
        """Log and send the machine's orders; those it gives together (both legs, in
        parallel execution) go out together, each logged before any is sent."""
        pending = list(commands)
        while pending:
            batch, pending, ready = pending, [], []
            for command in batch:
                created = self.clock.now_micros()
                request = self._request(saga, command, created)
                if saga.orders[command.client_order_id].strategy is not None:
                    refusal = await self._refused_compensation(saga, request)
                    if refusal:
                        # never sent: the ladder moves on to its next step, or the saga is held
                        await self._write(saga.saga_id, saga_log.DONE,
                                          coid=command.client_order_id, canceled=None,
                                          reason=refusal)
                        saga.on_order_done(command.client_order_id, None, refusal)
                        pending += saga.progress()
                        continue
                await self._write(saga.saga_id, saga_log.SENT, coid=command.client_order_id,
                                  created=created)
                self.sent[command.client_order_id] = created
                ready.append((command, request))
            if ready:
                await self._publish(saga)
            if len(ready) == 1:  # one order at a time: no task between it and its ack
                await self._send(saga, *ready[0])
            elif ready:
                outcomes = await asyncio.gather(
                    *(self._send(saga, command, request) for command, request in ready),
                    return_exceptions=True)
                for outcome in outcomes:
                    if isinstance(outcome, BaseException):
                        raise outcome
        if saga.terminal and saga.saga_id in self._active:
            await self._finish(saga)

    async def _send(self, saga: Saga, command: PlaceOrder,
                    request: execution_pb2.OrderRequest) -> None:
        record = saga.orders[command.client_order_id]
        if record.strategy is not None:
            self.metrics.compensation(record.strategy.slug)
        self._stamp_sent(saga, record)
        sent = wall_micros()
        self.metrics.order_sent(command.venue)
        if (decided := self._walls.pop(saga.saga_id, None)) is not None:
            self.metrics.stage("order_sent", self._source(saga), decided, sent)
        await self._gateway(command.venue).PlaceOrder(request)
        # business time, so that a lock-stepped (embedded) run stays reproducible
        self.legs.observe_ack(command.venue, self.clock.now_micros() - request.created_micros)
        self.metrics.stage("ack", self._source(saga), sent, wall_micros())
        self._walls[command.client_order_id] = sent

    async def _refused_compensation(self, saga: Saga,
                                    request: execution_pb2.OrderRequest) -> str:
        """Risk's reduce-only check of a compensation order, after telling risk every fill of
        the saga it decides from; the refusal's reason, or "" when it may go."""
        try:
            for _, fill in self._unreported.pop(saga.saga_id, ()):
                await self._report_fill(saga.saga_id, fill)
            decision = await self.risk.CheckRisk(risk_pb2.RiskCheckRequest(
                tenant=self.tenant, saga_id=saga.saga_id, reduce_only=True, order=request,
                opportunity=self._opportunities[saga.saga_id]))
        except Exception as exc:  # noqa: BLE001 - whatever broke, the hedge must not wait
            # The machine sizes every compensation order to what is unhedged, on the short
            # side; an unreachable risk service must not leave the leg open, as it would
            # not block a cancel. (Risk still counts the fills off the bus.)
            log.error("ALERT saga %s: risk unreachable (%s: %s); compensation order %s sent "
                      "unchecked", saga.saga_id, type(exc).__name__, exc,
                      request.client_order_id)
            return ""
        if decision.approved:
            return ""
        log.error("ALERT saga %s: risk refused compensation order %s: %s: %s", saga.saga_id,
                  request.client_order_id, decision.gate, decision.reason)
        return f"risk refused compensation: {decision.gate}: {decision.reason}"

    def _request(self, saga: Saga, command: PlaceOrder, created: int) -> execution_pb2.OrderRequest:
        record = saga.orders[command.client_order_id]
        return execution_pb2.OrderRequest(
            tenant=self.tenant,
            client_order_id=command.client_order_id,
            venue=command.venue,
            market_id=command.market_id,
            outcome=_outcome(command.outcome),
            limit_price_micros=command.limit_price,
            qty_micros=command.qty,
            tif=execution_pb2.TIME_IN_FORCE_IOC,
            saga_id=saga.saga_id,
            created_micros=created,
            # at the venue only an unwind shrinks a position (leg 2 opens one on its venue)
            reduce_only=record.role is LegRole.UNWIND,
            role=execution_pb2.LegRole.ValueType(record.role),
            strategy=execution_pb2.HedgeStrategy.ValueType(record.strategy or 0),
        )

    def _gateway(self, venue: Venue) -> OrderEntryPort:
        return self.gateways[venue]

    # -- timelines (reporting only) --------------------------------------------------
    def _stamp_sent(self, saga: Saga, record: OrderRecord) -> None:
        timeline = self.timelines.get(saga.saga_id)
        if timeline is None or record.strategy is not None:
            return
        now = self.clock.now_micros()
        if record.role is LegRole.FIRST and timeline.leg1_sent is None:
            timeline.leg1_sent = now
        elif record.role is LegRole.SECOND and timeline.leg2_sent is None:
            timeline.leg2_sent = now

    def _stamp_acks(self, saga: Saga) -> None:
        """Stamp a leg's ack once its outcome is known, and re-price the edge then."""
        timeline = self.timelines.get(saga.saga_id)
        if timeline is None:
            return
        now = self.clock.now_micros()
        for record in saga.orders.values():
            if record.strategy is not None or not record.done:
                continue
            if record.role is LegRole.FIRST and timeline.leg1_ack is None:
                timeline.leg1_ack = now
                if record.filled:
                    timeline.edge_at_leg1_ack = self._edge_to_complete(saga, record)
            elif record.role is LegRole.SECOND and timeline.leg2_ack is None:
                timeline.leg2_ack = now
                hedged = min(saga.units(Outcome.YES), saga.units(Outcome.NO))
                if hedged:
                    timeline.edge_at_leg2_ack = per_contract(saga.realized_pnl(), hedged)

    def _edge_to_complete(self, saga: Saga, leg1: OrderRecord) -> int | None:
        """$1 less what leg 1 paid per contract less leg 2's price on the book now."""
        other = saga.leg2
        price = None if self.quote is None else self.quote(other.venue, other.market_id,
                                                           other.outcome)
        if price is None:
            return None
        return ONE_DOLLAR - per_contract(leg1.cost + leg1.fees, leg1.filled) - price

    def _stamp_end(self, saga: Saga) -> None:
        """A saga that compensated: what it locked in short of the plan for leg 1's fills."""
        timeline = self.timelines.get(saga.saga_id)
        if timeline is None or saga.state not in (State.COMPENSATED, State.HELD):
            return
        planned = timeline.edge_at_detection * saga.filled(LegRole.FIRST) // QTY_SCALE
        timeline.compensation_cost = planned - saga.realized_pnl()

    async def _finish(self, saga: Saga) -> None:
        self._active.discard(saga.saga_id)
        self._stamp_end(saga)
        # risk has them off the bus by now, unless the broker loses them
        self._finished_fills.extend((saga.saga_id, fill)
                                    for _, fill in self._unreported.pop(saga.saga_id, ()))
        self._walls.pop(saga.saga_id, None)
        for coid in saga.orders:
            self._walls.pop(coid, None)
        started = self._opportunities[saga.saga_id].created_micros
        self.metrics.finished(saga.state.name.lower(),
                              max(0, self.clock.now_micros() - started) / 1e6,
                              0 if saga.state is State.RISK_REJECTED else saga.realized_pnl())
        if saga.state is State.HELD:
            self.metrics.compensation("hold")
            log.error("ALERT saga %s held: %s", saga.saga_id, saga.detail)
        await self._publish(saga)
        if saga.state is not State.RISK_REJECTED:
            await self.risk.CloseSaga(risk_pb2.SagaClosed(
                tenant=self.tenant, saga_id=saga.saga_id, pair_id=saga.pair_id,
                realized_pnl_micros=saga.realized_pnl(), held=saga.state is State.HELD))

    async def _publish(self, saga: Saga, opportunity: opportunity_pb2.Opportunity | None = None) -> None:
        event = saga_pb2.SagaEvent(
            tenant_id=self.tenant.tenant_id,
            saga_id=saga.saga_id,
            version=saga.version,
            state=saga_pb2.SagaState.ValueType(saga.state),
            detail=saga.detail,
            ts_micros=self.clock.now_micros(),
            leg1_filled_micros=saga.filled(LegRole.FIRST),
            leg2_filled_micros=saga.filled(LegRole.SECOND),
            realized_pnl_micros=saga.realized_pnl() if saga.terminal else 0,
        )
        if opportunity is not None:
            event.opportunity.CopyFrom(opportunity)
        await self.bus.publish(topics.SAGA_EVENTS, saga.saga_id, event,
                               headers=tenant_headers(self.tenant))

    def _new_saga(self, saga_id: str, opp: opportunity_pb2.Opportunity, yes_first: bool) -> Saga:
        yes, no = self._plan(opp.yes_leg, Outcome.YES), self._plan(opp.no_leg, Outcome.NO)
        first, second = (yes, no) if yes_first else (no, yes)
        saga = Saga(saga_id, opp.pair_id, first, second, self.policy)
        self.sagas[saga_id] = saga
        self._active.add(saga_id)
        self._opportunities[saga_id] = opp
        return saga

    def _plan(self, leg: opportunity_pb2.Leg, event_side: Outcome) -> LegPlan:
        return LegPlan(leg.venue, leg.market_id, Outcome(leg.outcome), leg.limit_price_micros,
                       self.ticks[(leg.venue, leg.market_id)], event_side)

    def _source(self, saga: Saga) -> int:
        return self._opportunities[saga.saga_id].source_received_micros

    def _unhedged_contracts(self) -> float:
        """For the unhedged-exposure gauge (telemetry only: contracts as a float)."""
        held = sum(self.sagas[s].unhedged for s in self._active)
        held += sum(s.unhedged for s in self.sagas.values() if s.state is State.HELD)
        return held / 1e6

    # -- views -----------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._active)

    @property
    def positions(self) -> dict[tuple[Venue, str, Outcome], int]:
        """The engine's positions: every counted fill of every saga."""
        held: dict[tuple[Venue, str, Outcome], int] = defaultdict(int)
        for saga in self.sagas.values():
            for record in saga.orders.values():
                command = record.command
                held[(command.venue, command.market_id, command.outcome)] += record.filled
        return held

    def stats(self) -> SagaStats:
        outcomes = Counter(s.state for s in self.sagas.values() if s.terminal)
        return SagaStats(
            started=sum(1 for s in self.sagas.values()
                        if s.state not in (State.CREATED, State.RISK_REJECTED)),
            completed=outcomes[State.COMPLETED],
            compensated=outcomes[State.COMPENSATED],
            held=outcomes[State.HELD],
            leg1_failed=outcomes[State.LEG1_FAILED],
            risk_rejected=outcomes[State.RISK_REJECTED],
            expired=self.expired,
            orders_sent=len(self.sent),
            fills=self.fills,
            realized_pnl=sum(s.realized_pnl() for s in self.sagas.values() if s.terminal),
        )
