"""Time as a port, so the embedded market can run on simulated time deterministically.

Business timestamps (opportunity TTLs, order timestamps) come from a `Clock`; latency
measurements always use the real monotonic wall clock (`wall_micros`). Services that wait on
business time (a heartbeat every few seconds) wait on the clock too, so a lock-step run wakes
them when the simulated time arrives, never on the wall clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

from arbiter.core.clock import Clock as TimeSource


class Clock(TimeSource, Protocol):
    async def sleep(self, seconds: float) -> None:
        """Wait until `seconds` of this clock's time have passed."""
        ...


class SystemClock:
    def now_micros(self) -> int:
        return time.time_ns() // 1_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """Advanced explicitly by a driver (the synthetic market's step loop, or a test);
    sleepers wake, in deadline order, when `advance` reaches their deadline."""

    def __init__(self, start_micros: int = 1_700_000_000_000_000) -> None:
        self._now = start_micros
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_micros(self) -> int:
        return self._now

    def advance(self, micros: int) -> None:
        if micros < 0:
            raise ValueError(f"cannot move a clock back by {micros} µs")
        self._now += micros
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + round(seconds * 1e6), next(self._order),
                                        waiter))
        await waiter


def wall_micros() -> int:
    """Real time for latency stamps, comparable across processes on one host."""
    return time.time_ns() // 1_000
