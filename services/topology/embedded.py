"""The embedded topology: every service in one process, emulated venues in process.

`EmbeddedMesh` is the distributed plane with in-process transports: the same builders
(`builders.py`) wire the same services, with a `MemoryBus` instead of Kafka, `LocalStub`s
over the servicers instead of gRPC stubs, and in-process links to the emulators instead of
sockets (or sockets, to venues in another process). It serves `arbiter run`, the end-to-end
tests and the benchmarks. On the in-memory bus it runs by default in lock-step with the
synthetic market — each market step is fully processed (every message handled, every saga
advanced) before the next, on a `ManualClock` — so a seed reproduces the same numbers. With
`market.clock: free` (and always on Kafka) the same services run free: the market steps on
the wall clock, the engine works concurrently on the same event loop, and the in-process
venues can be given a network's latency (`LatencyLink`), so the market moves while an order
is in flight, as it does at a real venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.control.service import ControlServicer
from arbiter.core.instruments import MarketPair, Outcome, Venue
from arbiter.core.units import to_decimal
from arbiter.detector.service import DetectorService
from arbiter.emulators.link import NO_LATENCY, InProcessLink, LatencyLink, VenueLatency
from arbiter.emulators.synthetic import SyntheticMarket
from arbiter.emulators.venue import EmulatedVenue
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.dry_run import DryRunTransport
from arbiter.gateways.risk_link import RiskLink
from arbiter.gateways.service import OrderEntryServicer
from arbiter.orderbook.service import OrderBookService
from arbiter.platform.bus import Bus, MemoryBus
from arbiter.platform.clock import Clock, ManualClock, SystemClock, wall_micros
from arbiter.platform.config import ArbiterConfig, PairConfig
from arbiter.platform.ports import OrderEntryPort
from arbiter.platform.rpc import LocalStub
from arbiter.platform.transport import VenueTransport
from arbiter.risk.service import RiskServicer
from arbiter.saga.log import SagaLog, SqliteSagaLog
from arbiter.saga.service import SagaService
from arbiter.topology import builders
from arbiter.topology.builders import Plane
from arbiter.topology.lifecycle import Lifecycle
from arbiter.topology.listings import Listings
from arbiter.topology.portfolio import Portfolio
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import risk_pb2
from arbiter.venues.plugin import VaultAccess, plugin

log = logging.getLogger(__name__)

STOP_LOOKUP_S = 1.0
"""At the stop, how long a saga's open order may wait for its outcome before it is looked up."""

SETTLEMENT_POLL_MS = 1_000
"""How often the venues' settlements are read (each read is one REST call per venue, one
per market on Polymarket)."""


@dataclass
class EmulatedVenues:
    """What outlives an engine crash: the venues (one emulator per venue the pairs trade,
    every configured market listed) and the synthetic market that quotes them, which with
    `market.relist` lists each resolved pair's successor (`listings`)."""

    venues: dict[Venue, EmulatedVenue]
    market: SyntheticMarket
    listings: Listings | None = None

    @classmethod
    def create(cls, config: ArbiterConfig, *, open_registration: bool = True,
               epoch_ms: int | None = None) -> EmulatedVenues:
        """`open_registration`: paper gateways may onboard keys the venue was not told of
        (in process always; `arbiter emulator` only when asked). `epoch_ms`: the venues'
        Unix time at step 0 — the engine's clock when it drives them, else the wall clock."""
        universe = TradingUniverse.from_config(config.market)
        venues = {venue: plugin(venue).emulator() for venue in universe.venues}
        for venue, listed in universe.listed.items():
            venues[venue].open_registration = open_registration
            venues[venue].auto_merge = config.market.auto_merge
            for entry in listed:
                venues[venue].list_market(entry.market, entry.fees)
        market = SyntheticMarket(config.market.seed, config.market.step_ms, universe.pairs,
                                 venues, wall_micros() // 1000 if epoch_ms is None else epoch_ms,
                                 config.market.lifetime_steps)
        if not (config.market.relist and config.market.lifetime_steps > 0):
            return cls(venues, market)
        listings = Listings.of(universe, config.market.pairs)

        def successor(pair_id: str) -> MarketPair:
            _, pair, fresh = listings.successor(pair_id)
            for entry in fresh:
                venues[entry.market.venue].list_market(entry.market, entry.fees)
            return pair

        market.successor = successor
        return cls(venues, market, listings)

    def __getitem__(self, venue: Venue) -> EmulatedVenue:
        return self.venues[venue]

    def links(self, latency: VenueLatency = NO_LATENCY,
              seed: int = 0) -> dict[Venue, InProcessLink]:
        """One in-process link per venue; with a `latency`, each is a `LatencyLink` whose
        jitter is seeded by `seed` and the venue's name."""
        if latency.zero:
            return {venue: InProcessLink(emulator) for venue, emulator in self.venues.items()}
        return {venue: LatencyLink(emulator, latency, random.Random(f"{seed}:{venue}"))
                for venue, emulator in self.venues.items()}


