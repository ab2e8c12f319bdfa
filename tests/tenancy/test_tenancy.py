"""Tenant ids, Kafka tenant headers, the tenant-scoped bus handler and subscription tiers."""

from __future__ import annotations

import logging
from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

import pytest

from arbiter.platform import topics
from arbiter.platform.bus import Envelope, MemoryBus
from arbiter.platform.bus.base import HEADER_TENANT
from arbiter.platform.config import load_config
from arbiter.platform.telemetry import metrics
from arbiter.platform.tenancy import (
    HEADER_TIER,
    TIERS,
    InvalidTenant,
    MissingTenant,
    TenantLimits,
    TierLimitExceeded,
    UnknownTier,
    current_tenant,
    tenant,
    tenant_from_headers,
    tenant_headers,
    tenant_scope,
    tenant_scoped,
    tier_named,
    validate_tenant_id,
)
from arbiter.v1 import saga_pb2


@pytest.mark.parametrize("good", ["a", "0", "tenant-a", "acme-2024", "a" * 63, "a-"])
def test_valid_tenant_ids(good: str) -> None:
    assert validate_tenant_id(good) == good


@pytest.mark.parametrize("bad", ["", "-a", "A", "tenant_a", "a" * 64, "../b", "a/b", "a b",
                                 "a\x00", "tenant-a\n", None, 7])
def test_invalid_tenant_ids(bad: Any) -> None:
    with pytest.raises(InvalidTenant, match="must match"):
        validate_tenant_id(bad)


def test_headers_round_trip_and_default_to_current_tenant() -> None:
    acme = tenant("acme", "pro")
    assert tenant_headers(acme) == {HEADER_TENANT: "acme", HEADER_TIER: "pro"}
    assert tenant_from_headers(tenant_headers(acme)) == acme
    with tenant_scope(acme):
        assert tenant_headers() == {HEADER_TENANT: "acme", HEADER_TIER: "pro"}
    with pytest.raises(MissingTenant, match="no tenant in context"):
        tenant_headers()


@pytest.mark.parametrize(("headers", "error", "detail"), [
    ({}, MissingTenant, "no tenant in message headers"),
    ({HEADER_TENANT: ""}, MissingTenant, "no tenant in message headers"),
    ({HEADER_TENANT: "../b", HEADER_TIER: "pro"}, InvalidTenant, "'../b' must match"),
    ({HEADER_TENANT: "acme"}, UnknownTier, "unknown tier ''"),
    ({HEADER_TENANT: "acme", HEADER_TIER: "gold"}, UnknownTier, "known tiers: ['paper', 'pro'"),
])
def test_unusable_headers(headers: dict[str, str], error: type[Exception], detail: str) -> None:
    with pytest.raises(error) as caught:
        tenant_from_headers(headers)
    assert detail in str(caught.value)


async def test_bus_drops_untenanted_messages_on_tenant_topics(caplog: pytest.LogCaptureFixture) -> None:
    bus = MemoryBus()
    seen: list[tuple[str, str]] = []

    async def handler(envelope: Envelope[saga_pb2.SagaEvent]) -> None:
        seen.append((envelope.value.saga_id, current_tenant().tenant_id))

    group = "control-acme"
    bus.subscribe(topics.SAGA_EVENTS, group, saga_pb2.SagaEvent,
                  tenant_scoped(topics.SAGA_EVENTS, group, handler, serves="acme"))
    dropped = metrics.BUS_DROPPED.labels(group=group)
    before = dropped._value.get()
    await bus.start()
    try:
        await bus.publish(topics.SAGA_EVENTS, "s1", saga_pb2.SagaEvent(saga_id="s1"),
                          tenant_headers(tenant("acme", "paper")))
        await bus.publish(topics.SAGA_EVENTS, "s2", saga_pb2.SagaEvent(saga_id="s2"))
        await bus.publish(topics.SAGA_EVENTS, "s3", saga_pb2.SagaEvent(saga_id="s3"),
                          tenant_headers(tenant("other", "paper")))
        with caplog.at_level(logging.ERROR, logger="arbiter.platform.tenancy"):
            await bus.drained()
    finally:
        await bus.stop()
    assert seen == [("s1", "acme")]
    assert dropped._value.get() - before == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("no tenant in message headers" in m for m in messages)
    assert any("for tenant 'other', this consumer serves 'acme'" in m for m in messages)


def test_shared_topics_pass_through() -> None:
    async def handler(envelope: Envelope[Any]) -> None: ...

    assert tenant_scoped(topics.BOOKS, "orderbook", handler) is handler
    assert tenant_scoped(topics.EXEC_REPORTS, "risk", handler) is not handler


def test_tier_table_is_ordered() -> None:
    paper, standard, pro = (TIERS[n].caps for n in ("paper", "standard", "pro"))
    for field in fields(TenantLimits):
        name = field.name
        assert getattr(paper, name) <= getattr(standard, name) <= getattr(pro, name), name


def limits_of_default_config() -> TenantLimits:
    config = load_config(environ={})
    return TenantLimits(pairs=len(config.market.pairs),
                        orders_per_second=config.risk.orders_per_second,
                        max_exposure_usd=config.risk.max_exposure_usd,
                        max_open_sagas=config.risk.max_open_sagas)


def test_default_config_fits_the_default_tier() -> None:
    config = load_config(environ={})
    tier_named(config.tenant.tier).check(config.tenant.id, limits_of_default_config())


@pytest.mark.parametrize(("limit", "value", "cap"), [
    ("pairs", 11, 10),
    ("orders_per_second", 21, 20),
    ("max_exposure_usd", Decimal("10000.000001"), Decimal(10_000)),
    ("max_open_sagas", 5, 4),
])
def test_exceeding_a_tier_cap_names_everything(limit: str, value: int | Decimal,
                                               cap: int | Decimal) -> None:
    wanted = replace(TIERS["paper"].caps, **{limit: value})
    TIERS["standard"].check("acme", wanted)  # fits the next tier up
    with pytest.raises(TierLimitExceeded) as caught:
        TIERS["paper"].check("acme", wanted)
    error = caught.value
    assert (error.tenant_id, error.tier, error.limit, error.value, error.cap) == (
        "acme", "paper", limit, value, cap)
    assert str(error) == f"tenant 'acme' on tier 'paper': {limit}={value} exceeds the tier's cap of {cap}"


def test_unknown_tier() -> None:
    with pytest.raises(UnknownTier, match=r"unknown tier 'gold'; known tiers: \['paper', 'pro', 'standard'\]"):
        tier_named("gold")
