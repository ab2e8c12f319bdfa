"""The distributed topology: one service per process, Kafka between them, gRPC for calls.

`arbiter serve SERVICE` lands here: it builds exactly one service with the same builders
the embedded mesh uses (`builders.py`), wires its peers as gRPC stubs and its venue as
sockets, serves `/healthz`, `/readyz` and `/metrics`, and runs until SIGTERM. This is what
each Kubernetes pod runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

import grpc

from arbiter.core.instruments import Venue
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.service import OrderEntryServicer
from arbiter.platform import rpc
from arbiter.platform.auth import AuthConfigError, JwtServerInterceptor, TokenVerifier
from arbiter.platform.bus import Bus, KafkaBus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, ConfigError, gateway_service, services
from arbiter.platform.health import HealthServer
from arbiter.platform.peers import PeerAuthError, PeerAuthInterceptor, TlsMaterial
from arbiter.platform.ports import OrderEntryPort, RiskPort
from arbiter.platform.rpc import start_server
from arbiter.platform.store import LedgerProjector, Store, migrate
from arbiter.platform.telemetry.logging import configure_logging
from arbiter.platform.telemetry.tracing import setup_tracing, shutdown_tracing
from arbiter.platform.venues import VENUES
from arbiter.saga.log import PostgresSagaLog, SagaLog, SqliteSagaLog
from arbiter.saga.service import SagaService
from arbiter.topology import builders
from arbiter.topology.builders import Plane
from arbiter.topology.settlement_booking import SettlementBooker
from arbiter.v1 import (
    control_pb2_grpc,
    execution_pb2_grpc,
    risk_pb2_grpc,
    signing_pb2_grpc,
)
from arbiter.venues.plugin import VaultAccess, plugin

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
                    max_outage_s=config.bus.max_outage_s,
                    request_timeout_ms=config.bus.request_timeout_ms,
                    client_id=f"arbiter-{os.getpid()}")


def _plane(config: ArbiterConfig) -> Plane:
    return Plane.of(config, _bus(config), SystemClock())


async def _run_bus(bus: Bus, stack: contextlib.AsyncExitStack) -> None:
    await bus.start()
    stack.push_async_callback(bus.stop)


def _tls(config: ArbiterConfig) -> TlsMaterial | None:
    """This process's certificate, key and the plane's CA (`tls.*`); None: plaintext."""
    tls = config.tls
    if not tls.enabled:
        return None
    try:
        return TlsMaterial.load(tls.ca_path, tls.cert_path, tls.key_path)
    except PeerAuthError as exc:
        raise ConfigError(str(exc)) from None


async def _serve_grpc(config: ArbiterConfig, stack: contextlib.AsyncExitStack,
                      *register: Callable[[grpc.aio.Server], None],
                      interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (),
                      operators: bool = False) -> None:
    """Serve on `grpc.host:port`. Over mutual TLS (`tls.*`) every caller shows a service
    certificate that the method allows (`operators`: the control API, whose callers are
    people with JWTs, needs none)."""
    tls = _tls(config)
    credentials = None
    if tls is not None:
        credentials = tls.server_credentials(require_client_cert=not operators)
        interceptors = (PeerAuthInterceptor(), *interceptors)
    else:
        log.warning("tls.* is not configured: gRPC is plaintext and any caller on the "
                    "network may call every method")
    server, port = await start_server(config.grpc.port, list(register), interceptors,
                                      host=config.grpc.host, credentials=credentials)
    stack.push_async_callback(server.stop, 5)
    log.info("gRPC listening on %s:%d%s", config.grpc.host, port,
             " (mutual TLS)" if tls is not None else "")


async def _channel(
    address: str, plane: Plane, stack: contextlib.AsyncExitStack
) -> grpc.aio.Channel:
    # every call carries this plane's tenant and the trace context in its metadata
    tls = _tls(plane.config)
    channel = (rpc.secure_channel(address, tls.channel_credentials(), plane.tenant)
               if tls is not None else rpc.insecure_channel(address, plane.tenant))
    stack.push_async_callback(channel.close)
    return channel


async def _risk(plane: Plane, stack: contextlib.AsyncExitStack) -> RiskPort:
    return risk_pb2_grpc.RiskStub(await _channel(plane.config.grpc.risk_addr, plane, stack))


async def _gateways(plane: Plane, stack: contextlib.AsyncExitStack
                    ) -> dict[Venue, OrderEntryPort]:
    return {venue: execution_pb2_grpc.OrderEntryStub(
                await _channel(plane.config.grpc.gateway_addr(venue), plane, stack))
            for venue in plane.universe.venues}


async def build_orderbook(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    plane = _plane(config)
    builders.build_orderbook(plane)
    await _run_bus(plane.bus, stack)


async def build_detector(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    plane = _plane(config)
    builders.build_detector(plane)
    await _run_bus(plane.bus, stack)


async def build_risk(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    plane = _plane(config)
    servicer = builders.build_risk(plane)
    builders.guard_bus(plane.bus, servicer)  # the risk process latches on broker faults
    await _serve_grpc(config, stack,
                      lambda s: risk_pb2_grpc.add_RiskServicer_to_server(servicer, s))
    await _run_bus(plane.bus, stack)


async def build_saga(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    plane = _plane(config)
    channels = [await _channel(address, plane, stack) for address in (
        config.grpc.risk_addr, *(config.grpc.gateway_addr(v) for v in plane.universe.venues))]
    # Recovery talks to risk and every gateway before anything else: wait until they serve
    # (a gateway serves only once it has reached and onboarded with its venue).
    log.info("waiting for risk and the gateways")
    await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)),
                           config.saga.peers_timeout_s)
    journal, store = await _saga_log(config, stack)
    risk, gateways = await _risk(plane, stack), await _gateways(plane, stack)
    saga = builders.build_saga(plane, risk, gateways, journal)
    if store is not None:  # the tenant's order ledger lives beside its saga log
        LedgerProjector(store).subscribe(plane.bus, config.tenant.id)
    await saga.recover()
    builders.recover_from_data_loss(plane.bus, saga=saga)
    await _run_bus(plane.bus, stack)
    stack.push_async_callback(_cancel, asyncio.create_task(
        _reconcile_forever(saga, config.saga.leg_timeout_ms)))
    booker = SettlementBooker(saga.tenant, risk, gateways)
    stack.push_async_callback(_cancel, asyncio.create_task(booker.run()))


async def _saga_log(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> tuple[SagaLog, Store | None]:
    """PostgreSQL (row-level security per tenant) when `store.dsn` is set, else SQLite, and
    the PostgreSQL store if any, verified at start to log in as this tenant's role. With
    `store.migrate_dsn` (the owner role) pending migrations run first."""
    dsn = config.store.dsn.get_secret_value()
    if not dsn:
        journal = SqliteSagaLog(config.saga.log_path, config.tenant.id)
        stack.callback(journal.close)
        return journal, None
    if owner_dsn := config.store.migrate_dsn.get_secret_value():
        await migrate(owner_dsn)
    store = await Store.open(dsn, [config.tenant.id], config.store.pool_min,
                             config.store.pool_max)
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
    plane = _plane(config)
    servicer = builders.build_control(plane, await _risk(plane, stack),
                                      await _gateways(plane, stack))
    await _serve_grpc(config, stack,
                      lambda s: control_pb2_grpc.add_ControlServicer_to_server(servicer, s),
                      interceptors=(JwtServerInterceptor(_token_verifier(config)),),
                      operators=True)
    await _run_bus(plane.bus, stack)


def _token_verifier(config: ArbiterConfig) -> TokenVerifier:
    """The control API authenticates every caller: no verification key, no start."""
    auth = config.auth
    public_key = auth.public_key()
    try:
        return TokenVerifier(auth.hs256_secret.get_secret_value() or None, public_key,
                             auth.leeway_seconds)
    except AuthConfigError as exc:
        raise ConfigError(f"auth: {exc} (control needs auth.hs256_secret or "
                          "auth.rs256_public_key_path)") from None


async def build_vault(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
    """The Signer service (`builders.build_vault`) over gRPC."""
    service = await builders.build_vault(config, stack)
    await _serve_grpc(config, stack, service.add_to_server)


async def socket_gateway(plane: Plane, venue: Venue,
                         stack: contextlib.AsyncExitStack) -> VenueGateway:
    """The venue's gateway over sockets, at its configured URLs; live, its keys stay in the
    vault service (`grpc.vault_addr`). Not started; closed with `stack`."""
    venues = plane.config.venues
    transport = plugin(venue).endpoints(venues.settings(venue), venues).transport()
    stack.push_async_callback(transport.close)
    vault = None
    if not venues.paper:
        stub = signing_pb2_grpc.SignerStub(
            await _channel(plane.config.grpc.vault_addr, plane, stack))
        vault = VaultAccess(stub, plane.tenant)
    return await builders.build_gateway(plane, venue, transport, stack, vault=vault)


def _gateway_builder(venue: Venue) -> Builder:
    async def build(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> None:
        """The venue's gateway over sockets, serving order entry over gRPC."""
        plane = _plane(config)
        gateway = await socket_gateway(plane, venue, stack)
        servicer = OrderEntryServicer(gateway, config.tenant.id)
        await _serve_grpc(config, stack,
                          lambda s: execution_pb2_grpc.add_OrderEntryServicer_to_server(
                              servicer, s))
        await _run_bus(plane.bus, stack)
        builders.link_to_risk(plane, gateway, await _risk(plane, stack), stack)
        builders.recover_from_data_loss(plane.bus, [gateway])
        await gateway.start()

    return build


