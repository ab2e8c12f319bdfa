"""The outbound scheduler: cancels first and never delayed, reduce-only before new orders,
buckets never overdrawn by anything but a cancel, back-off for new orders only."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.gateways.ratelimit import BackoffPolicy, Limit, RateLimiter, RateLimitPolicy
from arbiter.gateways.scheduler import (
    Priority,
    RequestScheduler,
    Withdrawn,
    retry_after_s,
)


class SteppedTimer:
    """Virtual time with real concurrency: sleepers wait until `run` moves the clock to the
    earliest deadline, so every request that arrives "now" arrives before time passes."""

    def __init__(self) -> None:
        self.t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._n = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self._n += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.t + seconds, self._n, future))
        await future

    async def run(self, *aws) -> list:
        """Run `aws` to the end, moving time only when every task is asleep."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        while not all(t.done() for t in tasks):
            for _ in range(20):
                await asyncio.sleep(0)
            if self._sleepers and not all(t.done() for t in tasks):
                self._sleepers.sort()
                self.t = max(self.t, self._sleepers[0][0])
                due = [s for s in self._sleepers if s[0] <= self.t]
                self._sleepers = [s for s in self._sleepers if s[0] > self.t]
                for _, _, future in due:
                    future.set_result(None)
        return [t.result() for t in tasks]


POLICY = RateLimitPolicy({"w": Limit(4, 1.0), "r": Limit(4, 1.0)},
                         {"write": ("w",), "read": ("r",)})


def scheduler(policy: RateLimitPolicy = POLICY) -> tuple[RequestScheduler, SteppedTimer]:
    timer = SteppedTimer()
    sched = RequestScheduler(RateLimiter(policy, timer.now),
                             BackoffPolicy(base_s=0.5, max_s=8.0, clock=timer.now), timer)
    sched.keep_history = True
    return sched, timer


async def test_when_requests_wait_reduce_only_goes_before_new_and_reads_last() -> None:
    one = RateLimitPolicy({"b": Limit(1, 1.0)}, {"write": ("b",), "read": ("b",)})
    sched, timer = scheduler(one)
    await sched.acquire(Priority.NEW_ORDER, "write")  # empties the bucket
    order: list[str] = []

    async def go(name: str, priority: Priority, endpoint: str) -> None:
        await sched.acquire(priority, endpoint)
        order.append(name)

    await timer.run(go("read", Priority.READ, "read"), go("new", Priority.NEW_ORDER, "write"),
                    go("reduce", Priority.REDUCE_ONLY, "write"),
                    go("cancel", Priority.CANCEL, "write"))

    assert order == ["cancel", "reduce", "new", "read"]
    # one token a second: the cancel went at once on credit, and the others paid its debt
    assert timer.now() == pytest.approx(4.0)


async def test_back_off_holds_new_orders_only_and_honours_retry_after() -> None:
    sched, timer = scheduler()
    sched.record(Priority.NEW_ORDER, 429, retry_after=7.0)

    assert await sched.acquire(Priority.CANCEL, "write") == 0.0
    assert await sched.acquire(Priority.REDUCE_ONLY, "write") == 0.0
    assert await sched.acquire(Priority.READ, "read") == 0.0
    assert timer.now() == 0.0
    [waited] = await timer.run(sched.acquire(Priority.NEW_ORDER, "write"))
    assert waited == pytest.approx(7.0)
    sched.record(Priority.NEW_ORDER, 201)  # an order went through: the pause is over
    sched.record(Priority.READ, 503)  # venue trouble seen on a read pauses new orders too
    [waited] = await timer.run(sched.acquire(Priority.NEW_ORDER, "write"))
    assert waited == pytest.approx(0.5)


async def test_a_new_order_in_back_off_does_not_hold_up_reads_behind_it() -> None:
    sched, timer = scheduler()
    sched.record(Priority.NEW_ORDER, 429, retry_after=30.0)
    new = asyncio.create_task(sched.acquire(Priority.NEW_ORDER, "write"))
    await asyncio.sleep(0)
    assert await sched.acquire(Priority.READ, "read") == 0.0
    assert await sched.acquire(Priority.REDUCE_ONLY, "write") == 0.0
    assert not new.done() and timer.now() == 0.0
    await timer.run(new)


