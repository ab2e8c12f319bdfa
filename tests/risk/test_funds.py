"""Capital: every new saga is sized to what both legs' venues can pay for, both legs' cost is
reserved before leg 1 and released at the end, and a balance under the minimum drops
trading readiness."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.instruments import Outcome
from arbiter.core.units import notional
from arbiter.platform.clock import ManualClock
from arbiter.risk.audit import AuditAction
from arbiter.risk.gates import Gate, LegIntent
from arbiter.risk.readiness import Aspect
from arbiter.risk.service import RiskServicer
from arbiter.risk.state import RiskState
from arbiter.v1 import common_pb2, opportunity_pb2, risk_pb2

from .helpers import T0, C, config_of, legs, state

TENANT = common_pb2.TenantContext(tenant_id="acme")


def funded(polymarket: int, kalshi: int, **changes: object) -> RiskState:
    risk = state(**changes)
    risk.report_balance("polymarket", polymarket, "gateway")
    risk.report_balance("kalshi", kalshi, "gateway")
    return risk


def test_an_opportunity_larger_than_one_venues_balance_is_sized_to_it() -> None:
    risk = funded(1_000 * C, 25 * C)  # Kalshi can pay for 50 NO at $0.50
    decision = risk.check("s1", "p1", legs(qty=200 * C))
    assert decision.approved and decision.qty == 50 * C
    assert risk.ledger.reserved_funds("kalshi") == 25 * C  # leg 2's cost, before leg 1 goes
    assert risk.ledger.reserved_funds("polymarket") == notional(400_000, 50 * C)


def test_fees_count_in_the_cost_a_venue_must_fund() -> None:
    risk = funded(1_000 * C, 26 * C)
    yes, _ = legs(qty=100 * C)
    no = LegIntent("kalshi", "ks-M1", Outcome.NO, 100 * C, 500_000, unit_cost=520_000)
    decision = risk.check("s1", "p1", (yes, no))
    assert decision.qty == 50 * C  # $26 at $0.52 a contract with the fee, not 52 at $0.50


def test_nothing_fundable_is_refused_naming_the_venue_and_the_numbers() -> None:
    risk = funded(1_000 * C, 10 * C, min_free_balance_usd="10")
    decision = risk.check("s1", "p1", legs())
    assert (decision.approved, decision.gate) == (False, Gate.CAPITAL)
    assert decision.reason.startswith("kalshi can fund nothing: $10 spendable")
    assert "$10 kept free" in decision.reason
    assert not risk.ledger.open_sagas


def test_open_sagas_reserve_cash_until_they_close() -> None:
    risk = funded(1_000 * C, 10 * C)  # 20 NO at $0.50
    assert risk.check("s1", "p1", legs(qty=15 * C, market="A")).qty == 15 * C
    second = risk.check("s2", "p2", legs(qty=15 * C, market="B"))
    assert second.qty == 5 * C  # what s1 left of the $10
    assert risk.check("s3", "p3", legs(market="C")).gate == Gate.CAPITAL
    risk.close_saga("s1")
    assert risk.check("s3", "p3", legs(qty=15 * C, market="C")).qty == 15 * C


def test_a_fill_turns_reservation_into_spent_cash_until_the_venue_is_read_again() -> None:
    risk = funded(1_000 * C, 10 * C)
    risk.check("s1", "p1", legs(qty=10 * C))
    risk.record_fill("t1", "kalshi", "ks-M1", Outcome.NO, 10 * C, 500_000, "s1", fee=100_000)
    view = risk.funds_view("kalshi")
    assert (view.spendable, view.reserved) == (10 * C - 5 * C - 100_000, 0)
    risk.close_saga("s1")
    assert risk.funds_view("kalshi").free == 4_900_000  # still spent: no new read yet
    risk.report_balance("kalshi", 4_900_000, "gateway")  # the venue agrees
    assert risk.funds_view("kalshi").free == 4_900_000


def test_a_repeated_fill_spends_once() -> None:
    risk = funded(1_000 * C, 10 * C)
    for _ in range(2):
        risk.record_fill("t1", "kalshi", "ks-M1", Outcome.NO, 2 * C, 500_000)
    assert risk.funds_view("kalshi").spendable == 9 * C


def test_a_low_balance_drops_readiness_and_a_top_up_restores_it() -> None:
    risk = funded(1_000 * C, 1_000 * C, min_free_balance_usd="100")
    risk.report_balance("kalshi", 99 * C, "gateway-kalshi")
    assert risk.check("s1", "p1", legs()).reason == "not synced: kalshi:funds"
    audit = [r.detail for r in risk.audit.records if r.action is AuditAction.READINESS]
    assert audit[-1] == "kalshi:funds low: $99 spendable, under the $100 minimum"
    risk.report_balance("kalshi", 150 * C, "gateway-kalshi")
    assert risk.check("s1", "p1", legs()).approved


def test_fills_that_spend_below_the_minimum_drop_readiness_at_once() -> None:
    risk = funded(1_000 * C, 20 * C, min_free_balance_usd="10")
    risk.record_fill("t1", "kalshi", "ks-M1", Outcome.NO, 22 * C, 500_000)
    assert "kalshi:funds" in risk.readiness.missing()


def test_an_unread_venue_is_not_ready_and_reconciliation_does_not_vouch_for_it() -> None:
    risk = state(ready=False)
    for venue in ("polymarket", "kalshi"):
        risk.mark_venue_ready(venue, "recon")
    assert risk.readiness.missing() == ["kalshi:funds", "polymarket:funds"]
    risk.mark_ready("kalshi", Aspect.FUNDS, "operator")  # even forced, no balance: no saga
    risk.report_balance("polymarket", 1_000 * C, "gateway")
    decision = risk.check("s1", "p1", legs())
    assert (decision.gate, decision.reason) == (Gate.CAPITAL, "kalshi balance not read yet")


@settings(max_examples=200, deadline=None)
@given(balances=st.tuples(st.integers(0, 500 * C), st.integers(0, 500 * C)),
       sagas=st.lists(st.tuples(st.integers(1, 400 * C), st.integers(10_000, 990_000),
                                st.integers(10_000, 990_000), st.booleans(),
                                st.integers(0, 100)), max_size=12),
       minimum=st.integers(0, 50))
def test_approved_sagas_never_commit_more_cash_than_a_venue_has(
    balances: tuple[int, int], sagas: list[tuple[int, int, int, bool, int]], minimum: int
) -> None:
    """Whatever the balances, prices, fills and closes: after every step, on each venue,
    what open sagas reserve plus what fills spent never exceeds the read balance less the
    minimum, except where the minimum alone already exceeds it (nothing is approved). A
    partial fill may round each half of a leg up by one micro-dollar."""
    risk = funded(*balances, min_free_balance_usd=str(minimum))
    read = dict(zip(("polymarket", "kalshi"), balances, strict=True))
    fills = 0
    for i, (qty, yes_price, no_price, close, fill_pct) in enumerate(sagas):
        decision = risk.check(f"s{i}", f"p{i}", legs(qty, yes_price, no_price, market=str(i)))
        if decision.approved:
            filled = decision.qty * fill_pct // 100
            if filled:
                fills += 1
                risk.record_fill(f"t{i}", "kalshi", f"ks-{i}", Outcome.NO, filled, no_price,
                                 f"s{i}")
            if close:
                risk.close_saga(f"s{i}")
        for venue, balance in read.items():
            view = risk.funds_view(venue)
            committed = balance - view.spendable + view.reserved
            assert committed <= max(0, balance - minimum * C) + fills, (venue, view)


async def test_the_service_validates_a_balance_report_and_takes_the_allowance() -> None:
    class Abort(Exception):
        pass

    class Context:
        async def abort(self, code: grpc.StatusCode, details: str) -> None:
            raise Abort(code, details)

    risk = state(ManualClock(T0))
    servicer = RiskServicer(risk, config_of(risk), "acme")
    state_ = await servicer.ReportBalance(risk_pb2.BalanceReport(
        tenant=TENANT, venue="polymarket", cash_micros=80 * C, allowance_micros=30 * C),
        Context())
    assert (state_.spendable_micros, state_.free_micros, state_.low) == (30 * C, 30 * C, False)
    with pytest.raises(Abort, match="venue='nowhere' is not a venue this tenant trades"):
        await servicer.ReportBalance(risk_pb2.BalanceReport(tenant=TENANT, venue="nowhere"),
                                     Context())
    with pytest.raises(Abort, match="cash_micros=-1 is negative"):
        await servicer.ReportBalance(risk_pb2.BalanceReport(
            tenant=TENANT, venue="kalshi", cash_micros=-1), Context())
    assert risk.funds_view("polymarket").spendable == 30 * C  # the bad reports changed nothing


async def test_the_leg_cost_a_check_reserves_includes_the_detectors_fee_estimate() -> None:
    class Context:
        async def abort(self, code: grpc.StatusCode, details: str) -> None:
            raise AssertionError(details)

    risk = state(ManualClock(T0))
    risk.report_balance("kalshi", 10 * C, "gateway")
    servicer = RiskServicer(risk, config_of(risk), "acme")
    yes = opportunity_pb2.Leg(venue="polymarket", market_id="pm-1", outcome=1,
                              limit_price_micros=400_000, qty_micros=100 * C,
                              expected_cost_micros=40 * C)
    no = opportunity_pb2.Leg(venue="kalshi", market_id="ks-1", outcome=2,
                             limit_price_micros=500_000, qty_micros=100 * C,
                             expected_cost_micros=52 * C)  # 2 cents a contract in fees
    decision = await servicer.CheckRisk(risk_pb2.RiskCheckRequest(
        tenant=TENANT, saga_id="s1",
        opportunity=opportunity_pb2.Opportunity(pair_id="p1", yes_leg=yes, no_leg=no)),
        Context())
    assert decision.approved_qty_micros == 10 * C * C // 520_000
