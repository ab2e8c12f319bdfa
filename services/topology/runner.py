"""Drive the embedded mesh for `arbiter run`: pacing, the live view, Kafka set-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

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
    from arbiter.platform.bus.tansu import TansuBroker

    async with contextlib.AsyncExitStack() as stack:
        bootstrap, session_timeout = config.bus.kafka_bootstrap, config.bus.session_timeout_ms
        if not bootstrap:
            broker = await stack.enter_async_context(TansuBroker())
            bootstrap = broker.bootstrap
            session_timeout = 2_000  # our own single-process broker: join the group fast
        yield KafkaBus(bootstrap, topic_prefix=config.bus.topic_prefix,
                       partitions=config.bus.partitions,
                       fetch_max_wait_ms=config.bus.fetch_max_wait_ms,
                       session_timeout_ms=session_timeout)


async def run_embedded(
    config: ArbiterConfig, duration: float | None, live: bool, metrics_port: int | None = None
) -> dict[str, Any]:
    """Run for `duration` seconds (None: until cancelled) and return the summary. With a
    `metrics_port` the process serves /metrics (and health) there, like every pod does."""
    step_s = config.market.step_ms / 1000
    steps = None if duration is None else max(1, round(duration / step_s))
    async with serve_telemetry("arbiter-embedded", metrics_port), open_bus(config) as bus:
        mesh = EmbeddedMesh.build(config, bus, clock=None if bus is None else SystemClock())
        await mesh.start()
        try:
            await _drive(mesh, steps, step_s, live)
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        finally:
            await mesh.wait_for_sagas()
            summary = mesh.summary()
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
