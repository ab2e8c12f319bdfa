"""Per-venue outbound scheduling: every gateway request waits for its turn here.

Why: a venue throttles us per endpoint class (`ratelimit` holds the published buckets) and
answers 429/5xx when we overdo it. When requests have to wait, money safety decides who goes
first: cancels never wait at all (they may overdraw a bucket; the next new orders pay the
debt), then reduce-only orders (they shrink exposure), then new orders, then reads. Back-off
after a 429/5xx delays new orders only; a new order held by back-off does not hold up the
reads and reduce-only orders behind it.

Time is injected (`Timer`). Production uses the monotonic clock and `asyncio.sleep`. The
lock-stepped embedded topology and the tests use a `VirtualTimer`: its sleep moves only the
scheduler's own offset, so a wait never needs the market driver to advance the world clock
(which would deadlock the lock-step) and no test ever sleeps for real.
"""

from __future__ import annotations

import asyncio
import bisect
import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from arbiter.gateways.ratelimit import BackoffPolicy, RateLimiter, RequestKind, is_retryable_status
from arbiter.platform.clock import Clock, ManualClock
from arbiter.platform.telemetry.metrics import VenueMetrics

log = logging.getLogger(__name__)

MIN_SLEEP_S = 0.001
"""Floor for one wait, so float rounding in a refill can never spin the loop."""


class Priority(IntEnum):
    """Who goes first when requests wait; lower goes earlier."""

    CANCEL = 0  # also the Polymarket heartbeat: missing it cancels everything
    REDUCE_ONLY = 1
    NEW_ORDER = 2
    READ = 3


class Withdrawn(Exception):
    """A queued request was taken back before it reached the venue (its outcome is being
    looked up instead), so the venue never saw it."""


class Timer(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    async def sleep(self, seconds: float) -> None: ...


class RealTimer:
    """Wall time: what a venue's rate limiter measures."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualTimer:
    """Time that passes only when someone waits: ``base()`` (e.g. a `ManualClock`) plus the
    total this timer has slept. Sleeping yields to the loop once and returns."""

    def __init__(self, base: Callable[[], float] = lambda: 0.0) -> None:
        self.base = base
        self.offset = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.base() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += max(0.0, seconds)
        await asyncio.sleep(0)


def timer_for(clock: Clock) -> Timer:
    """The timer matching a gateway's business clock: virtual for a `ManualClock`
    (lock-step runs replay exactly), real otherwise."""
    if isinstance(clock, ManualClock):
        return VirtualTimer(lambda: clock.now_micros() / 1e6)
    return RealTimer()


def retry_after_s(headers: object) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    if not hasattr(headers, "get"):
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")  # type: ignore[union-attr]
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(eq=False)
class _Waiter:
    priority: Priority
    seq: int
    endpoint_class: str
    cost: float
    buckets: frozenset[str]
    key: str | None
    since: float
    granted: bool = False
    withdrawn: bool = False
    order: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.order = (int(self.priority), self.seq)


class RequestScheduler:
    """One venue's outbound queue: token buckets per endpoint class, back-off, priorities."""

    def __init__(
        self,
        limiter: RateLimiter,
        backoff: BackoffPolicy,
        timer: Timer,
        metrics: VenueMetrics | None = None,
    ) -> None:
        self.limiter = limiter
        self.backoff = backoff
        self.timer = timer
        self.metrics = metrics
        self._waiting: list[_Waiter] = []  # sorted by (priority, arrival)
        self._seq = 0
        self.granted: list[tuple[Priority, str]] = []  # grant order, for tests and debugging
        self.keep_history = False

    @property
    def depth(self) -> int:
        return len(self._waiting)

    async def acquire(
        self, priority: Priority, endpoint_class: str, cost: float = 1, key: str | None = None
    ) -> float:
        """Wait until a request may go; returns the seconds it waited. Cancels return at
        once. `key` lets `withdraw` take a waiting request back (raises `Withdrawn`)."""
        if priority is Priority.CANCEL:
            self.limiter.try_acquire(endpoint_class, cost, priority=True)
            self._granted(priority, endpoint_class, 0.0)
            return 0.0
        self._seq += 1
        waiter = _Waiter(priority, self._seq, endpoint_class, cost,
                         frozenset(self.limiter.buckets_of(endpoint_class)), key,
                         self.timer.now())
        bisect.insort(self._waiting, waiter, key=lambda w: w.order)
        self._depth_changed()
        try:
            while True:
                if waiter.withdrawn:
                    raise Withdrawn(f"{endpoint_class} request {key!r} withdrawn before sending")
                wait = self._dispatch(waiter)
                if waiter.granted:
                    return self.timer.now() - waiter.since
                await self.timer.sleep(max(MIN_SLEEP_S, wait))
        finally:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
                self._depth_changed()

    def withdraw(self, key: str) -> bool:
        """Take back every waiting (not yet granted) request under `key`."""
        found = [w for w in self._waiting if w.key == key]
        for waiter in found:
            waiter.withdrawn = True
            self._waiting.remove(waiter)
        if found:
            self._depth_changed()
        return bool(found)

    def record(self, priority: Priority, status: int, retry_after: float | None = None) -> None:
        """Feed a reply: 429/5xx (any request) pauses new orders; an order that went through
        ends the pause."""
        if is_retryable_status(status):
            log.warning("venue answered HTTP %d; new orders back off%s", status,
                        f" (Retry-After {retry_after:.3g} s)" if retry_after is not None else "")
        clears = priority in (Priority.NEW_ORDER, Priority.REDUCE_ONLY)
        if clears or is_retryable_status(status):
            self.backoff.record(status, retry_after)

    def _dispatch(self, caller: _Waiter) -> float:
        """Let `caller` go if nobody ahead of it needs the same tokens; else the seconds
        until it should look again. Waiters are served strictly in priority order per
        bucket: one that cannot pay, or can pay but has not woken yet, keeps its buckets
        for itself. A new order held by back-off keeps nothing, so the reads and
        reduce-only orders behind it are not held up. Only the caller is ever granted, so
        requests leave in the order they were granted."""
        blocked: dict[str, float] = {}  # bucket -> when the waiters holding it can pay
        for waiter in self._waiting:
            shared = [blocked[b] for b in waiter.buckets if b in blocked]
            if shared:
                if waiter is caller:
                    return max(MIN_SLEEP_S, *shared)
                for bucket in waiter.buckets:
                    blocked[bucket] = max(blocked.get(bucket, 0.0), *shared)
                continue
            if waiter.priority is Priority.NEW_ORDER:
                pause = self.backoff.delay(RequestKind.NEW_ORDER)
                if pause > 0:
                    if waiter is caller:
                        return pause
                    continue
            if waiter is not caller:
                ready_in = self.limiter.peek(waiter.endpoint_class, waiter.cost)
                for bucket in waiter.buckets:
                    blocked[bucket] = max(blocked.get(bucket, 0.0), ready_in)
                continue
            wait = self.limiter.try_acquire(waiter.endpoint_class, waiter.cost)
            if wait > 0:
                return wait
            waiter.granted = True
            self._waiting.remove(waiter)
            self._depth_changed()
            self._granted(waiter.priority, waiter.endpoint_class,
                          self.timer.now() - waiter.since)
            return 0.0
        raise AssertionError("a waiter must be in the queue while it waits")

    def _granted(self, priority: Priority, endpoint_class: str, waited: float) -> None:
        if self.keep_history:
            self.granted.append((priority, endpoint_class))
        if self.metrics is not None:
            self.metrics.queue_wait.observe(waited)

    def _depth_changed(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(len(self._waiting))
