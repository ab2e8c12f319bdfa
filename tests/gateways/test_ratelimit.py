"""Token buckets, venue policies and back-off that never delays cancels."""

import pytest

from arbiter.gateways.ratelimit import (
    BackoffPolicy,
    Limit,
    RateLimiter,
    RateLimitPolicy,
    RequestKind,
    wait_turn,
)
from arbiter.venues.kalshi.ratelimit import (
    KALSHI_DEFAULT_COST,
    KalshiTier,
    kalshi_cost,
    kalshi_endpoint_class,
    kalshi_policy,
)
from arbiter.venues.polymarket.ratelimit import POLYMARKET_POLICY, polymarket_endpoint_class


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitPolicy({"b": Limit(10, 10.0)}, {"c": ("b",)}), clock)
    assert [limiter.try_acquire("c") for _ in range(10)] == [0.0] * 10
    assert limiter.try_acquire("c") == pytest.approx(1.0)
    clock.now = 0.5
    assert limiter.try_acquire("c") == pytest.approx(0.5)  # nothing taken while waiting
    clock.now = 1.0
    assert limiter.try_acquire("c") == 0.0
    with pytest.raises(ValueError, match="cost 11 exceeds the capacity"):
        limiter.try_acquire("c", 11)
    with pytest.raises(KeyError, match="unknown endpoint class"):
        limiter.try_acquire("nope")


def test_polymarket_burst_and_sustained_windows() -> None:
    clock = Clock()
    limiter = RateLimiter(POLYMARKET_POLICY, clock)
    assert polymarket_endpoint_class("POST", "/order") == "post_order"
    assert polymarket_endpoint_class("delete", "/cancel-all") == "cancel_all"
    assert polymarket_endpoint_class("GET", "/data/orders?next_cursor=MA==") == "data_orders"
    assert polymarket_endpoint_class("GET", "/time") == "general"
    granted = sum(limiter.try_acquire("cancel_all") == 0 for _ in range(300))
    assert granted == 250  # 250 per 10 s burst
    # cancel-market-orders: 1,000 per 10 s burst, but only 1,500 per 10 min sustained.
    grants = []
    for second in range(0, 60, 10):
        clock.now = float(second)
        grants.append(sum(limiter.try_acquire("cancel_market_orders") == 0 for _ in range(1_000)))
    assert grants[0] == 1_000  # burst window
    assert grants[1] == 500 + 25  # sustained bucket: the rest of 1,500 plus 10 s x 2.5/s
    assert all(24 <= g <= 25 for g in grants[2:])  # steady state: 1,500 / 600 s


def test_kalshi_tier_buckets_and_costs() -> None:
    clock = Clock()
    limiter = RateLimiter(kalshi_policy(KalshiTier.BASIC), clock)
    cost = kalshi_cost("POST", "/trade-api/v2/portfolio/events/orders")
    assert cost == KALSHI_DEFAULT_COST
    write = kalshi_endpoint_class("POST")
    # Basic: 100 write tokens/s, bucket holds 2 s = 20 default-cost orders.
    assert sum(limiter.try_acquire(write, cost) == 0 for _ in range(25)) == 20
    assert limiter.try_acquire(kalshi_endpoint_class("GET"), cost) == 0  # read bucket is separate
    overrides = {"DELETE /trade-api/v2/portfolio/events/orders/{id}": 2}
    path = "/trade-api/v2/portfolio/events/orders/5f1c7a8e-3b2d-4c1e-9a6f-0123456789ab?subaccount=0"
    assert kalshi_cost("DELETE", path, overrides=overrides) == 2
    assert kalshi_cost("POST", "/trade-api/v2/portfolio/events/orders/batched", items=7) == 70


def test_cancels_overdraw_and_new_orders_pay() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitPolicy({"w": Limit(20, 1.0)}, {"write": ("w",)}), clock)
    assert limiter.try_acquire("write", 20) == 0
    assert limiter.try_acquire("write", 10, priority=True) == 0  # cancel goes through
    assert limiter.try_acquire("write", 10) == pytest.approx(1.0)  # order waits for the debt


def test_backoff_delays_only_new_orders() -> None:
    clock = Clock()
    backoff = BackoffPolicy(base_s=1.0, max_s=8.0, clock=clock)
    backoff.record(429)
    assert backoff.delay(RequestKind.NEW_ORDER) == 1.0
    assert backoff.delay(RequestKind.CANCEL) == 0.0
    assert backoff.delay(RequestKind.OTHER) == 0.0
    for _ in range(5):
        backoff.record(503)
    assert backoff.delay(RequestKind.NEW_ORDER) == 8.0  # capped
    backoff.record(400)  # a client error neither extends nor clears the pause
    assert backoff.delay(RequestKind.NEW_ORDER) == 8.0
    backoff.record(429, retry_after_s=20)
    assert backoff.delay(RequestKind.NEW_ORDER) == 20.0
    backoff.record(200)
    assert backoff.delay(RequestKind.NEW_ORDER) == 0.0


async def test_wait_turn_sleeps_for_orders_never_for_cancels() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitPolicy({"w": Limit(1, 1.0)}, {"write": ("w",)}), clock)
    backoff = BackoffPolicy(base_s=2.0, clock=clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    backoff.record(429)
    await wait_turn(limiter, backoff, "write", RequestKind.CANCEL, sleep=sleep)
    assert slept == []
    await wait_turn(limiter, backoff, "write", RequestKind.NEW_ORDER, sleep=sleep)
    assert slept == [2.0]  # back-off; the bucket refilled meanwhile
