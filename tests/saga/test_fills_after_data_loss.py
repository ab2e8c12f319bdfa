"""After a broker lost its data, the saga tells risk again of the fills it knows of.

Risk counts fills off the bus; the saga tells it directly only before a compensation check
and after a restart. A broker that lost the reports risk had not read yet would otherwise
leave risk short of positions the venue holds (seen in the multi-process broker test:
risk 143 contracts, the venue 182), for sagas already finished too."""

from __future__ import annotations

from test_compensation_risk import LOT, T0, Gateway, _opportunity, state

from arbiter.platform.bus import Envelope
from arbiter.platform.bus.memory import MemoryBus
from arbiter.platform.clock import ManualClock
from arbiter.platform.config import RiskConfig
from arbiter.platform.rpc import LocalStub
from arbiter.risk.service import RiskServicer
from arbiter.saga.log import SqliteSagaLog
from arbiter.saga.machine import Policy, State
from arbiter.saga.service import SagaService
from arbiter.v1 import common_pb2, execution_pb2

REPORT = execution_pb2.ExecutionReport


async def fill_whole(saga: SagaService, request: execution_pb2.OrderRequest, trade: str) -> None:
    """The venue's reports of an order filled in full: its one fill, then its end."""
    order = {"tenant_id": "t1", "saga_id": request.saga_id, "venue": request.venue,
             "client_order_id": request.client_order_id}
    await saga.on_report(Envelope("exec.reports", "k", REPORT(
        **order, market_id=request.market_id, outcome=request.outcome, trade_id=trade,
        qty_micros=request.qty_micros, price_micros=request.limit_price_micros,
        kind=execution_pb2.REPORT_KIND_FILL)))
    await saga.on_report(Envelope("exec.reports", "k", REPORT(
        **order, qty_micros=0, kind=execution_pb2.REPORT_KIND_CANCELED)))


async def test_a_finished_sagas_fills_reach_a_risk_that_never_read_their_reports() -> None:
    clock = ManualClock(T0)
    risk_state = state(clock)
    risk = RiskServicer(risk_state, RiskConfig(), "t1")  # no bus: the reports never reach it
    gateways = {"polymarket": Gateway(), "kalshi": Gateway()}
    saga = SagaService(MemoryBus(), common_pb2.TenantContext(tenant_id="t1"), LocalStub(risk),
                       gateways, {("polymarket", "pm"): 10_000, ("kalshi", "ks"): 10_000},
                       clock, Policy(()), SqliteSagaLog(tenant_id="t1"))
    await saga.on_opportunity(Envelope("opportunities", "o1", _opportunity(clock)))
    (leg1,) = gateways["polymarket"].sent
    await fill_whole(saga, leg1, "t-1")
    (leg2,) = gateways["kalshi"].sent
    await fill_whole(saga, leg2, "t-2")
    (done,) = saga.sagas.values()
    assert done.state is State.COMPLETED
    assert risk_state.ledger.positions() == {}  # what the lost reports would have told it

    assert await saga.report_fills_again() == 2
    held = {("polymarket", "pm", 1): 10 * LOT, ("kalshi", "ks", 2): 10 * LOT}
    assert risk_state.ledger.positions() == held
    await saga.report_fills_again()  # a second loss: risk counts each trade once
    assert risk_state.ledger.positions() == held
