"""Batches, cancels, paging, /version and heartbeats through real HTTP to the socket-served
emulators (the harness of tests/emulators, onboarded as against the venues)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from emulators.conftest import Harness, eventually, open_harness

from .venues import ACK, CANCELED, FILL, REJECT

ONE = 1_000_000


@pytest.fixture(params=["polymarket", "kalshi"], ids=["polymarket", "kalshi"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with open_harness(request.param) as opened:
        yield opened


def gtc_far_bid(harness: Harness, coid: str):
    bids, _ = harness.engine(harness.market_ids[0]).snapshot()
    request = harness.ioc_buy_yes(coid, max(10_000, bids[-1][0] - 50_000), ONE)
    request.tif = 1  # GTC
    return request


async def test_batch_post_then_cancel_all_over_http(harness: Harness) -> None:
    await eventually(harness.all_books_match)
    _, asks = harness.engine(harness.market_ids[0]).snapshot()
    n = harness.gateway.max_batch + 2
    batch = [gtc_far_bid(harness, f"rest-{i}") for i in range(n)]
    batch.append(harness.ioc_buy_yes("take", asks[0][0], ONE))
    batch.append(harness.ioc_buy_yes("off-tick", asks[0][0] + 1, ONE))

    acks = await harness.gateway.place_batch(batch)

    assert [a.accepted for a in acks] == [True] * (n + 1) + [False]
    await eventually(lambda: any(r.kind == FILL for r in harness.reports))
    kinds = {r.client_order_id: [] for r in harness.reports}
    for report in harness.reports:
        kinds[report.client_order_id].append(report.kind)
    assert kinds["off-tick"] == [REJECT] and kinds["take"][:2] == [ACK, FILL]
    assert len(await harness.gateway._open_orders()) == n  # every page of them

    canceled = await harness.gateway.cancel_all()

    assert sorted(canceled) == sorted(a.venue_order_id for a in acks[:n])
    assert await harness.gateway._open_orders() == []
    closed = [r for r in harness.reports if r.kind == CANCELED and r.client_order_id != "take"]
    assert len(closed) == n and all(r.qty_micros == ONE for r in closed)


async def test_polymarket_version_change_and_heartbeats_over_http() -> None:
    async with open_harness("polymarket") as harness:
        await eventually(harness.all_books_match)
        harness.emulator.upgrade_exchange(3)  # type: ignore[attr-defined]
        ack = await harness.gateway.place(gtc_far_bid(harness, "v3"))
        assert ack.accepted, ack.reject_reason
        assert harness.gateway.domain.version == "3"  # type: ignore[attr-defined]

        harness.gateway.heartbeat_interval_s = 0.01  # type: ignore[attr-defined]
        harness.gateway.start_heartbeats()  # type: ignore[attr-defined]
        await eventually(lambda: harness.gateway.heartbeats_sent >= 3)  # type: ignore[attr-defined]
        await harness.gateway.close()
        sent = harness.gateway.heartbeats_sent  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        assert harness.gateway.heartbeats_sent == sent  # type: ignore[attr-defined]
        assert harness.gateway.heartbeat_failures == 0  # type: ignore[attr-defined]

