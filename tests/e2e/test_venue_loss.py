"""Killing a venue mid-run: within a second its books are dark, risk's market-data
readiness is down and the connected gauge reads 0 (ArbiterVenueDown's expression holds);
no saga starts and no order goes out while it is down; when the venue is back, the
reconnect rebuilds every book from fresh snapshots and trading resumes.

The embedded mesh trades, free-running, over real sockets with both emulators, and the
synthetic market moves on a wall-clock schedule the whole time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from arbiter.emulators.server import VenueServer, step_until
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, load_config
from arbiter.topology.embedded import EmbeddedMesh, EmulatedVenues
from arbiter.topology.runner import socket_links

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

RELAXED_RISK = {"max_consecutive_losses": 1000, "max_cumulative_loss_usd": "100000",
                "max_daily_loss_usd": "100000", "max_slippage_streak": 1000,
                "max_rejections_per_hour": 100000, "max_failed_unwinds": 1000}


async def _until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > timeout:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.01)
    return loop.time() - start


def _config(pm: VenueServer, ks: VenueServer) -> ArbiterConfig:
    return load_config(environ={}, overrides={
        "market.seed": 7, "risk": RELAXED_RISK,
        "venues.polymarket": {"url": pm.url, "ws_url": pm.url.replace("http", "ws"),
                              "heartbeat_s": 0},
        "venues.kalshi": {"url": ks.url, "ws_url": ks.ws_urls["ws"]}})


async def test_a_killed_venue_stops_trading_within_a_second_and_the_rebuild_resumes_it(
) -> None:
    venues = EmulatedVenues.create(load_config(environ={}, overrides={"market.seed": 7}))
    stop_market = asyncio.Event()
    async with VenueServer(venues["polymarket"]) as pm, VenueServer(venues["kalshi"]) as ks, \
            contextlib.AsyncExitStack() as stack:
        config = _config(pm, ks)
        mesh = await EmbeddedMesh.build(config, clock=SystemClock(),
                                        links=await socket_links(config, stack))
        await mesh.start()
        stack.push_async_callback(mesh.stop)
        market = asyncio.create_task(step_until(venues.market, 50, stop_market))
        risk, kalshi = mesh.risk.state, mesh.gateways["kalshi"]
        try:
            await _until(lambda: mesh.saga.stats().started > 0, 30)

            port = int(ks.url.rsplit(":", 1)[1])
            await ks.stop()  # the venue dies: every socket closes, REST refuses
            went_dark = await _until(lambda: "kalshi:market_data" in risk.readiness.missing()
                                     and kalshi.metrics.connected._value.get() == 0, 5)
            assert went_dark < 1.0
            assert not kalshi.books_live
            await mesh.wait_for_sagas()
            started, sent = mesh.saga.stats().started, len(mesh.saga.sent)
            evaluations = mesh.detector.evaluations
            await asyncio.sleep(1.5)  # the market keeps moving on Polymarket meanwhile
            assert mesh.detector.evaluations > evaluations  # the engine is live, and yet
            assert mesh.saga.stats().started == started
            assert len(mesh.saga.sent) == sent  # not one order while the venue is down

            reconnects = kalshi.metrics.reconnects._value.get()
            await ks.start(port=port)  # back: the transport reconnects and resubscribes
            await _until(lambda: not risk.readiness.missing(), 20)
            assert kalshi.books_live and kalshi.metrics.connected._value.get() == 1
            assert kalshi.metrics.reconnects._value.get() > reconnects
            await _until(lambda: mesh.saga.stats().started > started, 30)  # trading resumed
        finally:
            stop_market.set()
            await market