SHARED_BUILDERS: dict[str, Builder] = {
    "orderbook": build_orderbook,
    "detector": build_detector,
    "risk": build_risk,
    "saga": build_saga,
    "control": build_control,
    "vault": build_vault,
}


def builder(name: str) -> Builder:
    """The builder of one service (`gateway-<venue>` for every registered venue); a
    `ConfigError` lists the services there are."""
    if name in SHARED_BUILDERS:
        return SHARED_BUILDERS[name]
    for venue in VENUES.slugs():
        if gateway_service(venue) == name:
            return _gateway_builder(venue)
    raise ConfigError(f"unknown service {name!r}; allowed: {', '.join(services())}")


def _check_identity(name: str, config: ArbiterConfig) -> None:
    """A process serves with its own certificate only: a saga pod holding control's, or
    another tenant's, is a provisioning mistake that must not start."""
    tls = _tls(config)
    if tls is None:
        return
    peer = tls.identity()
    if (peer.service, peer.tenant_id) != (name, config.tenant.id):
        raise ConfigError(f"tls.cert_path is the certificate of {peer}, not of "
                          f"{name}@{config.tenant.id}")


async def serve_service(
    name: str, config: ArbiterConfig, stop_signal: Callable[[], asyncio.Event]
) -> None:
    """Build `name`, mark it ready, and run until the stop signal."""
    build = builder(name)
    _check_identity(name, config)
    # A pod logs JSON at info unless the operator chose otherwise (`arbiter --log-level
    # --log-format`, ARBITER_LOG_*), even when run with a terminal (`docker run -t`).
    configure_logging(default_level=logging.INFO, default_format="json")
    setup_tracing(name)
    stop = stop_signal()
    health = HealthServer(config.health.host, config.health.port, name)
    await health.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            await build(config, stack)
            health.ready = True
            log.info("%s ready (health on port %d)", name, health.port)
            await stop.wait()
            health.ready = False
    finally:
        await health.stop()
        shutdown_tracing()
