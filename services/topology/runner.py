"""Drive the embedded mesh for `arbiter run`: pacing, the live view, Kafka set-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from arbiter.gateways.factory import connect_paper
from arbiter.platform.bus import Bus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig
from arbiter.platform.telemetry.serve import serve_telemetry
from arbiter.topology.embedded import EmbeddedMesh


@contextlib.asynccontextmanager
async def open_bus(config: ArbiterConfig) -> AsyncIterator[Bus | None]:
    """None for the in-memory default; a KafkaBus (starting tansu if needed) otherwise."""
    if config.bus.kind == "memory":
        yield None
        return
    from arbiter.platform.bus.kafka import KafkaBus
    from arbiter.platform.bus.tansu import TansuBroker, TansuNotInstalled

    async with contextlib.AsyncExitStack() as stack:
        bootstrap, session_timeout = config.bus.kafka_bootstrap, config.bus.session_timeout_ms
        if not bootstrap:
            try:
                broker = await stack.enter_async_context(TansuBroker())
            except TansuNotInstalled as exc:
                raise SystemExit(f"error: {exc}, or pass --kafka-bootstrap HOST:PORT") from None
            bootstrap = broker.bootstrap
            session_timeout = 2_000  # our own single-process broker: join the group fast
        yield KafkaBus(bootstrap, topic_prefix=config.bus.topic_prefix,
                       partitions=config.bus.partitions,
                       fetch_max_wait_ms=config.bus.fetch_max_wait_ms,
                       session_timeout_ms=session_timeout)


async def run_embedded(
    config: ArbiterConfig,
    duration: float | None,
    live: bool,
    metrics_port: int | None = None,
    external_venues: bool = False,
) -> dict[str, Any]:
    """Run for `duration` seconds (None: until cancelled) and return the summary. With a
    `metrics_port` the process serves /metrics (and health) there, like every pod does.
    With `external_venues` the services trade over sockets with the venues at
    `config.venues` (an `arbiter emulator` process); the saga log (`saga.log_path`) then
    lets a killed run resume where it stopped. The summary's `venue_positions` always come
    from the venues' own APIs."""
    step_s = config.market.step_ms / 1000
    steps = None if duration is None else max(1, round(duration / step_s))
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serve_telemetry("arbiter-embedded", metrics_port))
        bus = await stack.enter_async_context(open_bus(config))
        links, credentials = None, None
        if external_venues:
            links, credentials = await connect_paper(config, stack)
        free_running = bus is not None or external_venues
        mesh = EmbeddedMesh.build(config, bus, clock=SystemClock() if free_running else None,
                                  links=links, credentials=credentials)
        await mesh.start()
        try:
            await _drive(mesh, steps, step_s, live)
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        finally:
            await mesh.wait_for_sagas()
            summary = mesh.summary()
            summary["venue_positions"] = await mesh.venue_positions()
            await mesh.stop()
    return summary


async def _drive(mesh: EmbeddedMesh, steps: int | None, step_s: float, live: bool) -> None:
    loop = asyncio.get_running_loop()
    view = None
    if live:
        from rich.live import Live

        from arbiter.cli.view import render

        view = Live(render(mesh), refresh_per_second=4, screen=False)
        view.start()
    try:
        start, count, last_render = loop.time(), 0, 0.0
        while steps is None or count < steps:
            await mesh.step()
            count += 1
            now = loop.time()
            if view is not None and now - last_render > 0.25:
                view.update(render(mesh))
                last_render = now
            await asyncio.sleep(max(0.0, start + count * step_s - loop.time()))
        if view is not None:
            view.update(render(mesh))
    finally:
        if view is not None:
            view.stop()
