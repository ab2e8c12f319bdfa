"""HardStop monitors: the running figures behind each trigger, and when they breach.

Events (a saga closed, a fill's price, a venue rejection) only move counters; `breaches`
compares every counter with the limits. Keeping the comparison in one place means a
limit lowered at runtime, or a reset while a money limit is still exceeded, trips the
latch exactly as a new event would.
"""

from __future__ import annotations

from collections import deque
from datetime import date

from arbiter.core.units import to_decimal
from arbiter.risk.latch import Trigger, Trip
from arbiter.risk.limits import RiskLimits

HOUR_MICROS = 3_600_000_000


def usd(micros: int) -> str:
    return f"${format(to_decimal(micros).normalize(), 'f')}"


class Monitors:
    __slots__ = ("_rejected", "_rejections", "cumulative_pnl", "daily_pnl", "day",
                 "failed_unwinds", "loss_streak", "slip_streak")

    def __init__(self) -> None:
        self.cumulative_pnl = 0
        self.daily_pnl = 0
        self.day: date | None = None
        self.loss_streak = 0
        self.failed_unwinds = 0
        self.slip_streak = 0
        self._rejections: deque[tuple[int, str]] = deque()
        self._rejected: set[str] = set()

    def roll(self, day: date) -> None:
        """A new trading day restarts the daily PnL."""
        if day != self.day:
            self.day, self.daily_pnl = day, 0

    def on_close(self, pnl: int, held: bool) -> None:
        self.cumulative_pnl += pnl
        self.daily_pnl += pnl
        self.loss_streak = self.loss_streak + 1 if pnl < 0 else 0
        self.failed_unwinds += held

    def on_fill_slippage(self, slippage: int, threshold: int) -> None:
        """`slippage`: micro-dollars per contract worse than expected (negative: better)."""
        self.slip_streak = self.slip_streak + 1 if slippage > threshold else 0

    def on_rejection(self, order_id: str, now_micros: int) -> None:
        if order_id not in self._rejected:
            self._rejected.add(order_id)
            self._rejections.append((now_micros, order_id))

    def acknowledge(self) -> None:
        """Operator reset: the streaks and the rejection window start over; money does not."""
        self.loss_streak = self.failed_unwinds = self.slip_streak = 0
        self._rejections.clear()
        self._rejected.clear()

    def _rejections_in_hour(self, now_micros: int) -> int:
        while self._rejections and self._rejections[0][0] <= now_micros - HOUR_MICROS:
            self._rejected.discard(self._rejections.popleft()[1])
        return len(self._rejections)

    def breaches(self, limits: RiskLimits, now_micros: int) -> list[Trip]:
        trips = []
        if -self.cumulative_pnl > limits.max_cumulative_loss:
            trips.append(Trip(Trigger.CUMULATIVE_LOSS,
                              f"cumulative loss {usd(-self.cumulative_pnl)} exceeds "
                              f"{usd(limits.max_cumulative_loss)}"))
        if self.loss_streak >= limits.max_consecutive_losses:
            trips.append(Trip(Trigger.CONSECUTIVE_LOSSES,
                              f"{self.loss_streak} losing sagas in a row "
                              f"(limit {limits.max_consecutive_losses})"))
        if self.failed_unwinds >= limits.max_failed_unwinds:
            trips.append(Trip(Trigger.FAILED_UNWIND,
                              f"{self.failed_unwinds} saga(s) ended held after a failed unwind "
                              f"(limit {limits.max_failed_unwinds})"))
        rejections = self._rejections_in_hour(now_micros)
        if rejections > limits.max_rejections_per_hour:
            trips.append(Trip(Trigger.REJECTIONS,
                              f"{rejections} venue rejections in the last hour "
                              f"(limit {limits.max_rejections_per_hour})"))
        if self.slip_streak >= limits.max_slippage_streak:
            trips.append(Trip(Trigger.SLIPPAGE,
                              f"{self.slip_streak} fills in a row slipped more than "
                              f"{usd(limits.slippage_threshold)} per contract"))
        if -self.daily_pnl > limits.max_daily_loss:
            trips.append(Trip(Trigger.DAILY_LOSS,
                              f"daily loss {usd(-self.daily_pnl)} on {self.day} exceeds "
                              f"{usd(limits.max_daily_loss)}"))
        return trips
