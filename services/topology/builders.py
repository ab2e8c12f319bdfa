"""The composition root: one builder per service, used by both topologies.

A service is always built here, from the same configuration, the same way: the embedded
mesh (`embedded.py`) calls these builders with an in-memory bus, in-process ports
(`LocalStub`) and in-process links to the emulators; `arbiter serve` (`distributed.py`) calls
them with Kafka, gRPC stubs and sockets. So what a gateway is told (signature type, funder,
heartbeats, rate-limit tier, order-entry path), how risk is sized, and which markets each
service trades can only differ by configuration, never by topology.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arbiter.control.service import ControlServicer
from arbiter.core.instruments import Venue
from arbiter.detector.service import DetectorService, DetectorSettings
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.dry_run import DryRunTransport
from arbiter.gateways.risk_link import RiskLink
from arbiter.gateways.service import BusSinks, answer_resyncs
from arbiter.orderbook.service import OrderBookService
from arbiter.platform.bus import Bus, KafkaBus
from arbiter.platform.clock import Clock
from arbiter.platform.config import ArbiterConfig, SagaConfig
from arbiter.platform.ports import OrderEntryPort, RiskPort
from arbiter.platform.telemetry import metrics
from arbiter.platform.tenancy import tier_named
from arbiter.platform.transport import VenueTransport
from arbiter.risk.latch import Trigger
from arbiter.risk.service import RiskServicer, limits_from_config
from arbiter.risk.state import RiskState
from arbiter.saga.log import SagaLog
from arbiter.saga.machine import HedgeStep, HedgeStrategy, Policy
from arbiter.saga.service import Quote, SagaService
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import common_pb2
from arbiter.venues.plugin import CredentialContext, GatewayContext, VaultAccess, plugin

if TYPE_CHECKING:
    from arbiter.vault.bootstrap import VaultService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plane:
    """What every service of one tenant's plane is wired to: its configuration, the markets
    it trades, the bus and the business clock."""

    config: ArbiterConfig
    universe: TradingUniverse
    bus: Bus
    clock: Clock

    @classmethod
    def of(cls, config: ArbiterConfig, bus: Bus, clock: Clock) -> Plane:
        return cls(config, TradingUniverse.from_config(config.market), bus, clock)

    @property
    def tenant(self) -> common_pb2.TenantContext:
        return common_pb2.TenantContext(tenant_id=self.config.tenant.id,
                                        tier=self.config.tenant.tier)


def build_orderbook(plane: Plane) -> OrderBookService:
    return OrderBookService(plane.bus, plane.universe.markets(), plane.config.detector.depth_levels)


def build_detector(plane: Plane) -> DetectorService:
    detector = plane.config.detector
    settings = DetectorSettings(detector.max_qty_micros, detector.min_profit_micros,
                                detector.ttl_ms * 1000, detector.depth_levels,
                                detector.max_book_age_ms * 1000)
    return DetectorService(plane.bus, plane.universe.pairs, plane.universe.fees, settings,
                           plane.clock)


def build_risk(plane: Plane) -> RiskServicer:
    config = plane.config.risk
    state = RiskState(limits_from_config(config), plane.clock, plane.universe.venues)
    return RiskServicer(state, config, plane.config.tenant.id, plane.bus,
                        tier_named(plane.config.tenant.tier))


def guard_bus(bus: Bus, risk: RiskServicer) -> None:
    """Broker faults stop new risk: an outage longer than `bus.max_outage_s` latches the
    HardStop (trigger broker), a broker that came back without its data latches it for a
    reconciliation (a reset must acknowledge it: books and reports were lost in between,
    and `recover_from_data_loss` rebuilds them from the venues)."""
    if not isinstance(bus, KafkaBus):
        return

    async def outage(reason: str) -> None:
        risk.state.latch_fault(Trigger.BROKER, reason, "bus-probe")

    async def data_loss(reason: str) -> None:
        risk.state.latch_fault(Trigger.RECONCILIATION, f"{reason}: books and sagas rebuilt "
                               "from the venues; check positions, then acknowledge", "bus-probe")

    bus.watch(on_outage=outage, on_data_loss=data_loss)


RECOVERY_TIMEOUT_S = 30.0
"""How long one service's rebuild after a data loss may take before it is given up (logged;
the overdue-order lookup and the next gap retry what it did not finish)."""


def recover_from_data_loss(bus: Bus, gateways: Sequence[VenueGateway] = (),
                           saga: SagaService | None = None) -> None:
    """What a broker restarted without its data lost is rebuilt from the venues, by the
    services of this process: each gateway asks its venue for fresh books (the book events
    in flight are gone, so the order books and the detector sit on gaps, stale), and the saga
    looks every open order up at its venue (its reports may be gone too) and tells risk the
    fills it knows of again (risk may not have read their reports before they were lost)."""
    if not isinstance(bus, KafkaBus):
        return

    async def rebuild(reason: str) -> None:
        log.warning("rebuilding from the venues after a broker data loss (%s)", reason)
        for gateway in gateways:
            await asyncio.wait_for(gateway.resync_books(), RECOVERY_TIMEOUT_S)
            metrics.BUS_REBUILDS.labels(what="books").inc()
        if saga is not None:
            looked = await asyncio.wait_for(saga.reconcile_stale(0), RECOVERY_TIMEOUT_S)
            told = await asyncio.wait_for(saga.report_fills_again(), RECOVERY_TIMEOUT_S)
            metrics.BUS_REBUILDS.labels(what="orders").inc()
            log.warning("looked %d open orders up at their venues and told risk %d known "
                        "fills again after the data loss", looked, told)

    bus.watch(on_data_loss=rebuild)


def build_saga(plane: Plane, risk: RiskPort, gateways: Mapping[Venue, OrderEntryPort],
               journal: SagaLog, quote: Quote | None = None) -> SagaService:
    return SagaService(plane.bus, plane.tenant, risk, gateways, plane.universe.ticks(),
                       plane.clock, saga_policy(plane.config.saga), journal=journal,
                       quote=quote)


def saga_policy(config: SagaConfig) -> Policy:
    """The hedge ladder and execution as the saga's state machine takes them (validated by
    the config)."""
    return Policy(tuple(HedgeStep(HedgeStrategy[step.strategy.upper()], step.ticks)
                        for step in config.hedge_ladder),
                  parallel=config.execution == "parallel",
                  leg2_slack_ticks=config.leg2_slack_ticks)


def build_control(plane: Plane, risk: RiskPort,
                  gateways: Mapping[Venue, OrderEntryPort]) -> ControlServicer:
    venues = plane.config.venues
    mode = "live" if not venues.paper else "paper"
    return ControlServicer(plane.bus, plane.tenant, risk, gateways,
                           f"{mode}, dry run" if venues.dry_run else mode)


async def build_vault(config: ArbiterConfig, stack: contextlib.AsyncExitStack) -> VaultService:
    """The Signer service on PostgreSQL (`vault.store_dsn`, the vault role; with
    `store.migrate_dsn` pending migrations run first) or else the SQLite `vault.store_path`;
    closed with `stack`. `arbiter serve vault` serves it over gRPC, `arbiter run --live`
    calls it in process. It signs for `config`'s tenant and those of `vault.tenant_configs`,
    each within the scope its configuration gives (`signing_scope`). Imported here: the store
    and key-backend drivers load only when a vault is built."""
    from arbiter.platform.store import migrate
    from arbiter.topology.signing_scope import vault_signing_policies
    from arbiter.vault.bootstrap import build_vault_service
    from arbiter.vault.transit import TransitSettings

    vault = config.vault
    transit = TransitSettings.from_env(
        os.environ, url=vault.addr, role=vault.role, key_name=vault.transit_key,
        mount_point=vault.transit_mount) if vault.backend == "transit" else None
    policies = vault_signing_policies(config)  # a bad tenant file stops the start, first
    store_dsn = vault.store_dsn.get_secret_value()
    if store_dsn and (owner_dsn := config.store.migrate_dsn.get_secret_value()):
        await migrate(owner_dsn)
    # Opening waits for the database and the key backend: off the event loop.
    service = await asyncio.to_thread(
        build_vault_service, vault.store_path, vault.master_secret_path or None,
        vault.backend, transit=transit, store_dsn=store_dsn,
        policies=policies)
    stack.callback(service.close)
    return service


async def venue_credentials(config: ArbiterConfig, venue: Venue, transport: VenueTransport,
                            vault: VaultAccess | None) -> Any:
    """A venue's credentials as its gateway will use them: paper keys onboarded over
    `transport`, or live signers backed by the vault."""
    venues = config.venues
    return await plugin(venue).credentials(
        CredentialContext(venues.mode, transport, venues.settings(venue), vault))


async def build_gateway(
    plane: Plane, venue: Venue, transport: VenueTransport, stack: contextlib.AsyncExitStack,
    *, credentials: Any = None, vault: VaultAccess | None = None,
) -> VenueGateway:
    """A gateway for `venue`, its credentials obtained over `transport` unless given (a run
    that outlives crashes reuses them), closed with `stack`. Not started."""
    venue_plugin = plugin(venue)
    venues = plane.config.venues
    if credentials is None:
        credentials = await venue_credentials(plane.config, venue, transport, vault)
    trading = DryRunTransport(transport, venue_plugin.dry_run) if venues.dry_run else transport
    sinks = BusSinks(plane.bus, venue, plane.config.tenant.tier)
    gateway = venue_plugin.gateway(GatewayContext(
        trading, plane.universe.listed[venue], credentials, venues.settings(venue), venues,
        plane.clock, sinks.book, sinks.report, nonces=venue_plugin.nonce_allocator()))
    answer_resyncs(plane.bus, gateway, venue)
    stack.push_async_callback(gateway.close)
    return gateway


def link_to_risk(plane: Plane, gateway: VenueGateway, risk: RiskPort,
                       stack: contextlib.AsyncExitStack) -> RiskLink:
    """Keep risk told of `gateway`'s market-data readiness and venue balance, in the
    background; stopped with `stack`."""
    link = RiskLink(gateway, risk, plane.tenant, plane.config.venues.balance_refresh_s)
    link.start()
    stack.push_async_callback(link.close)
    return link