async def test_a_withdrawn_request_never_goes() -> None:
    sched, timer = scheduler()
    sched.record(Priority.NEW_ORDER, 429, retry_after=5.0)
    waiting = asyncio.create_task(sched.acquire(Priority.NEW_ORDER, "write", key="coid-1"))
    await asyncio.sleep(0)
    assert sched.depth == 1
    assert sched.withdraw("coid-1")
    with pytest.raises(Withdrawn):
        await timer.run(waiting)
    assert sched.depth == 0 and not sched.withdraw("coid-1")


def test_retry_after_parses_seconds_and_dates() -> None:
    assert retry_after_s({"Retry-After": "3"}) == 3.0
    assert retry_after_s({"retry-after": "1.5"}) == 1.5
    assert retry_after_s({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # past
    assert retry_after_s({}) is None and retry_after_s({"Retry-After": "soon"}) is None


REQUEST = st.tuples(
    st.sampled_from(list(Priority)),
    st.sampled_from(["write", "read"]),
    st.integers(min_value=1, max_value=4),  # cost
    st.integers(min_value=0, max_value=3),  # scheduling points before arriving
    st.sampled_from([None, None, None, 429, 503]),  # the reply it gets
)


class Recording(RateLimiter):
    """Records the bucket level after every grant, to check nobody but a cancel overdrew."""

    def __init__(self, policy: RateLimitPolicy, clock) -> None:
        super().__init__(policy, clock)
        self.after: list[tuple[bool, float]] = []

    def try_acquire(self, endpoint_class: str, cost: float = 1, *, priority: bool = False) -> float:
        wait = super().try_acquire(endpoint_class, cost, priority=priority)
        if wait <= 0:
            level = min(self.tokens(b) for b in self.buckets_of(endpoint_class))
            self.after.append((priority, level))
        return wait


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(REQUEST, min_size=1, max_size=25))
def test_scheduler_properties(requests: list[tuple[Priority, str, int, int, int | None]]) -> None:
    async def run() -> None:
        timer = SteppedTimer()
        limiter = Recording(POLICY, timer.now)
        sched = RequestScheduler(limiter, BackoffPolicy(base_s=0.5, max_s=4.0, clock=timer.now),
                                 timer)
        granted: list[tuple[Priority, str, float]] = []

        async def one(priority: Priority, endpoint: str, cost: int, delay: int,
                      reply: int | None) -> None:
            for _ in range(delay):
                await asyncio.sleep(0)
            arrived = timer.now()
            waited = await sched.acquire(priority, endpoint, cost)
            granted.append((priority, endpoint, waited))
            if priority is Priority.CANCEL:
                # never delayed: no wait, whatever the buckets, the queue or the back-off say
                assert waited == 0.0 and timer.now() == arrived
            if reply is not None:
                sched.record(priority, reply)

        await timer.run(*(one(*r) for r in requests))
        # every request went, exactly once
        assert sorted(p for p, *_ in granted) == sorted(r[0] for r in requests)
        # nothing but a cancel ever took tokens it did not have
        for is_cancel, level in limiter.after:
            assert is_cancel or level >= -1e-9
        assert sched.depth == 0

    asyncio.run(run())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([Priority.REDUCE_ONLY, Priority.NEW_ORDER]), min_size=2,
                max_size=12))
def test_no_new_order_goes_while_a_reduce_only_waits(kinds: list[Priority]) -> None:
    async def run() -> None:
        one = RateLimitPolicy({"b": Limit(1, 1.0)}, {"write": ("b",)})
        timer = SteppedTimer()
        sched = RequestScheduler(RateLimiter(one, timer.now), BackoffPolicy(clock=timer.now),
                                 timer)
        await sched.acquire(Priority.NEW_ORDER, "write")
        order: list[Priority] = []

        async def go(priority: Priority) -> None:
            await sched.acquire(priority, "write")
            order.append(priority)

        await timer.run(*(go(k) for k in kinds))
        assert order == sorted(order)  # every reduce-only before any new order

    asyncio.run(run())
