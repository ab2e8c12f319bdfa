"""Drive the embedded mesh for `arbiter run`: start-up checks, pacing, the live view's hook,
Kafka set-up, and the orderly stop on a signal.

One runner serves paper and live: live (`venues.mode: live`) only adds the vault, held in
this process and reached over a `LocalStub` exactly as `arbiter serve gateway-<venue>`
reaches `arbiter serve vault` over gRPC, and the connectivity checks before trading.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp

from arbiter.control.local import serve_local_control
from arbiter.core.instruments import Venue
from arbiter.core.units import money_from_decimal
from arbiter.gateways.onboarding import OnboardingError
from arbiter.platform.auth import AuthConfigError
from arbiter.platform.bus import Bus, BusUnavailable, KafkaBus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, ConfigError
from arbiter.platform.rpc import LocalStub
from arbiter.platform.telemetry.serve import serve_telemetry
from arbiter.platform.transport import RequestTimeout, VenueTransport
from arbiter.topology import builders
from arbiter.topology.connectivity import check_configured
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import common_pb2
from arbiter.vault.client import VaultCredentialError
from arbiter.vault.errors import VaultError
from arbiter.venues.plugin import VaultAccess, plugin

VIEW_REFRESH_S = 0.25
T = TypeVar("T")


class StartupError(Exception):
    """Why the run did not start trading, one line per cause (the CLI prints it, exits 2)."""


class View(Protocol):
    """A live view of the mesh (the CLI's rich table): shown, refreshed, closed."""

    def update(self, mesh: EmbeddedMesh) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RunLimits:
    """When a run ends by itself: after `steps` market steps (lock-step on the memory bus,
    so a seed reproduces the numbers) or `duration_s` wall-clock seconds, whichever comes
    first; neither: only on a signal."""

    steps: int | None = None
    duration_s: float | None = None


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
                raise StartupError(f"{exc}, or pass --kafka-bootstrap HOST:PORT") from None
            bootstrap = broker.bootstrap
            session_timeout = 2_000  # our own single-process broker: join the group fast
        yield KafkaBus(bootstrap, topic_prefix=config.bus.topic_prefix,
                       partitions=config.bus.partitions,
                       fetch_max_wait_ms=config.bus.fetch_max_wait_ms,
                       session_timeout_ms=session_timeout,
                       max_outage_s=config.bus.max_outage_s,
                       request_timeout_ms=config.bus.request_timeout_ms)


async def socket_links(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> dict[Venue, VenueTransport]:
    """A socket transport to every venue the pairs trade, at its configured URLs (an
    `arbiter emulator`, or the venue itself); closed with `stack`."""
    links: dict[Venue, VenueTransport] = {}
    for venue in TradingUniverse.from_config(config.market).venues:
        transport = plugin(venue).endpoints(config.venues.settings(venue),
                                            config.venues).transport()
        stack.push_async_callback(transport.close)
        links[venue] = transport
    return links


async def open_vault(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> VaultAccess:
    """The tenant's keys for a live run: the vault service built in this process from
    `vault.*` (the store `arbiter vault put` wrote), called over a `LocalStub`."""
    try:
        service = await builders.build_vault(config, stack)
    except (VaultError, OSError, ValueError) as exc:
        raise StartupError(f"vault ({config.vault.store_path}): {exc}") from None
    tenant = common_pb2.TenantContext(tenant_id=config.tenant.id, tier=config.tenant.tier)
    return VaultAccess(LocalStub(service.servicer), tenant)  # type: ignore[arg-type]


async def preflight(config: ArbiterConfig, vault: VaultAccess) -> None:
    """A live run trades only once every venue passes its connectivity checks."""
    failed = [r for r in await check_configured(
        config, vault=vault,
        min_balance_micros=money_from_decimal(config.risk.min_free_balance_usd)) if not r.ok]
    if failed:
        raise StartupError("\n".join(f"{r.venue}: connectivity check failed: "
                                     f"{'; '.join(r.failures)}" for r in failed))


async def run_embedded(
    config: ArbiterConfig,
    limits: RunLimits = RunLimits(),
    view: Callable[[EmbeddedMesh], View] | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    external_venues: bool = False,
    stop_signal: Callable[[], asyncio.Event] = asyncio.Event,
    announce: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run until `limits` or the stop signal and return the summary. With a `metrics_port`
    the process serves /metrics (and health) on `metrics_host` there, like every pod does.
    With `external_venues` (always, live) the services trade over sockets with the venues
    at `config.venues`; the saga log (`saga.log_path`) then lets a killed run resume where
    it stopped. Trading starts only after reconciliation (risk's readiness gate); the stop
    latches risk's HardStop, lets sagas finish and cancels what still rests. The summary's
    `venue_positions` and `venue_reconciliation` (the engine's PnL against each venue's
    balance change and marked positions) always come from the venues' own APIs."""
    stop = stop_signal()
    live = not config.venues.paper
    async with contextlib.AsyncExitStack() as stack:
        mesh = await _unless_stopped(stop, _start(
            config, stack, metrics_port, metrics_host, external_venues or live, announce))
        try:
            await drive(mesh, limits, stop, view)
        finally:
            await mesh.stop_trading("signal" if stop.is_set() else "run ended")
            summary = mesh.summary()
            if isinstance(mesh.bus, KafkaBus):
                health = mesh.bus.health
                summary["bus_faults"] = {"outages": health.outages,
                                         "data_losses": health.data_losses,
                                         "down_at_stop": not health.up}
            summary["venue_positions"] = await mesh.venue_positions()
            if mesh.portfolio is not None:
                summary["venue_reconciliation"] = await mesh.portfolio.reconcile()
    return summary


async def _start(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack, metrics_port: int | None,
    metrics_host: str, sockets: bool, announce: Callable[[str], None],
) -> EmbeddedMesh:
    """Everything up to the first market step, registered on `stack`; each known way of
    failing becomes a one-line `StartupError`."""
    try:
        health = await stack.enter_async_context(
            serve_telemetry("arbiter-embedded", metrics_port, metrics_host))
    except OSError as exc:
        raise StartupError(f"metrics port {metrics_port} on {metrics_host}: "
                           f"{exc.strerror or exc}") from None
    if health is not None:
        announce(f"metrics on http://{metrics_host}:{health.port}/metrics")
    bus = await stack.enter_async_context(open_bus(config))
    vault = await open_vault(config, stack) if not config.venues.paper else None
    try:
        if vault is not None:
            await preflight(config, vault)
        links = await socket_links(config, stack) if sockets else None
        mesh = await EmbeddedMesh.build(
            config, bus, clock=SystemClock() if bus is not None or sockets else None,
            links=links, vault=vault)
        stack.push_async_callback(mesh.stop)
        if bus is not None:
            builders.guard_bus(bus, mesh.risk)
            builders.recover_from_data_loss(bus, list(mesh.gateways.values()), mesh.saga)
        await mesh.start()  # gateways up, then the saga's recovery marks the venues synced
    except BusUnavailable as exc:
        raise StartupError(str(exc)) from None
    except VaultCredentialError as exc:
        raise StartupError(str(exc)) from None
    except (aiohttp.ClientError, OSError, RequestTimeout, OnboardingError) as exc:
        raise StartupError(f"cannot reach a venue: {type(exc).__name__}: {exc}") from None
    if config.control.serve:
        try:
            endpoint, path = await serve_local_control(mesh.control, config.control,
                                                       config.auth, stack)
        except (AuthConfigError, ConfigError) as exc:
            raise StartupError(f"control API: {exc}") from None
        except RuntimeError as exc:  # grpc: the port could not be bound
            raise StartupError(f"control API on {config.control.host}:{config.control.port}: "
                               f"{exc}") from None
        announce(f"control API on {endpoint.address} for `arbiter ctl` (token in {path})")
    return mesh


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T:
    """`work`, cancelled if the stop signal comes first (a Ctrl-C during a slow start-up
    still unwinds everything started so far, the tansu broker included)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise StartupError("stopped by a signal before trading started")
    return task.result()


async def drive(mesh: EmbeddedMesh, limits: RunLimits, stop: asyncio.Event | None = None,
                view: Callable[[EmbeddedMesh], View] | None = None) -> None:
    """Step the market every `market.step_ms` of wall time until the limits or the signal
    (lock-step: each step processed whole; free: the engine keeps working in between)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    step_s = mesh.config.market.step_ms / 1000
    live = view(mesh) if view is not None else None
    try:
        start, count, last_render = loop.time(), 0, 0.0
        end = None if limits.duration_s is None else start + limits.duration_s
        while ((limits.steps is None or count < limits.steps) and not stop.is_set()
               and (end is None or loop.time() < end)):
            await mesh.step()
            count += 1
            now = loop.time()
            if now - last_render > VIEW_REFRESH_S:  # the view's summary publishes PnL too
                if live is not None:
                    live.update(mesh)
                elif mesh.portfolio is not None:
                    mesh.portfolio.publish()
                last_render = now
            wake = start + count * step_s if end is None else min(start + count * step_s, end)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, wake - loop.time()))
        if live is not None:
            live.update(mesh)
    finally:
        if live is not None:
            live.close()
