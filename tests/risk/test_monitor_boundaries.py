"""Every HardStop monitor at its exact boundary: a loss equal to a limit is allowed, one
micro-dollar more trips it; a count one below its limit is allowed, the limit trips it.
Off-by-one in a money limit is invisible to tests that only go far past it."""

from __future__ import annotations

from datetime import date

import pytest

from arbiter.risk.latch import Trigger
from arbiter.risk.monitors import Monitors
from arbiter.risk.service import limits_from_config

from .helpers import C, config

LIMITS = limits_from_config(config(
    max_cumulative_loss_usd="50", max_daily_loss_usd="20", max_consecutive_losses=3,
    max_failed_unwinds=2, max_rejections_per_hour=4, slippage_threshold_usd="0.05",
    max_slippage_streak=3))
NOW = 10**15


def _tripped(monitors: Monitors) -> set[Trigger]:
    return {trip.trigger for trip in monitors.breaches(LIMITS, NOW)}


@pytest.mark.parametrize(("loss", "trips"), [(20 * C - 1, False), (20 * C, False),
                                             (20 * C + 1, True)])
def test_daily_loss_trips_only_past_the_limit(loss: int, trips: bool) -> None:
    monitors = Monitors()
    monitors.roll(date(2026, 12, 4))
    monitors.on_close(-loss, held=False)
    assert (Trigger.DAILY_LOSS in _tripped(monitors)) is trips
    monitors.roll(date(2026, 12, 5))  # a new day forgets the daily loss, not the cumulative
    assert Trigger.DAILY_LOSS not in _tripped(monitors)
    assert monitors.cumulative_pnl == -loss


@pytest.mark.parametrize(("loss", "trips"), [(50 * C, False), (50 * C + 1, True)])
def test_cumulative_loss_trips_only_past_the_limit(loss: int, trips: bool) -> None:
    monitors = Monitors()
    for day in (1, 2, 3):  # spread over days so the daily limit never decides it
        monitors.roll(date(2026, 12, day))
        monitors.on_close(-(loss // 3) - (loss % 3 if day == 3 else 0), held=False)
    assert -monitors.cumulative_pnl == loss
    assert (Trigger.CUMULATIVE_LOSS in _tripped(monitors)) is trips


@pytest.mark.parametrize(("count", "trigger"), [
    (3, Trigger.CONSECUTIVE_LOSSES), (2, Trigger.FAILED_UNWIND), (3, Trigger.SLIPPAGE)])
def test_count_limits_trip_at_the_limit_not_before(count: int, trigger: Trigger) -> None:
    monitors = Monitors()
    for n in range(count):
        assert trigger not in _tripped(monitors), n
        if trigger is Trigger.CONSECUTIVE_LOSSES:
            monitors.on_close(-1, held=False)
        elif trigger is Trigger.FAILED_UNWIND:
            monitors.on_close(0, held=True)
        else:
            monitors.on_fill_slippage(50_001, LIMITS.slippage_threshold)
    assert trigger in _tripped(monitors)


def test_slippage_equal_to_the_threshold_is_not_a_slip() -> None:
    monitors = Monitors()
    for _ in range(10):
        monitors.on_fill_slippage(LIMITS.slippage_threshold, LIMITS.slippage_threshold)
    assert monitors.slip_streak == 0 and Trigger.SLIPPAGE not in _tripped(monitors)


def test_rejections_trip_past_the_hourly_limit_and_age_out() -> None:
    monitors = Monitors()
    for n in range(4):
        monitors.on_rejection(f"o{n}", NOW - 1_000)
    monitors.on_rejection("o0", NOW)  # the same order again is not a new rejection
    assert Trigger.REJECTIONS not in _tripped(monitors)
    monitors.on_rejection("o4", NOW)
    assert Trigger.REJECTIONS in _tripped(monitors)
    later = NOW - 1_000 + 3_600_000_000  # the first four are exactly an hour old
    assert {t.trigger for t in monitors.breaches(LIMITS, later)} == set()
