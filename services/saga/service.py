"""Saga service: turns opportunities into two-leg executions and follows them to the end.

I/O lives here; every decision is `Saga`'s. Opportunities arrive from the shared market-data
plane, execution reports from the tenant's gateways; risk and order entry are called through
stub-shaped clients (gRPC distributed, `LocalStub` embedded).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arbiter.core.instruments import Outcome
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.clock import Clock, wall_micros
from arbiter.saga.machine import LegPlan, PlaceOrder, Policy, Saga, State
from arbiter.v1 import common_pb2, execution_pb2, opportunity_pb2, risk_pb2, saga_pb2

log = logging.getLogger(__name__)


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
        risk: Any,
        gateways: Mapping[int, Any],
        ticks: Mapping[tuple[int, str], int],
        clock: Clock,
        policy: Policy = Policy(),
    ) -> None:
        self.bus = bus
        self.tenant = tenant
        self.risk = risk
        self.gateways = gateways
        self.ticks = ticks
        self.clock = clock
        self.policy = policy
        self.sagas: dict[str, Saga] = {}
        self._closed: set[str] = set()
        self.outcomes: Counter[str] = Counter()
        self.orders_sent = 0
        self.fills = 0
        self.expired = 0
        self.positions: dict[tuple[int, str, Outcome], int] = defaultdict(int)
        self.intent_latencies: list[int] = []  # µs from venue message to leg-1 order intent
        bus.subscribe(topics.OPPORTUNITIES, f"saga-{tenant.tenant_id}",
                      opportunity_pb2.Opportunity, self.on_opportunity)
        bus.subscribe(topics.EXEC_REPORTS, f"saga-{tenant.tenant_id}",
                      execution_pb2.ExecutionReport, self.on_report)

    # -- inputs ----------------------------------------------------------------------
    async def on_opportunity(self, envelope: Envelope[opportunity_pb2.Opportunity]) -> None:
        opp = envelope.value
        saga_id = f"{self.tenant.tenant_id}:{opp.opportunity_id}"
        if saga_id in self.sagas:
            return  # redelivered
        if self.clock.now_micros() >= opp.expires_micros:
            self.expired += 1
            return
        saga = Saga(saga_id, opp.pair_id, self._plan(opp.yes_leg, Outcome.YES),
                    self._plan(opp.no_leg, Outcome.NO), self.policy)
        self.sagas[saga_id] = saga
        await self._publish(saga, opportunity=opp)
        decision = await self.risk.CheckRisk(
            risk_pb2.RiskCheckRequest(tenant=self.tenant, saga_id=saga_id, opportunity=opp))
        if not decision.approved:
            saga.reject(f"{decision.gate}: {decision.reason}")
            await self._finish(saga)
            return
        commands = saga.approve(decision.approved_qty_micros)
        self.intent_latencies.append(wall_micros() - opp.source_received_micros)
        await self._execute(saga, commands)

    async def on_report(self, envelope: Envelope[execution_pb2.ExecutionReport]) -> None:
        report = envelope.value
        saga = self.sagas.get(report.saga_id)
        if saga is None or report.tenant_id != self.tenant.tenant_id:
            return
        commands: list[PlaceOrder] = []
        if report.kind == execution_pb2.REPORT_KIND_FILL:
            if saga.on_fill(report.client_order_id, f"{report.venue}:{report.trade_id}",
                            report.price_micros, report.qty_micros, report.fee_micros):
                self.fills += 1
                self.positions[(report.venue, report.market_id, Outcome(report.outcome))] += (
                    report.qty_micros)
        elif report.kind in (execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT):
            commands = saga.on_order_done(report.client_order_id, report.reason)
        await self._execute(saga, commands)

    # -- outputs ---------------------------------------------------------------------
    async def _execute(self, saga: Saga, commands: list[PlaceOrder]) -> None:
        for command in commands:
            await self._publish(saga)
            self.orders_sent += 1
            request = execution_pb2.OrderRequest(
                tenant=self.tenant,
                client_order_id=command.client_order_id,
                venue=command.venue,
                market_id=command.market_id,
                outcome=int(command.outcome),
                limit_price_micros=command.limit_price,
                qty_micros=command.qty,
                tif=execution_pb2.TIME_IN_FORCE_IOC,
                saga_id=saga.saga_id,
            )
            await self.gateways[command.venue].PlaceOrder(request)
        if saga.terminal and saga.saga_id not in self._closed:
            await self._finish(saga)

    async def _finish(self, saga: Saga) -> None:
        self._closed.add(saga.saga_id)
        self.outcomes[saga.state.name] += 1
        if saga.state is State.HELD:
            log.error("ALERT saga %s held: %s", saga.saga_id, saga.detail)
        await self._publish(saga)
        if saga.state is not State.RISK_REJECTED:
            await self.risk.CloseSaga(risk_pb2.SagaClosed(
                tenant=self.tenant, saga_id=saga.saga_id, pair_id=saga.pair_id,
                realized_pnl_micros=saga.realized_pnl()))

    async def _publish(self, saga: Saga, opportunity: opportunity_pb2.Opportunity | None = None) -> None:
        event = saga_pb2.SagaEvent(
            tenant_id=self.tenant.tenant_id,
            saga_id=saga.saga_id,
            version=saga.version,
            state=int(saga.state),
            detail=saga.detail,
            ts_micros=self.clock.now_micros(),
            leg1_filled_micros=saga.filled("leg1"),
            leg2_filled_micros=saga.filled("leg2"),
            realized_pnl_micros=saga.realized_pnl() if saga.terminal else 0,
        )
        if opportunity is not None:
            event.opportunity.CopyFrom(opportunity)
        await self.bus.publish(topics.SAGA_EVENTS, saga.saga_id, event)

    def _plan(self, leg: opportunity_pb2.Leg, event_side: Outcome) -> LegPlan:
        return LegPlan(leg.venue, leg.market_id, Outcome(leg.outcome), leg.limit_price_micros,
                       self.ticks[(leg.venue, leg.market_id)], event_side)

    @property
    def in_flight(self) -> int:
        return sum(1 for s in self.sagas.values() if not s.terminal)

    def stats(self) -> SagaStats:
        o = self.outcomes
        return SagaStats(
            started=sum(1 for s in self.sagas.values()
                        if s.state not in (State.CREATED, State.RISK_REJECTED)),
            completed=o[State.COMPLETED.name],
            compensated=o[State.COMPENSATED.name],
            held=o[State.HELD.name],
            leg1_failed=o[State.LEG1_FAILED.name],
            risk_rejected=o[State.RISK_REJECTED.name],
            expired=self.expired,
            orders_sent=self.orders_sent,
            fills=self.fills,
            realized_pnl=sum(s.realized_pnl() for s in self.sagas.values() if s.terminal),
        )
