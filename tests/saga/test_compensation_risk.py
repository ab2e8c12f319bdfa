"""Compensation goes through risk's hedge-aware reduce-only check.

Two levels: the pure state machine against the pure check over random fill sequences
(hypothesis), and the saga service against the real risk servicer, where a refused
compensation order is never sent and the ladder moves on.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.instruments import Outcome
from arbiter.platform.bus import Envelope
from arbiter.platform.bus.memory import MemoryBus
from arbiter.platform.clock import ManualClock
from arbiter.platform.config import RiskConfig
from arbiter.platform.rpc import LocalStub
from arbiter.risk.gates import Gate, LegIntent, SagaLegs, check_compensation
from arbiter.risk.service import RiskServicer, limits_from_config
from arbiter.risk.state import RiskState
from arbiter.saga.log import SqliteSagaLog
from arbiter.saga.machine import HedgeStep, HedgeStrategy, LegPlan, LegRole, Policy, Saga, State
from arbiter.saga.service import SagaService
from arbiter.v1 import common_pb2, execution_pb2, opportunity_pb2

T0 = 1_700_000_000_000_000


def state(clock: ManualClock) -> RiskState:
    """Risk with default limits, synced: only what a test does to it can refuse an order."""
    risk = RiskState(limits_from_config(RiskConfig()), clock, ("polymarket", "kalshi"))
    for venue in ("polymarket", "kalshi"):
        risk.mark_venue_ready(venue, "test")
        risk.report_balance(venue, 10**12, "test")
    return risk

LOT = 1_000_000
LEG1 = LegPlan("polymarket", "pm", Outcome.YES, 420_000, 10_000, Outcome.YES)
LEG2 = LegPlan("kalshi", "ks", Outcome.NO, 540_000, 10_000, Outcome.NO)
LEGS = SagaLegs((LEG1.venue, LEG1.market_id, LEG1.outcome),
                (LEG2.venue, LEG2.market_id, LEG2.outcome))
STEPS = st.sampled_from([HedgeStep(HedgeStrategy.RETRY), HedgeStep(HedgeStrategy.CHASE, 1),
                         HedgeStep(HedgeStrategy.CHASE, 3)])


@settings(max_examples=400, deadline=None)
@given(lots=st.integers(1, 40), fills=st.lists(st.integers(0, 100), max_size=10),
       ladder=st.lists(STEPS, max_size=4), unwinds=st.integers(1, 2),
       unwind_fills=st.booleans(), parallel=st.booleans())
def test_over_any_fills_no_compensation_adds_exposure_and_the_saga_ends_flat_or_held(
    lots: int, fills: list[int], ladder: list[HedgeStep], unwinds: int, unwind_fills: bool,
    parallel: bool,
) -> None:
    """Sequential or parallel: whichever leg falls short, every hedge order passes risk's
    reduce-only check and never leaves the saga more exposed."""
    policy = Policy((*ladder, *[HedgeStep(HedgeStrategy.UNWIND)] * unwinds), parallel=parallel)
    saga = Saga("t:s", "pair", LEG1, LEG2, policy)
    held: dict[Any, int] = {}  # risk's own count of the saga's fills, by key
    pending, percents, trade = saga.approve(lots * LOT), iter(fills), 0
    while pending:
        command = pending.pop(0)
        record = saga.orders[command.client_order_id]
        key = (command.venue, command.market_id, command.outcome)
        before = LEGS.net(held)
        if record.strategy is not None:
            decision = check_compensation(LEGS, (LEGS.yes, LEGS.no), held,
                                          LegIntent(*key, command.qty, command.limit_price))
            assert decision.approved, decision  # the machine only ever asks for a hedge
        percent = 100 if record.role is LegRole.UNWIND and unwind_fills else next(percents, 0)
        qty = command.qty * percent // 100
        if qty:
            trade += 1
            saga.on_fill(command.client_order_id, f"T{trade}", command.limit_price, qty, 0)
            held[key] = held.get(key, 0) + qty
        if record.strategy is not None:  # filled in full or not, never more exposed
            assert abs(LEGS.net(held)) <= abs(before) and LEGS.net(held) * before >= 0
        saga.on_order_done(command.client_order_id)
        pending += saga.progress()
        assert len(saga.orders) <= 2 + len(policy.ladder)
    assert saga.terminal
    assert abs(LEGS.net(held)) == saga.unhedged
    if saga.state is not State.HELD:
        assert saga.unhedged == 0  # flat (leg 1 failed) or hedged
    if unwind_fills:
        assert saga.state is not State.HELD  # an unwind that fills always ends flat


class Gateway:
    """Order entry that records what it was sent; fills are reported by the test."""

    def __init__(self) -> None:
        self.sent: list[execution_pb2.OrderRequest] = []

    async def PlaceOrder(self, request: execution_pb2.OrderRequest) -> execution_pb2.OrderAck:
        self.sent.append(request)
        return execution_pb2.OrderAck(accepted=True, venue_order_id=request.client_order_id)


def _opportunity(clock: ManualClock) -> opportunity_pb2.Opportunity:
    leg = opportunity_pb2.Leg
    return opportunity_pb2.Opportunity(
        opportunity_id="o1", pair_id="p1", created_micros=clock.now_micros(),
        expires_micros=clock.now_micros() + 10**9,
        yes_leg=leg(venue="polymarket", market_id="pm", outcome=1, qty_micros=10 * LOT,
                    limit_price_micros=420_000),
        no_leg=leg(venue="kalshi", market_id="ks", outcome=2, qty_micros=10 * LOT,
                   limit_price_micros=540_000))


async def test_every_compensation_order_is_checked_and_a_refused_one_is_never_sent() -> None:
    clock, bus = ManualClock(T0), MemoryBus()
    risk_state = state(clock)
    risk = RiskServicer(risk_state, RiskConfig(), "t1")  # no bus: risk learns fills only from the saga
    gateways = {"polymarket": Gateway(), "kalshi": Gateway()}
    tenant = common_pb2.TenantContext(tenant_id="t1")
    ladder = Policy((HedgeStep(HedgeStrategy.RETRY), HedgeStep(HedgeStrategy.UNWIND)))
    saga = SagaService(bus, tenant, LocalStub(risk), gateways, {("polymarket", "pm"): 10_000,
                       ("kalshi", "ks"): 10_000}, clock, ladder, SqliteSagaLog(tenant_id="t1"))
    await saga.on_opportunity(Envelope("opportunities", "o1", _opportunity(clock)))

    async def report(request: execution_pb2.OrderRequest, filled: int) -> None:
        kind = execution_pb2.ExecutionReport
        if filled:
            await saga.on_report(Envelope("x", "k", kind(
                tenant_id="t1", saga_id=request.saga_id, client_order_id=request.client_order_id,
                venue=request.venue, trade_id=request.client_order_id, qty_micros=filled,
                price_micros=request.limit_price_micros, kind=execution_pb2.REPORT_KIND_FILL)))
        await saga.on_report(Envelope("x", "k", kind(
            tenant_id="t1", saga_id=request.saga_id, client_order_id=request.client_order_id,
            venue=request.venue, qty_micros=request.qty_micros - filled,
            kind=execution_pb2.REPORT_KIND_CANCELED)))

    (leg1,) = gateways["polymarket"].sent
    assert (leg1.role, leg1.strategy) == (execution_pb2.LEG_ROLE_FIRST, 0)
    await report(leg1, 6 * LOT)
    (leg2,) = gateways["kalshi"].sent
    risk_state.latch_operator("kill switch: drill", "ops")  # halted: hedges still go
    await report(leg2, 2 * LOT)
    retry = gateways["kalshi"].sent[1]
    assert (retry.role, retry.strategy, retry.qty_micros) == (
        execution_pb2.LEG_ROLE_SECOND, execution_pb2.HEDGE_STRATEGY_RETRY, 4 * LOT)
    assert risk.checks == 2  # the saga's approval, then the retry's reduce-only check
    await report(retry, 0)
    unwind = gateways["polymarket"].sent[1]
    assert (unwind.role, unwind.strategy, unwind.outcome, unwind.reduce_only) == (
        execution_pb2.LEG_ROLE_UNWIND, execution_pb2.HEDGE_STRATEGY_UNWIND, 2, True)
    assert unwind.qty_micros == 4 * LOT and risk.checks == 3
    await report(unwind, 4 * LOT)
    (done,) = saga.sagas.values()
    assert done.state is State.COMPENSATED and done.unhedged == 0


async def test_risk_refusing_a_compensation_order_moves_the_ladder_on_and_holds_at_its_end() -> None:
    clock, bus = ManualClock(T0), MemoryBus()
    risk = RiskServicer(state(clock), RiskConfig(), "t1")
    gateways = {"polymarket": Gateway(), "kalshi": Gateway()}
    tenant = common_pb2.TenantContext(tenant_id="t1")
    saga = SagaService(bus, tenant, LocalStub(risk), gateways, {("polymarket", "pm"): 10_000,
                       ("kalshi", "ks"): 10_000}, clock,
                       Policy((HedgeStep(HedgeStrategy.RETRY), HedgeStep(HedgeStrategy.UNWIND))),
                       SqliteSagaLog(tenant_id="t1"))
    await saga.on_opportunity(Envelope("opportunities", "o1", _opportunity(clock)))
    (leg1,) = gateways["polymarket"].sent
    (one,) = saga.sagas.values()
    # the machine believes leg 1 filled, but the fill is not one risk can count (a saga of
    # another id): to risk this saga is flat, so every compensation would open exposure
    one.on_fill(leg1.client_order_id, "ghost", 420_000, 5 * LOT, 0)
    one.on_order_done(leg1.client_order_id, 5 * LOT)
    await saga._execute(one, one.progress())
    (leg2,) = gateways["kalshi"].sent
    kind = execution_pb2.ExecutionReport
    await saga.on_report(Envelope("x", "k", kind(
        tenant_id="t1", saga_id=leg2.saga_id, client_order_id=leg2.client_order_id,
        venue="kalshi", qty_micros=leg2.qty_micros, kind=execution_pb2.REPORT_KIND_CANCELED)))
    assert len(gateways["kalshi"].sent) == 1 and len(gateways["polymarket"].sent) == 1
    assert one.state is State.HELD
    refused = [r for r in one.orders.values() if r.strategy is not None]
    assert [r.strategy for r in refused] == [HedgeStrategy.RETRY, HedgeStrategy.UNWIND]
    assert all(r.closed and r.filled == 0 for r in refused)
    assert risk.rejections == {Gate.INCREASES_EXPOSURE: 2}


class Unreachable:
    """A risk port whose compensation checks fail in transport (risk down, partitioned)."""

    def __init__(self, risk: RiskServicer) -> None:
        self._risk = LocalStub(risk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._risk, name)

    async def CheckRisk(self, request: Any) -> Any:
        if request.reduce_only:
            raise ConnectionError("risk is unreachable")
        return await self._risk.CheckRisk(request)


async def test_an_unreachable_risk_service_does_not_leave_the_leg_open() -> None:
    clock = ManualClock(T0)
    gateways = {"polymarket": Gateway(), "kalshi": Gateway()}
    saga = SagaService(MemoryBus(), common_pb2.TenantContext(tenant_id="t1"),
                       Unreachable(RiskServicer(state(clock), RiskConfig(), "t1")), gateways,
                       {("polymarket", "pm"): 10_000, ("kalshi", "ks"): 10_000}, clock,
                       Policy((HedgeStep(HedgeStrategy.UNWIND),)), SqliteSagaLog(tenant_id="t1"))
    await saga.on_opportunity(Envelope("opportunities", "o1", _opportunity(clock)))
    kind = execution_pb2.ExecutionReport
    for venue, filled in (("polymarket", 3 * LOT), ("kalshi", 0)):
        request = gateways[venue].sent[-1]
        if filled:
            await saga.on_report(Envelope("x", "k", kind(
                tenant_id="t1", saga_id=request.saga_id, client_order_id=request.client_order_id,
                venue=venue, trade_id="T1", qty_micros=filled, price_micros=420_000,
                kind=execution_pb2.REPORT_KIND_FILL)))
        await saga.on_report(Envelope("x", "k", kind(
            tenant_id="t1", saga_id=request.saga_id, client_order_id=request.client_order_id,
            venue=venue, qty_micros=request.qty_micros - filled,
            kind=execution_pb2.REPORT_KIND_CANCELED)))
    unwind = gateways["polymarket"].sent[-1]
    assert unwind.strategy == execution_pb2.HEDGE_STRATEGY_UNWIND and unwind.qty_micros == 3 * LOT
