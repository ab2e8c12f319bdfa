"""Properties of the risk state under any sequence of checks, fills, closes, triggers, resets,
limit changes and time (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.platform.clock import ManualClock
from arbiter.risk.audit import AuditAction
from arbiter.risk.gates import Gate, LegIntent, SagaLegs
from arbiter.risk.latch import SAFETY_TRIGGERS
from arbiter.risk.monitors import HOUR_MICROS
from arbiter.risk.state import UnacknowledgedTrips

from .helpers import T0, C, legs, retune, state

RATE, BURST = 4, 12

check_op = st.tuples(st.just("check"), st.integers(0, 3), st.integers(0, 2), st.integers(1, 60),
                     st.integers(1, 999_999), st.integers(1, 999_999))
fill_op = st.tuples(st.just("fill"), st.integers(0, 99), st.integers(0, 1), st.integers(1, 100),
                    st.integers(-50_000, 50_000))
close_op = st.tuples(st.just("close"), st.integers(0, 99), st.integers(-30 * C, 30 * C),
                     st.booleans())
advance_op = st.tuples(st.just("advance"), st.integers(0, 2 * HOUR_MICROS))
reject_op = st.tuples(st.just("reject"), st.integers(0, 30))
latch_op = st.tuples(st.just("latch"), st.sampled_from(["paused by operator", "kill switch: a"]))
reset_op = st.tuples(st.just("reset"), st.booleans())  # True: acknowledges the safety trips
reduce_op = st.tuples(st.just("reduce"), st.integers(0, 2), st.integers(1, 80))
limits_op = st.tuples(st.just("limits"), st.sampled_from([
    {"max_open_sagas": "1"}, {"max_open_sagas": "3"}, {"max_position_per_market": "20"},
    {"max_position_per_market": "100"}, {"max_exposure_usd": "40"}, {"max_exposure_usd": "90"},
    {"max_daily_loss_usd": "30"}, {"max_cumulative_loss_usd": "60"},
]))
ops = st.lists(st.one_of(check_op, fill_op, close_op, advance_op, reject_op, latch_op, reset_op,
                         reduce_op, limits_op), max_size=80)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_no_sequence_breaks_a_limit_or_the_latch(sequence: list[tuple]) -> None:
    clock = ManualClock(T0)
    risk = state(clock, max_open_sagas=2, max_position_per_market="50", max_position_total="150",
                 max_exposure_usd="60", orders_per_second=RATE, order_burst=BURST,
                 max_cumulative_loss_usd="80", max_daily_loss_usd="40", max_consecutive_losses=3,
                 max_failed_unwinds=2, max_rejections_per_hour=5,
                 slippage_threshold_usd="0.02", max_slippage_streak=2)
    open_sagas: dict[str, tuple[tuple[LegIntent, ...], list[int]]] = {}
    positions: dict[tuple, int] = {}
    approvals = fills = 0
    for step, op in enumerate(sequence):
        before = risk.hard_stop()
        audited = len(risk.audit.records)
        kind = op[0]
        if kind == "check":
            _, pair, market, qty, yes_price, no_price = op
            saga = f"s{step}"
            intent = legs(qty * C, yes_price, no_price, market=str(market))
            decision = risk.check(saga, f"p{pair}", intent)
            if decision.approved:
                approvals += 1
                assert not before.latched, "new risk approved while HardStop was latched"
                assert risk.ledger.open_sagas <= risk.limits.max_open_sagas
                open_sagas[saga] = (intent, [decision.qty, decision.qty])
                # positions + reservations, from this test's own bookkeeping
                committed = dict(positions)
                for saga_legs, left in open_sagas.values():
                    for leg, qty in zip(saga_legs, left, strict=True):
                        committed[leg.key] = committed.get(leg.key, 0) + qty
                for leg in intent:  # other markets may sit above a limit lowered since
                    assert committed[leg.key] <= risk.limits.max_position_per_market
                assert sum(committed.values()) <= risk.limits.max_position_total
                assert risk.ledger.at_risk <= risk.limits.max_exposure + fills  # round-ups
                assert approvals * 2 * C <= BURST * C + (clock.now_micros() - T0) * RATE
        elif kind == "fill" and open_sagas:
            _, pick, side, percent, slip = op
            saga = sorted(open_sagas)[pick % len(open_sagas)]
            intent, left = open_sagas[saga]
            qty = left[side] * percent // 100
            if qty:
                leg = intent[side]
                price = min(max(leg.price + slip, 1), 1_000_000)
                risk.record_fill(f"t{step}", leg.venue, leg.market_id, leg.outcome, qty, price,
                                 saga)
                left[side] -= qty
                positions[leg.key] = positions.get(leg.key, 0) + qty
                fills += 1
        elif kind == "close" and open_sagas:
            _, pick, pnl, held = op
            saga = sorted(open_sagas)[pick % len(open_sagas)]
            risk.close_saga(saga, pnl, held)
            del open_sagas[saga]
        elif kind == "advance":
            clock.advance(op[1])
        elif kind == "reject":
            risk.record_rejection(f"o{op[1]}")
        elif kind == "latch":
            risk.latch_operator(op[1], "prop")
        elif kind == "reset":
            safety = {t.split(":")[0] for t in before.triggers} & set(SAFETY_TRIGGERS)
            if op[1] or not safety:
                risk.reset("prop", acknowledged=sorted(SAFETY_TRIGGERS) if op[1] else ())
            else:  # a failed unwind is never waved through: refused, nothing changes
                with pytest.raises(UnacknowledgedTrips):
                    risk.reset("prop")
                assert risk.hard_stop() == before and len(risk.audit.records) == audited
        elif kind == "reduce" and open_sagas:
            saga = sorted(open_sagas)[op[1] % len(open_sagas)]
            (yes, no), left = open_sagas[saga]
            hedge = LegIntent(no.venue, no.market_id, no.outcome, op[2] * C, 500_000)
            net = left[1] - left[0]  # YES filled less NO filled: both legs started equal
            decision = risk.check_compensation(saga, SagaLegs(yes.key, no.key), hedge)
            assert decision.approved == (0 < op[2] * C <= net), decision
        elif kind == "limits":
            retune(risk, op[1], "prop")
        after = risk.hard_stop()
        new = risk.audit.records[audited:]
        if before.latched and after.latched and after.reason != before.reason:
            assert kind == "reset" or any(r.action == AuditAction.AUTO_CLEARED for r in new), (
                f"latch reason changed from {before.reason!r} to {after.reason!r} by {op}")
        if after.latched:
            first = [r for r in risk.audit.records if r.action == AuditAction.LATCHED][-1]
            assert first.detail.endswith(after.reason)
        if before.latched and not after.latched:
            assert [r.action for r in new][:1] in ([AuditAction.RESET],
                                                   [AuditAction.AUTO_CLEARED])


trigger_events = st.lists(st.sampled_from(
    ["loss", "held", "reject", "slip", "operator", "daily"]), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(trigger_events)
def test_the_first_trigger_names_the_latch_whatever_follows(events: list[str]) -> None:
    risk = state(max_cumulative_loss_usd="1000000", max_consecutive_losses=1,
                 max_failed_unwinds=1, max_rejections_per_hour=0, max_slippage_streak=1,
                 slippage_threshold_usd="0", max_daily_loss_usd="1")
    first = ""
    for n, event in enumerate(events):
        if event == "loss":
            risk.close_saga(f"l{n}", -1)
        elif event == "held":
            risk.close_saga(f"h{n}", 0, held=True)
        elif event == "reject":
            risk.record_rejection(f"o{n}")
        elif event == "slip":
            risk.record_fill(f"t{n}", 1, "m", legs()[0].outcome, C, 600_000, "", 500_000)
        elif event == "operator":
            risk.latch_operator(f"operator {n}", "ops")
        else:
            risk.close_saga(f"d{n}", 2 * C)  # a win, then a loss over the daily limit
            risk.close_saga(f"e{n}", -5 * C)
        first = first or risk.hard_stop().reason
        assert risk.hard_stop().reason == first
        assert risk.check(f"c{n}", f"p{n}", legs()).gate in (Gate.HARD_STOP, "")
    assert first  # every event kind here trips the latch
    assert risk.check("new", "new", legs()).gate == Gate.HARD_STOP


zones = st.sampled_from(["UTC", "Asia/Tokyo", "Europe/London", "America/New_York"])


@settings(max_examples=150, deadline=None)
@given(zone=zones, hour=st.sampled_from([0, 4, 9, 17, 23]), minute=st.integers(0, 59),
       offset=st.integers(0, 400 * 24 * HOUR_MICROS))
def test_daily_cooldown_clears_exactly_at_the_next_day_start(zone: str, hour: int, minute: int,
                                                             offset: int) -> None:
    clock = ManualClock(T0 + offset)
    risk = state(clock, max_daily_loss_usd="10", trading_day_start=f"{hour:02d}:{minute:02d}",
                 trading_day_timezone=zone)
    risk.close_saga("a", -11 * C)
    assert risk.hard_stop().latched
    # Reference: walk forward minute by minute to the first local wall time equal to the
    # start (the chosen hours avoid every DST gap and overlap).
    now = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=clock.now_micros())
    minute_mark = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute_mark.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None) != (
            datetime.min.replace(hour=hour, minute=minute).time()):
        minute_mark += timedelta(minutes=1)
    boundary = (minute_mark - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert risk.hard_stop().clears_at_micros == boundary
    clock.advance(boundary - 1 - clock.now_micros())
    assert risk.hard_stop().latched
    assert risk.check("b", "p", legs()).gate == Gate.HARD_STOP
    clock.advance(1)
    assert not risk.hard_stop().latched
    assert risk.check("b", "p", legs()).approved
