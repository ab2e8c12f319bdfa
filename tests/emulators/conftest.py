"""Real gateways against socket-served emulators on 127.0.0.1, onboarded like on the venues.

Each test gets fresh emulators behind `VenueServer`s, a synthetic market the test steps
itself (deterministic), and the production gateways over `HttpVenueTransport`: Polymarket
derives its API key with an L1 ClobAuth signature, Kalshi registers its public key through
POST /api_keys (the emulator's open-registration paper mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from arbiter.core.book import L2Book
from arbiter.core.instruments import Outcome, Venue
from arbiter.emulators.matching import MatchingEngine
from arbiter.emulators.server import VenueServer
from arbiter.emulators.synthetic import SyntheticMarket
from arbiter.emulators.venue import EmulatedVenue
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.http_transport import Backoff, HttpVenueTransport
from arbiter.gateways.scheduler import Timer
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, load_config
from arbiter.topology.builders import venue_credentials
from arbiter.topology.embedded import EmulatedVenues
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import common_pb2, execution_pb2, market_data_pb2
from arbiter.venues.plugin import GatewayContext, plugin

FAST_BACKOFF = Backoff(initial_s=0.02, factor=2.0, cap_s=0.2)


async def eventually(
    predicate: Callable[[], bool],
    timeout: float = 5.0,
    between: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Poll until `predicate()` holds; `between` runs after each miss (e.g. a market step)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        if between is not None:
            await between()
        await asyncio.sleep(0.005)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- what the gateway publishes -----------------------------------------------------------
@dataclass
class BookMirror:
    """Rebuilds every market's book from the gateway's events, as the orderbook service
    does; a sequence gap raises inside the sink and is recorded."""

    ticks: dict[str, int]
    books: dict[str, L2Book] = field(default_factory=dict)
    kinds: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    errors: list[Exception] = field(default_factory=list)
    tickers: dict[str, market_data_pb2.Ticker] = field(default_factory=dict)  # the latest

    async def __call__(self, event: market_data_pb2.BookEvent) -> None:
        kind = event.WhichOneof("event")
        body = getattr(event, kind)
        self.kinds[body.market_id].append(kind)
        if kind == "ticker":  # the venue's summary, not a book update
            self.tickers[body.market_id] = body
            return
        bids = [(lv.price_micros, lv.qty_micros) for lv in
                (body.bids if kind == "snapshot" else body.bid_changes)]
        asks = [(lv.price_micros, lv.qty_micros) for lv in
                (body.asks if kind == "snapshot" else body.ask_changes)]
        try:
            if kind == "snapshot":
                if body.tick_micros:  # the venue moved the market to another grid
                    self.ticks[body.market_id] = body.tick_micros
                book = self.books[body.market_id] = L2Book(body.market_id,
                                                          self.ticks[body.market_id])
                book.apply_snapshot(bids, asks, body.seq)
            else:
                self.books[body.market_id].apply_delta(bids, asks, body.seq)
        except Exception as exc:
            self.errors.append(exc)
            raise

    def snapshots(self, market_id: str) -> int:
        return self.kinds[market_id].count("snapshot")

    def matches(self, market_id: str, engine: MatchingEngine) -> bool:
        book = self.books.get(market_id)
        if book is None:
            return False
        bids, asks = engine.snapshot()
        return (list(book.iter_bids()), list(book.iter_asks())) == (bids, asks) and bool(bids)


@dataclass
class Harness:
    """One venue: emulator behind its server, the real gateway over real sockets."""

    venue: Venue
    emulator: EmulatedVenue
    server: VenueServer
    transport: HttpVenueTransport
    gateway: VenueGateway
    credentials: Any  # what the gateway signs with, onboarded as against the venue
    market: SyntheticMarket
    mirror: BookMirror
    reports: list[execution_pb2.ExecutionReport]
    book_channel: str  # the transport channel that carries the books

    @property
    def market_ids(self) -> list[str]:
        return list(self.gateway.markets)

    def engine(self, market_id: str) -> MatchingEngine:
        return self.emulator.engines[market_id]

    def all_books_match(self) -> bool:
        return all(self.mirror.matches(m, self.engine(m)) for m in self.market_ids)

    async def step(self) -> None:
        await self.market.step()

    def ioc_buy_yes(self, client_order_id: str, price: int, qty: int) -> execution_pb2.OrderRequest:
        return execution_pb2.OrderRequest(
            tenant=common_pb2.TenantContext(tenant_id="paper"),
            client_order_id=client_order_id,
            venue=self.venue,
            market_id=self.market_ids[0],
            outcome=int(Outcome.YES),
            limit_price_micros=price,
            qty_micros=qty,
            tif=execution_pb2.TIME_IN_FORCE_IOC,
            saga_id=f"saga-{client_order_id}",
            created_micros=time.time_ns() // 1000,
        )


QUIET: dict[Venue, dict[str, Any]] = {"polymarket": {"heartbeat_s": 0}}
"""Per-venue settings that keep a test's request log to what it does itself (no order
heartbeats unless a test asks)."""


def socket_config(venue: Venue, server: VenueServer, *, pairs: list[dict[str, Any]] | None = None,
                  **venue_settings: Any) -> ArbiterConfig:
    """A configuration pointing `venue` at a socket-served emulator, keep-alives fast;
    `pairs` replace the default demo pairs (a venue they do not list trades nothing)."""
    section = plugin(venue).served_at(server.url, server.ws_urls)
    return load_config(environ={}, overrides={"market.seed": 7, **market_pairs(pairs), "venues": {
        "ws_ping_interval_s": 0.5,
        venue: {**section, **QUIET.get(venue, {}), **venue_settings}}})


def market_pairs(pairs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Config overrides for `pairs` (none: the default demo pairs)."""
    return {} if pairs is None else {"market.pairs": pairs}


