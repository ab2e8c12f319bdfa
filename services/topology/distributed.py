"""The distributed topology: one service per process, Kafka between them, gRPC for calls.

`arbiter serve SERVICE` lands here: it builds exactly one service from the same classes
the embedded mesh uses, wires its peers as gRPC stubs, serves `/healthz`, `/readyz` and
`/metrics`, and runs until SIGTERM. This is what each Kubernetes pod runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from collections.abc import Awaitable, Callable

import grpc

from arbiter.control.service import ControlServicer
from arbiter.core.instruments import Venue
from arbiter.detector.service import DetectorService, DetectorSettings
from arbiter.gateways.factory import build_gateway
from arbiter.gateways.service import OrderEntryServicer
from arbiter.orderbook.service import OrderBookService
from arbiter.platform.bus import Bus, KafkaBus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, ConfigError
from arbiter.platform.auth import AuthConfigError, JwtServerInterceptor, TokenVerifier
from arbiter.platform.health import HealthServer
from arbiter.platform import rpc
from arbiter.platform.rpc import start_server
from arbiter.platform.telemetry.logging import configure_logging
from arbiter.platform.telemetry.tracing import setup_tracing, shutdown_tracing
from arbiter.risk.gates import RiskState
from arbiter.risk.readiness import Aspect
from arbiter.risk.service import RiskServicer
from arbiter.platform.store import LedgerProjector, Store, migrate
from arbiter.saga.log import PostgresSagaLog, SagaLog, SqliteSagaLog
from arbiter.saga.service import SagaService
from arbiter.topology.catalog import Catalog
from arbiter.v1 import (
    common_pb2,
    control_pb2_grpc,
    execution_pb2_grpc,
    risk_pb2_grpc,
)

log = logging.getLogger(__name__)

Builder = Callable[[ArbiterConfig, contextlib.AsyncExitStack], Awaitable[None]]


def _bus(config: ArbiterConfig) -> KafkaBus:
    if config.bus.kind != "kafka" or not config.bus.kafka_bootstrap:
        raise ConfigError(
            "bus.kind must be 'kafka' with bus.kafka_bootstrap set when services run as "
            f"separate processes (was kind={config.bus.kind!r}, "
            f"kafka_bootstrap={config.bus.kafka_bootstrap!r})"
        )
    return KafkaBus(config.bus.kafka_bootstrap, topic_prefix=config.bus.topic_prefix,
                    partitions=config.bus.partitions,
                    fetch_max_wait_ms=config.bus.fetch_max_wait_ms,
                    session_timeout_ms=config.bus.session_timeout_ms,
                    client_id=f"arbiter-{os.getpid()}")


async def _run_bus(bus: Bus, stack: contextlib.AsyncExitStack) -> None:
    await bus.start()
    stack.push_async_callback(bus.stop)


async def _serve_grpc(config: ArbiterConfig, stack: contextlib.AsyncExitStack,
                      *register: Callable[[grpc.aio.Server], None],
                      interceptors: tuple[grpc.aio.ServerInterceptor, ...] = ()) -> None:
    server, port = await start_server(config.grpc.port, list(register), interceptors)
    stack.push_async_callback(server.stop, 5)
    log.info("gRPC listening on port %d", port)


async def _channel(
    address: str, config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> grpc.aio.Channel:
    # every call carries this plane's tenant and the trace context in its metadata
    channel = rpc.insecure_channel(address, _tenant(config))
    stack.push_async_callback(channel.close)
    return channel


def _tenant(config: ArbiterConfig) -> common_pb2.TenantContext:
    return common_pb2.TenantContext(tenant_id=config.tenant.id, tier=config.tenant.tier)


async def build_orderbook(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    bus = _bus(config)
    OrderBookService(bus, Catalog.from_config(config.market).markets(),
                     config.detector.depth_levels)
    await _run_bus(bus, stack)


async def build_detector(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    bus, catalog = _bus(config), Catalog.from_config(config.market)
    settings = DetectorSettings(config.detector.max_qty_micros,
                                config.detector.min_profit_micros, config.detector.ttl_ms * 1000)
    DetectorService(bus, catalog.pairs, catalog.fees, settings, SystemClock())
    await _run_bus(bus, stack)


async def build_risk(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    bus = _bus(config)
    state = RiskState(config.risk, SystemClock())
    for venue in Venue:  # orders, fills and positions: saga recovery reports them synced
        state.mark_ready(venue, Aspect.MARKET_DATA, "distributed: risk started")
    servicer = RiskServicer(state, config.tenant.id, bus)
    await _serve_grpc(config, stack,
                      lambda s: risk_pb2_grpc.add_RiskServicer_to_server(servicer, s))
    await _run_bus(bus, stack)


async def build_saga(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    bus, catalog = _bus(config), Catalog.from_config(config.market)
    channels = [await _channel(address, config, stack) for address in (
        config.grpc.risk_addr, config.grpc.gateway_polymarket_addr,
        config.grpc.gateway_kalshi_addr)]
    # Recovery talks to risk and both gateways before anything else: wait until they serve
    # (a gateway serves only once it has reached and onboarded with its venue).
    log.info("waiting for risk and both gateways")
    await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)),
                           config.saga.peers_timeout_s)
    risk = risk_pb2_grpc.RiskStub(channels[0])
    gateways = {1: execution_pb2_grpc.OrderEntryStub(channels[1]),
                2: execution_pb2_grpc.OrderEntryStub(channels[2])}
    journal, store = await _saga_log(config, stack)
    saga = SagaService(bus, _tenant(config), risk, gateways, catalog.ticks(), SystemClock(),
                       journal=journal)
    if store is not None:  # the tenant's order ledger lives beside its saga log
        LedgerProjector(store).subscribe(bus, config.tenant.id)
    await saga.recover()
    await _run_bus(bus, stack)
    stack.push_async_callback(_cancel, asyncio.create_task(
        _reconcile_forever(saga, config.saga.leg_timeout_ms)))


async def _saga_log(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> tuple[SagaLog, Store | None]:
    """PostgreSQL (row-level security per tenant) when `store.dsn` is set, else SQLite, and
    the PostgreSQL store if any. With `store.migrate_dsn` (the owner role) pending migrations
    run first."""
    dsn = config.store.dsn.get_secret_value()
    if not dsn:
        journal = SqliteSagaLog(config.saga.log_path, config.tenant.id)
        stack.callback(journal.close)
        return journal, None
    if owner_dsn := config.store.migrate_dsn.get_secret_value():
        await migrate(owner_dsn)
    store = await Store.open(dsn, config.store.pool_min, config.store.pool_max)
    stack.push_async_callback(store.close)
    return PostgresSagaLog(store, config.tenant.id), store


async def _reconcile_forever(saga: SagaService, timeout_ms: int) -> None:
    """Orders whose outcome is overdue get looked up at the venue, every half timeout."""
    while True:
        await asyncio.sleep(timeout_ms / 2000)
        try:
            await saga.reconcile_stale(timeout_ms * 1000)
        except grpc.RpcError as exc:
            log.warning("stale-order lookup failed, will retry: %s", exc)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def build_control(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    bus = _bus(config)
    risk = risk_pb2_grpc.RiskStub(await _channel(config.grpc.risk_addr, config, stack))
    gateways = {venue: execution_pb2_grpc.OrderEntryStub(await _channel(address, config, stack))
                for venue, address in ((Venue.POLYMARKET, config.grpc.gateway_polymarket_addr),
                                       (Venue.KALSHI, config.grpc.gateway_kalshi_addr))}
    servicer = ControlServicer(bus, _tenant(config), risk, gateways)
    await _serve_grpc(config, stack,
                      lambda s: control_pb2_grpc.add_ControlServicer_to_server(servicer, s),
                      interceptors=(JwtServerInterceptor(_token_verifier(config)),))
    await _run_bus(bus, stack)


def _token_verifier(config: ArbiterConfig) -> TokenVerifier:
    """The control API authenticates every caller: no verification key, no start."""
    auth = config.auth
    public_key = Path(auth.rs256_public_key_path).read_bytes() if auth.rs256_public_key_path else None
    try:
        return TokenVerifier(auth.hs256_secret.get_secret_value() or None, public_key,
                             auth.leeway_seconds)
    except AuthConfigError as exc:
        raise ConfigError(f"auth: {exc} (control needs auth.hs256_secret or "
                          "auth.rs256_public_key_path)") from None


async def build_vault(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    """The Signer service on PostgreSQL (`vault.store_dsn`, the vault role; with
    `store.migrate_dsn` pending migrations run first) or else the SQLite `vault.store_path`."""
    from arbiter.vault.bootstrap import build_vault_service
    from arbiter.vault.transit import TransitSettings

    vault = config.vault
    transit = TransitSettings.from_env(
        os.environ, url=vault.addr, role=vault.role, key_name=vault.transit_key,
        mount_point=vault.transit_mount) if vault.backend == "transit" else None
    store_dsn = config.vault.store_dsn.get_secret_value()
    if store_dsn and (owner_dsn := config.store.migrate_dsn.get_secret_value()):
        await migrate(owner_dsn)
    # Opening waits for the database and the key backend: off the event loop.
    service = await asyncio.to_thread(
        build_vault_service, config.vault.store_path, config.vault.master_secret_path or None,
        config.vault.backend, transit=transit, store_dsn=store_dsn)
    stack.callback(service.close)
    await _serve_grpc(config, stack, service.add_to_server)


async def _build_gateway(venue: Venue, config: ArbiterConfig,
                         stack: contextlib.AsyncExitStack) -> None:
    bus = _bus(config)
    gateway = await build_gateway(venue, config, bus, stack)
    servicer = OrderEntryServicer(gateway, config.tenant.id)
    await _serve_grpc(config, stack,
                      lambda s: execution_pb2_grpc.add_OrderEntryServicer_to_server(servicer, s))
    await _run_bus(bus, stack)
    await gateway.start()


async def build_gateway_polymarket(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    await _build_gateway(Venue.POLYMARKET, config, stack)


async def build_gateway_kalshi(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    await _build_gateway(Venue.KALSHI, config, stack)


BUILDERS: dict[str, Builder] = {
    "gateway-polymarket": build_gateway_polymarket,
    "gateway-kalshi": build_gateway_kalshi,
    "orderbook": build_orderbook,
    "detector": build_detector,
    "risk": build_risk,
    "saga": build_saga,
    "control": build_control,
    "vault": build_vault,
}


async def serve_service(
    name: str, config: ArbiterConfig, stop_signal: Callable[[], asyncio.Event]
) -> None:
    """Build `name`, mark it ready, and run until the stop signal."""
    configure_logging(logging.INFO)
    setup_tracing(name)
    stop = stop_signal()
    health = HealthServer(config.health.host, config.health.port, name)
    await health.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            await BUILDERS[name](config, stack)
            health.ready = True
            log.info("%s ready (health on port %d)", name, health.port)
            await stop.wait()
            health.ready = False
    finally:
        await health.stop()
        shutdown_tracing()
