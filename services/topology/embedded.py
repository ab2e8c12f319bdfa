"""The embedded topology: every service in one process, emulated venues in process.

`EmbeddedMesh` is the composition root used by `arbiter run`, the end-to-end tests and the
benchmarks. On the in-memory bus it runs in lock-step with the synthetic market — each
market step is fully processed (every message handled, every saga advanced) before the
next — so a seed reproduces the same numbers. On Kafka the same services run free.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import to_decimal
from arbiter.detector.service import DetectorService, DetectorSettings
from arbiter.emulators.kalshi import KalshiEmulator
from arbiter.emulators.link import InProcessLink
from arbiter.emulators.polymarket import PolymarketEmulator
from arbiter.emulators.synthetic import SyntheticMarket
from arbiter.gateways.kalshi.adapter import KalshiGateway
from arbiter.gateways.polymarket.adapter import PolymarketCredentials, PolymarketGateway
from arbiter.gateways.dry_run import DryRunTransport
from arbiter.gateways.service import BusSinks, OrderEntryServicer
from arbiter.gateways.transport import VenueTransport
from arbiter.orderbook.service import OrderBookService
from arbiter.platform.bus import Bus, MemoryBus
from arbiter.platform.clock import Clock, ManualClock
from arbiter.platform.config import ArbiterConfig
from arbiter.platform.rpc import LocalStub
from arbiter.risk.gates import RiskState
from arbiter.risk.readiness import Aspect
from arbiter.risk.service import RiskServicer
from arbiter.saga.log import SagaLog, SqliteSagaLog
from arbiter.saga.service import SagaService
from arbiter.topology.catalog import Catalog
from arbiter.topology.credentials import PaperCredentials
from arbiter.v1 import common_pb2


@dataclass
class EmulatedVenues:
    """What outlives an engine crash: the venues, their synthetic market and our keys."""

    polymarket: PolymarketEmulator
    kalshi: KalshiEmulator
    market: SyntheticMarket
    credentials: PaperCredentials

    @classmethod
    def create(cls, config: ArbiterConfig, credentials: PaperCredentials | None = None) -> EmulatedVenues:
        credentials = credentials or PaperCredentials.create()
        polymarket, kalshi = PolymarketEmulator(), KalshiEmulator()
        polymarket.register_api_key(credentials.polymarket_api,
                                    credentials.polymarket_signer.address)
        kalshi.register_key(credentials.kalshi_key_id, credentials.kalshi_key.public_key())
        return cls(polymarket, kalshi, SyntheticMarket(config.market, polymarket, kalshi),
                   credentials)

    def links(self) -> dict[Venue, VenueTransport]:
        return {Venue.POLYMARKET: InProcessLink(self.polymarket),
                Venue.KALSHI: InProcessLink(self.kalshi)}


@dataclass
class EmbeddedMesh:
    config: ArbiterConfig
    bus: Bus
    clock: Clock
    catalog: Catalog
    venues: EmulatedVenues | None  # None: the venues are elsewhere (`arbiter emulator`)
    gateways: dict[Venue, Any]
    orderbook: OrderBookService
    detector: DetectorService
    risk: RiskServicer
    saga: SagaService
    lockstep: bool
    steps: int = 0

    def _local(self) -> EmulatedVenues:
        if self.venues is None:
            raise RuntimeError("the venues run in another process; ask them over their API")
        return self.venues

    @property
    def polymarket(self) -> PolymarketEmulator:
        return self._local().polymarket

    @property
    def kalshi(self) -> KalshiEmulator:
        return self._local().kalshi

    @property
    def market(self) -> SyntheticMarket:
        return self._local().market

    @classmethod
    def build(
        cls,
        config: ArbiterConfig,
        bus: Bus | None = None,
        clock: Clock | None = None,
        venues: EmulatedVenues | None = None,
        links: dict[Venue, VenueTransport] | None = None,
        journal: SagaLog | None = None,
        credentials: PaperCredentials | None = None,
    ) -> EmbeddedMesh:
        """Wire every service; pass `venues`/`links`/`journal` to reuse what survives a
        crash (the race simulator does), `bus`/`clock` to run free on Kafka, and `links` +
        `credentials` without `venues` to trade with venues in another process."""
        bus = bus or MemoryBus(partitions=config.bus.partitions)
        lockstep = isinstance(bus, MemoryBus) and (clock is None or isinstance(clock, ManualClock))
        clock = clock or ManualClock()
        catalog = Catalog.from_config(config.market)
        if venues is None and (links is None or credentials is None):
            venues = EmulatedVenues.create(config)
        if links is None:
            assert venues is not None
            links = venues.links()
        if config.venues.dry_run:
            links = {v: DryRunTransport(link) for v, link in links.items()}
        credentials = credentials or venues.credentials  # type: ignore[union-attr]
        tenant = common_pb2.TenantContext(tenant_id=config.tenant.id, tier=config.tenant.tier)

        sinks = {v: BusSinks(bus, v.slug, config.tenant.tier) for v in Venue}
        gateways = {
            Venue.POLYMARKET: PolymarketGateway(
                links[Venue.POLYMARKET], catalog.markets(Venue.POLYMARKET), catalog.fees_by_id(),
                PolymarketCredentials(credentials.polymarket_signer, credentials.polymarket_api),
                clock, sinks[Venue.POLYMARKET].book, sinks[Venue.POLYMARKET].report),
            Venue.KALSHI: KalshiGateway(
                links[Venue.KALSHI], catalog.markets(Venue.KALSHI), catalog.fees_by_id(),
                catalog.kalshi_rules, credentials.kalshi_key_id, credentials.kalshi_signer,
                clock, sinks[Venue.KALSHI].book, sinks[Venue.KALSHI].report),
        }
        orderbook = OrderBookService(bus, catalog.markets(), config.detector.depth_levels)
        detector = DetectorService(
            bus, catalog.pairs, catalog.fees,
            DetectorSettings(config.detector.max_qty_micros, config.detector.min_profit_micros,
                             config.detector.ttl_ms * 1000),
            clock)
        risk = RiskServicer(RiskState(config.risk, clock), config.tenant.id, bus)
        order_entry = {int(v): LocalStub(OrderEntryServicer(g, config.tenant.id))
                       for v, g in gateways.items()}
        journal = journal or SqliteSagaLog(config.saga.log_path, config.tenant.id)
        saga = SagaService(bus, tenant, LocalStub(risk), order_entry, catalog.ticks(), clock,
                           journal=journal)
        return cls(config, bus, clock, catalog, venues, gateways, orderbook, detector, risk,
                   saga, lockstep)

    async def start(self) -> None:
        await self.bus.start()
        for venue, gateway in self.gateways.items():
            await gateway.start()
            # A started gateway has subscribed its books; the rest is synced by recovery.
            self.risk.state.mark_ready(venue, Aspect.MARKET_DATA, "embedded: gateway started")
        await self.saga.recover()
        await self.settle()

    async def stop(self) -> None:
        await self.bus.stop()

    async def step(self) -> None:
        """One market step; in lock-step mode returns only when the mesh is idle again."""
        if isinstance(self.clock, ManualClock):
            self.clock.advance(self.config.market.step_ms * 1000)
        if self.venues is not None:
            await self.venues.market.step()
        self.steps += 1
        await self.settle()
        if await self.saga.reconcile_stale(self.config.saga.leg_timeout_ms * 1000):
            await self.settle()

    async def settle(self) -> None:
        if self.lockstep:
            await self.bus.drained()  # type: ignore[attr-defined]

    async def wait_for_sagas(self, timeout: float = 10.0) -> None:
        """Let in-flight sagas finish (the Kafka bus has no drain)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.saga.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)

    # -- reporting -------------------------------------------------------------------
    async def venue_positions(self) -> dict[str, dict[str, str]]:
        """What each venue says we hold, through its own API (in-process or over sockets),
        keyed like the summary's `open_positions`; Kalshi reports one net side per market."""
        held: dict[str, dict[str, str]] = {}
        for venue, gateway in sorted(self.gateways.items()):
            snapshot = await gateway.positions()
            held[venue.slug] = {f"{p.market_id}:{Outcome(p.outcome).name}": str(
                to_decimal(p.qty_micros)) for p in snapshot.positions}
        return held

    def summary(self) -> dict[str, Any]:
        stats = self.saga.stats()
        positions: dict[str, dict[str, str]] = {}
        for (venue, market_id, outcome), qty in sorted(self.saga.positions.items()):
            if qty:
                positions.setdefault(Venue(venue).slug, {})[f"{market_id}:{outcome.name}"] = str(
                    to_decimal(qty))
        return {
            "seed": self.config.market.seed,
            "steps": self.steps,
            "bus": "memory" if isinstance(self.bus, MemoryBus) else "kafka",
            "book_updates": self.orderbook.updates,
            "book_gaps": self.orderbook.gaps,
            "detector_evaluations": self.detector.evaluations,
            "opportunities": self.detector.published,
            "opportunities_expired": stats.expired,
            "risk_rejections": dict(sorted(self.risk.rejections.items())),
            "sagas_started": stats.started,
            "sagas_completed": stats.completed,
            "sagas_compensated": stats.compensated,
            "sagas_held": stats.held,
            "sagas_leg1_failed": stats.leg1_failed,
            "sagas_in_flight": self.saga.in_flight,
            "orders_sent": stats.orders_sent,
            "orphans_canceled": self.saga.orphans_canceled,
            "fills": stats.fills,
            "realized_pnl_usd": str(to_decimal(stats.realized_pnl)),
            "fees_paid_usd": str(to_decimal(sum(
                o.fees for saga in self.saga.sagas.values() for o in saga.orders.values()))),
            "open_positions": positions,
            "dry_run_orders_not_sent": sum(
                g.transport.inner.would_have_sent for g in self.gateways.values()
                if isinstance(g.transport.inner, DryRunTransport)),
        }

