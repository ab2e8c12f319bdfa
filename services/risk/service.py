"""Risk gRPC service: CheckRisk / RecordFill / CloseSaga / HardStop over `RiskState`.

It also consumes execution reports from the bus, so positions follow every fill even when
no saga reports them; fills are counted once per trade id either way.
"""

from __future__ import annotations

from arbiter.core.instruments import Outcome
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.rpc import require_tenant
from arbiter.risk.gates import LegIntent, RiskState
from arbiter.v1 import execution_pb2, risk_pb2, risk_pb2_grpc


class RiskServicer(risk_pb2_grpc.RiskServicer):
    def __init__(self, state: RiskState, tenant_id: str, bus: Bus | None = None) -> None:
        self.state = state
        self.tenant_id = tenant_id
        self.checks = 0
        self.rejections: dict[str, int] = {}
        if bus is not None:
            bus.subscribe(topics.EXEC_REPORTS, "risk", execution_pb2.ExecutionReport,
                          self.on_report)

    async def CheckRisk(self, request: risk_pb2.RiskCheckRequest, context) -> risk_pb2.RiskDecision:  # noqa: N802, ANN001
        await require_tenant(request.tenant, self.tenant_id, context)
        self.checks += 1
        opp = request.opportunity
        legs = tuple(
            LegIntent(leg.venue, leg.market_id, Outcome(leg.outcome), leg.qty_micros,
                      leg.limit_price_micros)
            for leg in (opp.yes_leg, opp.no_leg)
        )
        decision = self.state.check(request.saga_id, opp.pair_id, legs)
        if not decision.approved:
            self.rejections[decision.gate] = self.rejections.get(decision.gate, 0) + 1
        return risk_pb2.RiskDecision(
            approved=decision.approved, gate=decision.gate, reason=decision.reason,
            approved_qty_micros=decision.qty,
        )

    async def RecordFill(self, request: risk_pb2.FillRecord, context) -> risk_pb2.Empty:  # noqa: N802, ANN001
        await require_tenant(request.tenant, self.tenant_id, context)
        self.state.record_fill(f"{request.venue}:{request.trade_id}", request.venue,
                               request.market_id,
                               Outcome(request.outcome), request.qty_micros)
        return risk_pb2.Empty()

    async def CloseSaga(self, request: risk_pb2.SagaClosed, context) -> risk_pb2.Empty:  # noqa: N802, ANN001
        await require_tenant(request.tenant, self.tenant_id, context)
        self.state.close_saga(request.saga_id)
        return risk_pb2.Empty()

    async def HardStop(self, request: risk_pb2.HardStopRequest, context) -> risk_pb2.HardStopState:  # noqa: N802, ANN001
        await require_tenant(request.tenant, self.tenant_id, context)
        if request.reset:
            self.state.reset()
        elif request.reason:
            self.state.latch(request.reason)
        return risk_pb2.HardStopState(latched=bool(self.state.hard_stop),
                                      reason=self.state.hard_stop)

    async def on_report(self, envelope: Envelope[execution_pb2.ExecutionReport]) -> None:
        report = envelope.value
        if report.kind == execution_pb2.REPORT_KIND_FILL and report.tenant_id == self.tenant_id:
            self.state.record_fill(f"{report.venue}:{report.trade_id}", report.venue,
                                   report.market_id, Outcome(report.outcome), report.qty_micros)
