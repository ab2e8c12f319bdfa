"""Drive the embedded mesh for `arbiter run`: pacing, the live view's hook, Kafka set-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from arbiter.core.instruments import Venue
from arbiter.platform.bus import Bus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, ConfigError
from arbiter.platform.telemetry.serve import serve_telemetry
from arbiter.platform.transport import VenueTransport
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.topology.universe import TradingUniverse
from arbiter.venues.plugin import plugin

VIEW_REFRESH_S = 0.25


class View(Protocol):
    """A live view of the mesh (the CLI's rich table): shown, refreshed, closed."""

    def update(self, mesh: EmbeddedMesh) -> None: ...

    def close(self) -> None: ...


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


async def socket_links(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> dict[Venue, VenueTransport]:
    """A socket transport to every venue the pairs trade, at its configured URLs (an
    `arbiter emulator`); closed with `stack`."""
    if not config.venues.paper:
        raise ConfigError("`arbiter run --external-venues` trades paper keys against an "
                          "`arbiter emulator`; set venues.mode=paper (the default)")
    links: dict[Venue, VenueTransport] = {}
    for venue in TradingUniverse.from_config(config.market).venues:
        transport = plugin(venue).endpoints(config.venues.settings(venue),
                                            config.venues).transport()
        stack.push_async_callback(transport.close)
        links[venue] = transport
    return links


async def run_embedded(
    config: ArbiterConfig,
    duration: float | None,
    view: Callable[[EmbeddedMesh], View] | None = None,
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
        links = await socket_links(config, stack) if external_venues else None
        free_running = bus is not None or external_venues
        mesh = await EmbeddedMesh.build(
            config, bus, clock=SystemClock() if free_running else None, links=links)
        await mesh.start()
        try:
            await _drive(mesh, steps, step_s, view)
        except (KeyboardInterrupt, asyncio.CancelledError):
            pass
        finally:
            await mesh.wait_for_sagas()
            summary = mesh.summary()
            summary["venue_positions"] = await mesh.venue_positions()
            await mesh.stop()
    return summary


async def _drive(mesh: EmbeddedMesh, steps: int | None, step_s: float,
                 view: Callable[[EmbeddedMesh], View] | None) -> None:
    loop = asyncio.get_running_loop()
    live = view(mesh) if view is not None else None
    try:
        start, count, last_render = loop.time(), 0, 0.0
        while steps is None or count < steps:
            await mesh.step()
            count += 1
            now = loop.time()
            if live is not None and now - last_render > VIEW_REFRESH_S:
                live.update(mesh)
                last_render = now
            await asyncio.sleep(max(0.0, start + count * step_s - loop.time()))
        if live is not None:
            live.update(mesh)
    finally:
        if live is not None:
            live.close()
