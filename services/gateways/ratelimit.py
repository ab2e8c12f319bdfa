"""Client-side rate limiting and 429/5xx back-off for the venue gateways.

The core is pure and synchronous with an injected clock: :class:`RateLimiter` holds token
buckets named by a :class:`RateLimitPolicy` and answers "go now" (0) or "wait this long";
:class:`BackoffPolicy` turns 429/5xx replies into a pause for *new orders only*. Cancels are
never delayed: they bypass the back-off and may overdraw their buckets, so the new orders
after them pay the debt instead. :func:`wait_turn` is the thin async loop on top.

Each venue publishes its own limits; its package holds them as a `RateLimitPolicy` (named
buckets and which buckets each endpoint class draws from), e.g.
`arbiter.venues.polymarket.ratelimit` and `arbiter.venues.kalshi.ratelimit`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

Clock = Callable[[], float]
"""Monotonic seconds."""


@dataclass(frozen=True)
class Limit:
    """``capacity`` tokens, refilled continuously at ``capacity / period_s`` per second."""

    capacity: float
    period_s: float

    @property
    def refill_per_s(self) -> float:
        return self.capacity / self.period_s


@dataclass(frozen=True)
class RateLimitPolicy:
    """Named buckets and, per endpoint class, the buckets one request draws from."""

    limits: Mapping[str, Limit]
    classes: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        for name, buckets in self.classes.items():
            missing = [b for b in buckets if b not in self.limits]
            if missing:
                raise ValueError(f"endpoint class {name!r} uses undefined buckets {missing}")


@dataclass
class _Bucket:
    limit: Limit
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.limit.capacity, self.tokens + elapsed * self.limit.refill_per_s)
        self.updated = now

    def wait_for(self, cost: float) -> float:
        return max(0.0, (cost - self.tokens) / self.limit.refill_per_s)


class RateLimiter:
    """Token buckets for one venue connection; thread-safe, never sleeps itself."""

    def __init__(self, policy: RateLimitPolicy, clock: Clock = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        now = clock()
        self._buckets = {n: _Bucket(lim, lim.capacity, now) for n, lim in policy.limits.items()}
        self._lock = threading.Lock()

    def buckets_of(self, endpoint_class: str) -> tuple[str, ...]:
        """The buckets a request of ``endpoint_class`` draws from."""
        try:
            return tuple(self._policy.classes[endpoint_class])
        except KeyError:
            raise KeyError(f"unknown endpoint class {endpoint_class!r}") from None

    def capacity(self, endpoint_class: str) -> float:
        """The largest cost one request of ``endpoint_class`` may have (its smallest bucket)."""
        return min(self._policy.limits[n].capacity for n in self.buckets_of(endpoint_class))

    def tokens(self, bucket: str) -> float:
        """Tokens in ``bucket`` now (negative after cancels overdrew it)."""
        with self._lock:
            self._buckets[bucket].refill(self._clock())
            return self._buckets[bucket].tokens

    def peek(self, endpoint_class: str, cost: float = 1) -> float:
        """Seconds until a request of ``cost`` could pay, taking nothing."""
        with self._lock:
            now = self._clock()
            buckets = [self._buckets[n] for n in self.buckets_of(endpoint_class)]
            for bucket in buckets:
                bucket.refill(now)
            return max((b.wait_for(cost) for b in buckets), default=0.0)

    def try_acquire(self, endpoint_class: str, cost: float = 1, *, priority: bool = False) -> float:
        """Take ``cost`` from every bucket of the class and return 0, or return the seconds
        until all of them could pay and take nothing. ``priority`` (cancels) always takes."""
        try:
            names = self._policy.classes[endpoint_class]
        except KeyError:
            raise KeyError(f"unknown endpoint class {endpoint_class!r}") from None
        with self._lock:
            now = self._clock()
            buckets = [self._buckets[n] for n in names]
            for bucket in buckets:
                if cost > bucket.limit.capacity:
                    raise ValueError(
                        f"cost {cost} exceeds the capacity {bucket.limit.capacity} "
                        f"of a bucket of {endpoint_class!r}"
                    )
                bucket.refill(now)
            wait = 0.0 if priority else max((b.wait_for(cost) for b in buckets), default=0.0)
            if wait <= 0:
                for bucket in buckets:
                    bucket.tokens -= cost
            return wait


class RequestKind(StrEnum):
    """What a request does, which decides whether back-off may delay it."""

    NEW_ORDER = "new_order"
    CANCEL = "cancel"
    OTHER = "other"


def is_retryable_status(status: int) -> bool:
    """429 (rate limited) and 5xx (venue trouble) call for back-off."""
    return status == 429 or 500 <= status <= 599


@dataclass
class BackoffPolicy:
    """Exponential pause after 429/5xx, applied to new orders only; any success clears it."""

    base_s: float = 0.5
    max_s: float = 30.0
    clock: Clock = time.monotonic
    _failures: int = field(default=0, init=False)
    _until: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def record(self, status: int, retry_after_s: float | None = None) -> None:
        """Feed every response status; ``retry_after_s`` (if the venue sent one) is a floor."""
        with self._lock:
            if not is_retryable_status(status):
                if status < 400:
                    self._failures = 0
                    self._until = 0.0
                return
            self._failures += 1
            pause = min(self.max_s, self.base_s * 2 ** (self._failures - 1))
            if retry_after_s is not None:
                pause = max(pause, retry_after_s)
            self._until = max(self._until, self.clock() + pause)

    def delay(self, kind: RequestKind) -> float:
        """Seconds ``kind`` must wait now; always 0 for cancels and other calls."""
        if kind is not RequestKind.NEW_ORDER:
            return 0.0
        with self._lock:
            return max(0.0, self._until - self.clock())


async def wait_turn(
    limiter: RateLimiter,
    backoff: BackoffPolicy,
    endpoint_class: str,
    kind: RequestKind,
    cost: float = 1,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Wait until ``kind`` may be sent to ``endpoint_class``, then return with tokens taken."""
    while True:
        delay = backoff.delay(kind)
        if delay <= 0:
            delay = limiter.try_acquire(endpoint_class, cost, priority=kind is RequestKind.CANCEL)
        if delay <= 0:
            return
        await sleep(delay)