@contextlib.asynccontextmanager
async def open_harness(venue: Venue, *, timer: Timer | None = None,
                       pairs: list[dict[str, Any]] | None = None) -> AsyncIterator[Harness]:
    """The venue's gateway as `arbiter serve gateway-<venue>` builds it, over real sockets;
    `timer` drives the gateway's request scheduler (default: real time); `pairs` replace the
    demo pairs (they must list `venue`)."""
    config = load_config(environ={}, overrides={"market.seed": 7, **market_pairs(pairs)})
    venues = EmulatedVenues.create(config)
    emulator = venues[venue]
    listed = TradingUniverse.from_config(config.market).listed[venue]
    mirror = BookMirror({entry.market.market_id: entry.market.tick_micros for entry in listed})
    reports: list[execution_pb2.ExecutionReport] = []

    async def on_report(report: execution_pb2.ExecutionReport) -> None:
        reports.append(report)

    async with VenueServer(emulator) as server:
        config = socket_config(venue, server, pairs=pairs)
        settings = config.venues.settings(venue)
        transport = plugin(venue).endpoints(settings, config.venues).transport()
        transport.backoff = FAST_BACKOFF
        async with transport:
            credentials = await venue_credentials(config, venue, transport, None)
            gateway = plugin(venue).gateway(GatewayContext(
                transport, listed, credentials, settings, config.venues, SystemClock(), mirror,
                on_report, timer, nonces=plugin(venue).nonce_allocator()))
            yield await _started(Harness(venue, emulator, server, transport, gateway,
                                         credentials, venues.market, mirror, reports,
                                         emulator.surface.book_channel))


async def _started(harness: Harness) -> Harness:
    await harness.step()  # liquidity on every book before anyone subscribes
    await harness.gateway.start()
    return harness


@pytest.fixture(params=["polymarket", "kalshi"], ids=["polymarket", "kalshi"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with open_harness(request.param) as opened:
        yield opened


@pytest.fixture
async def polymarket() -> AsyncIterator[Harness]:
    async with open_harness("polymarket") as opened:
        yield opened


@pytest.fixture
async def kalshi() -> AsyncIterator[Harness]:
    async with open_harness("kalshi") as opened:
        yield opened
