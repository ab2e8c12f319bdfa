"""HardStop triggers, the first-reason latch, resets, the daily cooldown and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arbiter.platform.clock import ManualClock
from arbiter.platform.config import ConfigError
from arbiter.risk.audit import AuditAction
from arbiter.risk.gates import Gate
from arbiter.risk.latch import Trigger
from arbiter.risk.monitors import HOUR_MICROS
from arbiter.risk.state import UnacknowledgedTrips

from .helpers import T0, C, config_of, legs, retune, state


def _at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * C


def _approve_and_fill(risk, saga: str, price: int) -> None:
    yes, no = legs()
    assert risk.check(saga, saga, (yes, no)).approved
    risk.record_fill(f"{saga}-t", yes.venue, yes.market_id, yes.outcome, C, price, saga)


def test_cumulative_loss_latches_and_blocks_new_risk() -> None:
    risk = state(max_cumulative_loss_usd="10")
    risk.close_saga("a", -6 * C)
    assert not risk.hard_stop().latched
    risk.close_saga("b", -5 * C)
    view = risk.hard_stop()
    assert view.latched and view.reason == "cumulative loss $11 exceeds $10"
    assert risk.check("c", "p", legs()).gate == Gate.HARD_STOP


def test_consecutive_losses_are_broken_by_a_win() -> None:
    risk = state(max_consecutive_losses=3)
    for saga, pnl in (("a", -1), ("b", -1), ("c", 5), ("d", -1), ("e", -1)):
        risk.close_saga(saga, pnl)
    assert not risk.hard_stop().latched
    risk.close_saga("f", -1)
    assert risk.hard_stop().reason == "3 losing sagas in a row (limit 3)"


def test_a_held_saga_is_a_failed_unwind_and_close_counts_once() -> None:
    risk = state(max_failed_unwinds=2)
    risk.close_saga("a", 0, held=True)
    risk.close_saga("a", 0, held=True)  # redelivered close
    assert not risk.hard_stop().latched
    risk.close_saga("b", 0, held=True)
    assert risk.hard_stop().triggers[0].startswith("failed_unwind: 2 saga(s) ended held")


def test_a_reset_names_each_safety_trip_it_clears() -> None:
    """A failed unwind (exposure is open) or a failed reconciliation (the books may be
    wrong) is not waved through with the other trips: the reset names it, or nothing
    changes."""
    risk = state(max_failed_unwinds=1)
    risk.latch_operator("kill switch: desk", "ops")
    risk.close_saga("a", 0, held=True)
    risk.latch_operator("restart reconciliation failed: venue down", "saga", unreconciled=True)
    before = (risk.hard_stop(), len(risk.audit.records))
    with pytest.raises(UnacknowledgedTrips, match="holds failed_unwind, reconciliation"):
        risk.reset("ada", "looks fine")
    with pytest.raises(UnacknowledgedTrips, match="holds reconciliation: the reset must "
                                                  "acknowledge it"):
        risk.reset("ada", "looks fine", ["failed_unwind"])
    assert (risk.hard_stop(), len(risk.audit.records)) == before  # nothing changed
    assert not risk.reset("ada", "positions checked", ["failed_unwind", "reconciliation"]).latched
    record = risk.audit.records[-1]
    assert record.action == AuditAction.RESET and record.actor == "ada"
    assert "acknowledged: failed_unwind, reconciliation" in record.detail
    risk.latch_operator("kill switch: again", "ops")
    assert not risk.reset("ada").latched  # an operator's own latch needs no acknowledgement


def test_rejections_per_hour_slide_and_count_each_order_once() -> None:
    clock = ManualClock(T0)
    risk = state(clock, max_rejections_per_hour=2)
    for order in ("o1", "o1", "o2"):
        risk.record_rejection(order)
    clock.advance(HOUR_MICROS)  # o1 and o2 leave the window
    risk.record_rejection("o3")
    risk.record_rejection("o4")
    assert not risk.hard_stop().latched
    risk.record_rejection("o5")
    assert risk.hard_stop().reason == "3 venue rejections in the last hour (limit 2)"


def test_slippage_streak_against_the_approved_limit_or_a_given_expectation() -> None:
    risk = state(slippage_threshold_usd="0.01", max_slippage_streak=2)
    _approve_and_fill(risk, "a", 400_000 + 20_000)  # 2 cents worse than the 0.40 limit
    _approve_and_fill(risk, "b", 400_000 + 10_000)  # exactly at the threshold: not over
    _approve_and_fill(risk, "c", 400_000 + 10_001)
    assert not risk.hard_stop().latched
    risk.record_fill("x", 1, "pm-M1", legs()[0].outcome, C, 600_000, "", expected_price=580_000)
    assert risk.hard_stop().reason == "2 fills in a row slipped more than $0.01 per contract"


def test_latch_keeps_the_first_reason_and_lists_every_trigger() -> None:
    risk = state(max_cumulative_loss_usd="1", max_consecutive_losses=1)
    risk.latch_operator("paused by operator", "alice")
    risk.close_saga("a", -2 * C)
    view = risk.hard_stop()
    assert view.reason == "paused by operator"
    assert [t.split(":")[0] for t in view.triggers] == [
        "operator", Trigger.CUMULATIVE_LOSS, Trigger.CONSECUTIVE_LOSSES]
    actions = [(r.action, r.actor) for r in risk.audit.records if r.action != AuditAction.READINESS]
    assert actions == [(AuditAction.LATCHED, "alice"),
                       (AuditAction.TRIGGERED, "monitor:cumulative_loss"),
                       (AuditAction.TRIGGERED, "monitor:consecutive_losses")]


def test_reset_is_audited_clears_streaks_but_money_limits_trip_again() -> None:
    risk = state(max_cumulative_loss_usd="1", max_consecutive_losses=1)
    risk.close_saga("a", -2 * C)
    view = risk.reset("bob")
    assert view.latched and view.reason == "cumulative loss $2 exceeds $1"
    assert [t.split(":")[0] for t in view.triggers] == ["cumulative_loss"]  # streak cleared
    reset = next(r for r in risk.audit.records if r.action == AuditAction.RESET)
    assert reset.actor == "bob" and "consecutive_losses" in reset.detail
    retune(risk, {"max_cumulative_loss_usd": "5"}, "bob", "approved by risk desk")
    assert not risk.reset("bob").latched
    assert risk.check("b", "p", legs()).approved


def test_daily_loss_cools_down_until_exactly_the_next_trading_day() -> None:
    clock = ManualClock(_at("2024-03-05T15:00:00"))
    risk = state(clock, max_daily_loss_usd="100", trading_day_start="17:00",
                 trading_day_timezone="America/New_York")  # 17:00 EST = 22:00 UTC
    risk.close_saga("a", -101 * C)
    boundary = _at("2024-03-05T22:00:00")
    assert risk.hard_stop().clears_at_micros == boundary
    clock.advance(boundary - 1 - clock.now_micros())
    assert risk.check("b", "p", legs()).gate == Gate.HARD_STOP
    clock.advance(1)
    assert risk.check("b", "p", legs()).approved
    cleared = risk.audit.records[-1]
    assert (cleared.action, cleared.actor) == (AuditAction.AUTO_CLEARED, "calendar")
    assert risk.monitors.daily_pnl == 0


def test_daily_latch_does_not_clear_by_itself_once_anything_else_tripped() -> None:
    clock = ManualClock(_at("2024-03-05T15:00:00"))
    risk = state(clock, max_daily_loss_usd="100", max_failed_unwinds=1)
    risk.close_saga("a", -101 * C)
    risk.close_saga("b", 0, held=True)
    assert risk.hard_stop().clears_at_micros == 0
    clock.advance(2 * 24 * HOUR_MICROS)
    assert risk.hard_stop().reason.startswith("daily loss $101 on 2024-03-05")


def test_limit_updates_are_validated_audited_and_apply_at_once() -> None:
    risk = state(max_open_sagas=5)
    with pytest.raises(ConfigError, match="max_open_sagas='0'"):
        retune(risk, {"max_open_sagas": "0"}, "eve")
    with pytest.raises(ConfigError, match="unknown risk limits"):
        retune(risk, {"max_open_saga": "1"}, "eve")
    assert config_of(risk).max_open_sagas == 5
    retune(risk, {"max_open_sagas": "1", "max_daily_loss_usd": "250.5"}, "eve", "tighten")
    record = risk.audit.records[-1]
    assert record.action == AuditAction.LIMITS_UPDATED and record.actor == "eve"
    assert set(record.changes) == {("max_open_sagas", "5", "1"),
                                   ("max_daily_loss_usd", "1000000", "250.5")}
    assert risk.limits.max_daily_loss == 250_500_000
    risk.check("a", "p1", legs())
    assert risk.check("b", "p2", legs()).gate == Gate.MAX_OPEN_SAGAS
    count = len(risk.audit.records)
    retune(risk, {"max_open_sagas": "1"}, "eve")  # no change: nothing to audit
    assert len(risk.audit.records) == count


def test_lowering_a_loss_limit_below_the_current_loss_latches_now() -> None:
    risk = state()
    risk.close_saga("a", -50 * C)
    retune(risk, {"max_daily_loss_usd": "40"}, "eve")
    assert risk.hard_stop().reason.startswith("daily loss $50")


def test_audit_hooks_see_every_record() -> None:
    risk = state(ready=False)
    seen = []
    risk.audit.subscribe(seen.append)
    risk.latch_operator("kill switch: x", "ops")
    risk.reset("ops")
    assert [r.action for r in seen] == [AuditAction.LATCHED, AuditAction.RESET]