@dataclass
class EmbeddedMesh:
    config: ArbiterConfig
    plane: Plane
    venues: EmulatedVenues | None  # None: the venues are elsewhere (`arbiter emulator`)
    gateways: dict[Venue, VenueGateway]
    orderbook: OrderBookService
    detector: DetectorService
    risk: RiskServicer
    saga: SagaService
    control: ControlServicer
    lockstep: bool
    steps: int = 0
    pairs_listed: int = 0  # approved while running (`approve_pair`)
    risk_links: list[RiskLink] = field(default_factory=list)
    portfolio: Portfolio | None = None  # from `start`: balances are read over the links
    lifecycle: Lifecycle | None = None
    canceled_at_stop: list[str] = field(default_factory=list)
    cancel_failures: list[str] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def bus(self) -> Bus:
        return self.plane.bus

    @property
    def clock(self) -> Clock:
        return self.plane.clock

    @property
    def universe(self) -> TradingUniverse:
        return self.plane.universe

    def venue(self, slug: Venue) -> EmulatedVenue:
        """The emulator of one venue (only when the venues run in this process)."""
        if self.venues is None:
            raise RuntimeError("the venues run in another process; ask them over their API")
        return self.venues[slug]

    @property
    def market(self) -> SyntheticMarket:
        if self.venues is None:
            raise RuntimeError("the venues run in another process; ask them over their API")
        return self.venues.market

    @classmethod
    async def build(
        cls,
        config: ArbiterConfig,
        bus: Bus | None = None,
        clock: Clock | None = None,
        venues: EmulatedVenues | None = None,
        links: Mapping[Venue, VenueTransport] | None = None,
        journal: SagaLog | None = None,
        credentials: Mapping[Venue, Any] | None = None,
        vault: VaultAccess | None = None,
    ) -> EmbeddedMesh:
        """Wire every service with the shared builders. Pass `venues`/`links`/`journal`/
        `credentials` to reuse what survives a crash (the race simulator does), `bus`/`clock`
        to run free on Kafka, and `links` without `venues` to trade with venues in another
        process. Gateways get their credentials over their links unless `credentials` has
        them; live (`venues.mode: live`) they sign through `vault`. Without a `clock`,
        `market.clock` picks simulated time (lock-step) or the wall clock (free)."""
        bus = bus or MemoryBus(partitions=config.bus.partitions)
        if clock is None:
            clock = SystemClock() if config.market.clock == "free" else ManualClock()
        lockstep = isinstance(bus, MemoryBus) and isinstance(clock, ManualClock)
        plane = Plane.of(config, bus, clock)
        if venues is None and links is None:
            venues = EmulatedVenues.create(config, epoch_ms=plane.clock.now_micros() // 1000)
        stack = contextlib.AsyncExitStack()
        if links is None:
            assert venues is not None
            own = venues.links(VenueLatency.from_config(config.market), config.market.seed)
            for link in own.values():
                if isinstance(link, LatencyLink):
                    stack.push_async_callback(link.close)
            links = own
        gateways = {
            venue: await builders.build_gateway(
                plane, venue, links[venue], stack,
                credentials=(credentials or {}).get(venue), vault=vault)
            for venue in plane.universe.venues}
        order_entry: dict[Venue, OrderEntryPort] = {
            venue: LocalStub(OrderEntryServicer(gateway, config.tenant.id))  # type: ignore[misc]
            for venue, gateway in gateways.items()}
        risk = builders.build_risk(plane)
        journal = journal or SqliteSagaLog(config.saga.log_path, config.tenant.id)
        saga = builders.build_saga(
            plane, LocalStub(risk), order_entry, journal,  # type: ignore[arg-type]
            quote=lambda venue, market_id, outcome: detector.buy_price(venue, market_id,
                                                                       outcome))
        # The detector subscribes to the book events first, so on the one event loop its
        # consumer wakes before the order book's: the off-path service never delays a tick.
        detector = builders.build_detector(plane)
        control = builders.build_control(plane, LocalStub(risk), order_entry)  # type: ignore[arg-type]
        return cls(config, plane, venues, gateways, builders.build_orderbook(plane),
                   detector, risk, saga, control, lockstep, _stack=stack)

    async def start(self) -> None:
        await self.bus.start()
        risk = LocalStub(self.risk)
        for gateway in self.gateways.values():
            self.risk_links.append(builders.link_to_risk(
                self.plane, gateway, risk, self._stack))  # type: ignore[arg-type]
            await gateway.start()
        await self._approve_listed()  # after a restart: what the market listed meanwhile
        await self.saga.recover()
        await self.settle()
        self.portfolio = await Portfolio.open(self.config.tenant.id, self.saga, self.orderbook,
                                              self.gateways, self.universe)
        self.lifecycle = await Lifecycle.open(
            self.plane.tenant, self.gateways, LocalStub(self.risk),  # type: ignore[arg-type]
            self.saga, self.portfolio, self.universe)

    async def approve_pair(self, pair: PairConfig) -> None:
        """Trade a pair listed while running (the living synthetic market's successors)
        with the wiring `build` gives the configured ones: its new markets join the
        universe, the order book, the saga's ticks and their venues' gateways (which
        subscribe them), then the detector evaluates it. Its books are stale until their
        snapshots, so nothing trades on it before."""
        market_pair, fresh = self.universe.add(pair)
        for entry in fresh:
            self.orderbook.add_market(entry.market)
            self.saga.add_market(entry.market)
        self.detector.add_pair(market_pair, self.universe.fees)
        for entry in fresh:
            await plugin(entry.market.venue).add_market(self.gateways[entry.market.venue], entry)
        self.pairs_listed += 1

    async def _approve_listed(self) -> None:
        """Approve what the in-process market listed that the engine does not trade yet."""
        if self.venues is None or self.venues.listings is None:
            return
        traded = {pair.pair_id for pair in self.universe.pairs}
        for listed in self.venues.listings.listed:
            if listed.pair_id not in traded:
                await self.approve_pair(listed)

    async def stop_trading(self, reason: str) -> None:
        """The orderly end of a run: latch risk's HardStop (no new saga; hedges and cancels
        still flow), let the sagas in flight finish, then cancel whatever still rests at
        every venue (control's kill-switch sweep), so nothing is left working."""
        await LocalStub(self.risk).HardStop(risk_pb2.HardStopRequest(
            tenant=self.plane.tenant, reason=f"stopping: {reason}", actor="arbiter-run"))
        await self.wait_for_sagas()
        canceled, failures = await self.control.cancel_everything()
        self.canceled_at_stop += canceled
        self.cancel_failures += failures
        await self.settle()
        await self.read_settlements()

    async def read_settlements(self) -> None:
        """Book what the venues merged and settled since the last read (the summary counts
        it)."""
        if self.lifecycle is not None:
            await self.lifecycle.poll_merges()
            for venue, market_id in await self.lifecycle.poll():
                self.orderbook.retire_market(self.universe.market(venue, market_id).key)
            await self.settle()

    async def stop(self) -> None:
        await self._stack.aclose()  # the gateways' background tasks (heartbeats)
        await self.bus.stop()

    async def step(self) -> None:
        """One market step; in lock-step mode returns only when the mesh is idle again."""
        if isinstance(self.clock, ManualClock):
            self.clock.advance(self.config.market.step_ms * 1000)
        if self.venues is not None:
            await self.venues.market.step()
            await self._approve_listed()
        self.steps += 1
        await self.settle()
        if await self.saga.reconcile_stale(self.config.saga.leg_timeout_ms * 1000):
            await self.settle()
        if self.steps % max(1, SETTLEMENT_POLL_MS // self.config.market.step_ms) == 0:
            await self.read_settlements()

    async def settle(self) -> None:
        if self.lockstep:
            await self.bus.drained()
            for link in self.risk_links:
                await link.flush()

    async def wait_for_sagas(self, timeout: float = 10.0) -> None:
        """Let in-flight sagas finish (the Kafka bus has no drain). No market step comes
        any more, so nothing else looks up an order whose outcome is late (on a lock-step
        clock none would even be overdue): every `STOP_LOOKUP_S` of waiting, each order
        still open is looked up at the venue, never re-sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        lookup = loop.time() + STOP_LOOKUP_S
        while self.saga.in_flight and loop.time() < deadline:
            if loop.time() >= lookup:
                try:
                    await self.saga.reconcile_stale(0)
                except Exception as exc:  # noqa: BLE001 - a venue that is down: next second
                    log.warning("stop: an open order could not be looked up (%s); "
                                "retrying", exc)
                await self.settle()
                lookup = loop.time() + STOP_LOOKUP_S
            await asyncio.sleep(0.05)

    # -- reporting -------------------------------------------------------------------
    @property
    def summary_bus(self) -> str:
        """The bus the services talk over, as the summary and the view name it."""
        return "memory" if isinstance(self.bus, MemoryBus) else "kafka"

    async def venue_positions(self) -> dict[str, dict[str, str]]:
        """What each venue says we hold, through its own API (in-process or over sockets),
        keyed like the summary's `open_positions`; a netting venue reports one net side per
        market."""
        held: dict[str, dict[str, str]] = {}
        for venue, gateway in sorted(self.gateways.items()):
            snapshot = await gateway.positions()
            held[venue] = {f"{p.market_id}:{Outcome(p.outcome).name}": str(
                to_decimal(p.qty_micros)) for p in snapshot.positions}
        return held

    def summary(self) -> dict[str, Any]:
        """The run's numbers; a live run also says so and what its stop canceled (a paper
        summary keeps its shape, so seeded runs compare across versions). `locked_in_pnl_usd`
        is what the terminal sagas' hedges pay at resolution; realized and unrealized PnL
        are the portfolio's (`topology/portfolio.py`)."""
        stats = self.saga.stats()
        positions: dict[str, dict[str, str]] = {}
        settled = self.portfolio.settled if self.portfolio is not None else {}
        merged = self.portfolio.merged if self.portfolio is not None else {}
        for (venue, market_id, outcome), bought in sorted(self.saga.positions.items()):
            qty = bought - merged.get((venue, market_id), 0)
            if qty and (venue, market_id) not in settled:
                positions.setdefault(venue, {})[f"{market_id}:{outcome.name}"] = str(
                    to_decimal(qty))
        summary = {
            "seed": self.config.market.seed,
            "steps": self.steps,
            "bus": self.summary_bus,
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
            "locked_in_pnl_usd": str(to_decimal(stats.realized_pnl)),
            **(self.portfolio.summary() if self.portfolio is not None else {}),
            "open_positions": positions,
            **(self.lifecycle.summary() if self.lifecycle is not None else {}),
            "pairs_listed": self.pairs_listed,
            "dry_run_orders_not_sent": sum(
                g.transport.inner.would_have_sent for g in self.gateways.values()
                if isinstance(g.transport.inner, DryRunTransport)),
        }
        if not self.config.venues.paper:
            summary.update(mode="live", orders_canceled_at_stop=len(self.canceled_at_stop),
                           cancel_failures=self.cancel_failures)
        return summary
