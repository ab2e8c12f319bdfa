"""The gate chain: order, reasons, sizing, reservations, readiness and reduce-only."""

from __future__ import annotations

import pytest

from arbiter.core.instruments import Outcome
from arbiter.platform.clock import ManualClock
from arbiter.risk.gates import Gate, LegIntent
from arbiter.risk.readiness import Aspect

from .helpers import T0, C, legs, state


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
    assert (decision.gate, decision.reason) == (Gate.NOT_READY, "not synced: kalshi:positions")
    risk.mark_ready("kalshi", Aspect.POSITIONS, "recon")
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


def test_reduce_only_passes_the_latch_but_only_to_offset_what_is_held() -> None:
    risk = state()
    yes, no = legs()
    risk.check("s1", "p1", (yes, no))
    _fill(risk, "s1", yes, 6 * C, "t1")
    risk.latch_operator("kill switch: test", "ops")
    unwind = LegIntent(yes.venue, yes.market_id, Outcome.NO, 10 * C, 650_000)
    decision = risk.check("s1-unwind", "p1", (unwind,), reduce_only=True)
    assert decision.approved and decision.qty == 6 * C
    assert risk.check("s2", "p2", legs(market="B")).gate == Gate.HARD_STOP
    wrong_way = LegIntent(yes.venue, yes.market_id, Outcome.YES, C, 650_000)
    assert risk.check("x", "p1", (wrong_way,), reduce_only=True).gate == Gate.REDUCE_ONLY
    risk.mark_ready("kalshi", Aspect.POSITIONS, "feed", ready=False)
    assert risk.check("y", "p1", (unwind,), reduce_only=True).gate == Gate.NOT_READY


@pytest.mark.parametrize("qty", [1, 3, 999_999])
def test_exposure_fit_never_overshoots_with_rounding(qty: int) -> None:
    risk = state(max_exposure_usd="0.000003")
    decision = risk.check("s1", "p1", legs(qty=qty, yes_price=333_333, no_price=333_334))
    if decision.approved:
        assert risk.ledger.at_risk <= 3
