"""Time as a port, so the embedded market can run on simulated time deterministically.

Business timestamps (opportunity TTLs, order timestamps) come from a `Clock`; latency
measurements always use the real monotonic wall clock (`wall_micros`).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_micros(self) -> int: ...


class SystemClock:
    def now_micros(self) -> int:
        return time.time_ns() // 1_000


class ManualClock:
    """Advanced explicitly by a driver (the synthetic market's step loop, or a test)."""

    def __init__(self, start_micros: int = 1_700_000_000_000_000) -> None:
        self._now = start_micros

    def now_micros(self) -> int:
        return self._now

    def advance(self, micros: int) -> None:
        if micros < 0:
            raise ValueError(f"cannot move a clock back by {micros} µs")
        self._now += micros


def wall_micros() -> int:
    """Real time for latency stamps, comparable across processes on one host."""
    return time.time_ns() // 1_000
