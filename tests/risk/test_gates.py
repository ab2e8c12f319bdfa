"""The gate chain: order, reasons, sizing, reservations, readiness, and the hedge-aware
reduce-only check of compensation orders."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.instruments import Outcome
from arbiter.platform.clock import ManualClock
from arbiter.risk.gates import (
    Decision,
    Gate,
    LegIntent,
    NewSaga,
    RiskView,
    SagaLegs,
    check_compensation,
    check_new,
)
from arbiter.risk.readiness import Aspect

from .helpers import FUNDED, T0, C, legs, state


def _fill(risk, saga_id: str, leg: LegIntent, qty: int, trade: str,
          price: int | None = None) -> None:
    risk.record_fill(trade, leg.venue, leg.market_id, leg.outcome, qty,
                     leg.price if price is None else price, saga_id)


def test_approves_and_reserves_the_smaller_leg() -> None:
    risk = state()
    yes, no = legs()
    short = LegIntent(no.venue, no.market_id, no.outcome, 7 * C, no.price)
    decision = risk.check("s1", "p1", (yes, short))
    assert decision.approved and decision.qty == 7 * C
    assert risk.ledger.committed(yes.key) == 7 * C
    assert risk.ledger.at_risk == 7 * 400_000 + 7 * 500_000


def test_not_ready_names_every_missing_aspect_until_all_are_set() -> None:
    risk = state(ready=False)
    decision = risk.check("s1", "p1", legs())
    assert decision.gate == Gate.NOT_READY
    assert "polymarket:market_data" in decision.reason and "kalshi:positions" in decision.reason
    risk.mark_venue_ready("polymarket", "recon")
    for aspect in (Aspect.MARKET_DATA, Aspect.ORDER_SNAPSHOT, Aspect.FILL_SNAPSHOT):
        risk.mark_ready("kalshi", aspect, "recon")
    decision = risk.check("s1", "p1", legs())
    assert (decision.gate, decision.reason) == (
        Gate.NOT_READY, "not synced: kalshi:positions, kalshi:funds, polymarket:funds")
    risk.mark_ready("kalshi", Aspect.POSITIONS, "recon")
    for venue in ("polymarket", "kalshi"):  # only a balance read vouches for the funds
        risk.report_balance(venue, FUNDED, "gateway")
    assert risk.check("s1", "p1", legs()).approved
    risk.mark_ready("kalshi", Aspect.MARKET_DATA, "feed", ready=False)
    assert risk.check("s2", "p2", legs()).reason == "not synced: kalshi:market_data"


def test_gate_order_hard_stop_first_then_readiness() -> None:
    risk = state(ready=False, max_open_sagas=1)
    risk.latch_operator("paused", "ops")
    assert risk.check("s1", "p1", legs()).gate == Gate.HARD_STOP


def test_per_market_limit_counts_held_and_reserved_and_shrinks_qty() -> None:
    risk = state(max_position_per_market="25")
    yes, no = legs(qty=10 * C)
    assert risk.check("s1", "p1", (yes, no)).qty == 10 * C
    _fill(risk, "s1", yes, 4 * C, "t1")  # reservation becomes position: still 10 committed
    assert risk.ledger.committed(yes.key) == 10 * C
    assert risk.check("s2", "p2", (yes, no)).qty == 10 * C
    assert risk.check("s3", "p3", (yes, no)).qty == 5 * C  # shrunk to the room left
    decision = risk.check("s4", "p4", (yes, no))
    assert decision.gate == Gate.MAX_POSITION_MARKET
    assert "polymarket:pm-M1:YES has 25 held or reserved, limit 25" in decision.reason
    risk.close_saga("s3")
    assert risk.check("s4", "p4", (yes, no)).qty == 5 * C


def test_total_position_limit_spans_markets() -> None:
    risk = state(max_position_per_market="30", max_position_total="50")
    assert risk.check("s1", "p1", legs(qty=20 * C, market="A")).qty == 20 * C
    assert risk.check("s2", "p2", legs(qty=20 * C, market="B")).qty == 5 * C
    decision = risk.check("s3", "p3", legs(qty=20 * C, market="C"))
    assert decision.gate == Gate.MAX_POSITION_TOTAL and "50 contracts" in decision.reason


def test_exposure_counts_position_cost_plus_the_new_worst_case() -> None:
    risk = state(max_exposure_usd="10")
    yes, no = legs(qty=10 * C, yes_price=400_000, no_price=500_000)  # $0.90 per pair
    first = risk.check("s1", "p1", (yes, no))
    assert first.qty == 10 * C  # $9
    _fill(risk, "s1", yes, 10 * C, "t1", price=300_000)  # filled cheaper: $1 less at risk
    _fill(risk, "s1", no, 10 * C, "t2")
    risk.close_saga("s1")
    assert risk.ledger.at_risk == 8 * C
    second = risk.check("s2", "p2", legs(qty=10 * C, market="B"))
    # $2 of room, less the micro-dollar of rounding slack for the second leg, at $0.90
    assert second.qty == (2 * C - 1) * C // 900_000
    decision = risk.check("s3", "p3", legs(market="C"))
    assert decision.gate == Gate.MAX_EXPOSURE and "under $10" in decision.reason


def test_duplicate_pending_pair_then_open_saga_slots() -> None:
    risk = state(max_open_sagas=2)
    assert risk.check("s1", "p1", legs()).approved
    assert risk.check("s1", "p9", legs()).gate == Gate.DUPLICATE
    decision = risk.check("s2", "p1", legs())
    assert (decision.gate, decision.reason) == (Gate.PENDING_PAIR,
                                                "saga s1 on pair p1 is in flight")
    assert risk.check("s2", "p2", legs()).approved
    assert risk.check("s3", "p3", legs()).gate == Gate.MAX_OPEN_SAGAS
    risk.close_saga("s1")
    assert risk.check("s3", "p1", legs()).approved


def test_order_rate_budget_refills_on_the_injected_clock() -> None:
    clock = ManualClock(T0)
    risk = state(clock, orders_per_second=2, order_burst=4)  # two sagas, then one a second
    for n in range(2):
        assert risk.check(f"s{n}", f"p{n}", legs()).approved
        risk.close_saga(f"s{n}")
    decision = risk.check("s2", "p2", legs())
    assert decision.gate == Gate.ORDER_RATE and "fit again in 1000 ms" in decision.reason
    clock.advance(999_999)
    assert risk.check("s2", "p2", legs()).gate == Gate.ORDER_RATE
    clock.advance(1)
    assert risk.check("s2", "p2", legs()).approved


def test_a_rejected_check_spends_no_budget_and_reserves_nothing() -> None:
    risk = state(orders_per_second=1, order_burst=2, max_open_sagas=1)
    assert risk.check("s1", "p1", legs()).approved
    assert risk.check("s2", "p2", legs()).gate == Gate.MAX_OPEN_SAGAS
    assert risk.ledger.open_sagas == 1 and risk.ledger.committed_total == 20 * C


def _saga_legs(yes: LegIntent, no: LegIntent) -> SagaLegs:
    return SagaLegs(yes.key, no.key)


def test_compensation_passes_the_latch_limits_and_budget_when_it_hedges() -> None:
    risk = state(orders_per_second=1, order_burst=2, max_position_per_market="10",
                 max_position_total="20")
    yes, no = legs()
    assert risk.check("s1", "p1", (yes, no)).approved  # spends the whole budget
    _fill(risk, "s1", yes, 6 * C, "t1")
    risk.latch_operator("kill switch: test", "ops")
    risk.mark_ready("kalshi", Aspect.POSITIONS, "feed", ready=False)
    assert risk.check("s2", "p2", legs(market="B")).gate == Gate.HARD_STOP
    hedge = LegIntent(no.venue, no.market_id, no.outcome, 6 * C, 520_000)
    assert risk.check_compensation("s1", _saga_legs(yes, no), hedge) == Decision(True, qty=6 * C)
    unwind = LegIntent(yes.venue, yes.market_id, Outcome.NO, 6 * C, 990_000)
    assert risk.check_compensation("s1", _saga_legs(yes, no), unwind).approved


@pytest.mark.parametrize(("order", "gate", "reason"), [
    (LegIntent("kalshi", "ks-M1", Outcome.NO, 7 * C, 500_000), Gate.INCREASES_EXPOSURE,
     "7 kalshi:ks-M1:NO exceeds the 6 unhedged: the excess would open 1 on the NO side"),
    (LegIntent("polymarket", "pm-M1", Outcome.YES, C, 500_000), Gate.INCREASES_EXPOSURE,
     "buying polymarket:pm-M1:YES adds to the saga's long YES side (6 unhedged)"),
    (LegIntent("kalshi", "ks-M1", Outcome.YES, C, 500_000), Gate.INCREASES_EXPOSURE,
     "buying kalshi:ks-M1:YES adds to the saga's long YES side"),
    (LegIntent("kalshi", "ks-OTHER", Outcome.NO, C, 500_000), Gate.NOT_SAGA_MARKET,
     "kalshi:ks-OTHER:NO is on neither market of the saga"),
])
def test_compensation_that_would_add_exposure_is_refused_with_the_reason(
    order: LegIntent, gate: Gate, reason: str
) -> None:
    risk = state()
    yes, no = legs()
    risk.check("s1", "p1", (yes, no))
    _fill(risk, "s1", yes, 6 * C, "t1")
    decision = risk.check_compensation("s1", _saga_legs(yes, no), order)
    assert (decision.approved, decision.gate) == (False, gate)
    assert decision.reason.startswith(reason)


def test_compensation_counts_only_the_sagas_own_fills_and_a_flat_saga_hedges_nothing() -> None:
    risk = state()
    yes, no = legs()
    risk.check("s1", "p1", (yes, no))
    _fill(risk, "other", yes, 9 * C, "t0")  # the tenant holds YES, but not through s1
    hedge = LegIntent(no.venue, no.market_id, no.outcome, C, no.price)
    assert risk.check_compensation("s1", _saga_legs(yes, no), hedge).reason.startswith(
        "the saga is flat")
    _fill(risk, "s1", yes, 3 * C, "t1")
    _fill(risk, "s1", yes, 3 * C, "t1")  # a repeat counts once
    _fill(risk, "s1", no, 2 * C, "t2")
    assert risk.check_compensation("s1", _saga_legs(yes, no), hedge).approved
    too_much = LegIntent(no.venue, no.market_id, no.outcome, 2 * C, no.price)
    assert not risk.check_compensation("s1", _saga_legs(yes, no), too_much).approved


def test_compensation_for_legs_other_than_the_approved_ones_is_refused() -> None:
    risk = state()
    yes, no = legs()
    risk.check("s1", "p1", (yes, no))
    _fill(risk, "s1", yes, 3 * C, "t1")
    other = legs(market="B")[1]
    decision = risk.check_compensation("s1", _saga_legs(yes, other), other)
    assert decision.gate == Gate.SAGA_MISMATCH


@settings(max_examples=200, deadline=None)
@given(yes_side=st.sampled_from(Outcome), no_side=st.sampled_from(Outcome),
       same_market=st.booleans(), held=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50)),
                                                max_size=6),
       order_at=st.integers(0, 3), qty=st.integers(1, 60))
def test_an_approved_compensation_never_leaves_the_saga_more_exposed(
    yes_side: Outcome, no_side: Outcome, same_market: bool, held: list[tuple[int, int]],
    order_at: int, qty: int
) -> None:
    """Whatever the pair's shape (inverted, same market) and the saga's fills: an order it
    approves, filled in full, leaves |net| smaller and never flips the saga's side."""
    yes_key = ("polymarket", "M", yes_side)
    no_key = ("polymarket" if same_market else "kalshi", "M" if same_market else "N",
              yes_side.other if same_market else no_side)
    saga = SagaLegs(yes_key, no_key)
    keys = [yes_key, (*yes_key[:2], yes_key[2].other), no_key, (*no_key[:2], no_key[2].other)]
    fills: dict = {}
    for at, units in held:
        fills[keys[at]] = fills.get(keys[at], 0) + units
    order = LegIntent(*keys[order_at], qty, 500_000)
    decision = check_compensation(saga, (yes_key, no_key), fills, order)
    after = dict(fills)
    after[order.key] = after.get(order.key, 0) + qty
    before_net, after_net = saga.net(fills), saga.net(after)
    if decision.approved:
        assert abs(after_net) < abs(before_net)
        assert before_net * after_net >= 0  # no flip to the other side
    else:
        assert decision.gate == Gate.INCREASES_EXPOSURE
        assert abs(after_net) >= abs(before_net) or before_net * after_net < 0


@pytest.mark.parametrize("qty", [1, 3, 999_999])
def test_exposure_fit_never_overshoots_with_rounding(qty: int) -> None:
    risk = state(max_exposure_usd="0.000003")
    decision = risk.check("s1", "p1", legs(qty=qty, yes_price=333_333, no_price=333_334))
    if decision.approved:
        assert risk.ledger.at_risk <= 3


def test_the_gate_chain_is_a_pure_function_of_limits_state_and_request() -> None:
    """Asking twice gives the same answer and changes nothing: no budget spent, nothing
    reserved; only `RiskState.check` applies an approval."""
    risk = state(orders_per_second=1, order_burst=2)
    request = NewSaga("s1", "p1", legs())
    view = RiskView(risk.ledger, risk.latch, risk.readiness, risk._budget, risk.funds)
    first = check_new(risk.limits, view, request, T0)
    assert first == check_new(risk.limits, view, request, T0) == Decision(True, qty=10 * C)
    assert risk.ledger.open_sagas == 0 and risk._budget.wait(2, T0) == 0
    assert risk.check("s1", "p1", legs()) == first
    assert risk.ledger.open_sagas == 1 and risk._budget.wait(2, T0) > 0
