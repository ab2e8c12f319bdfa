"""In-process venues for gateway tests: the real emulators behind `InProcessLink`, the real
gateways on a `ManualClock` (so their scheduler runs on virtual time: no real sleeps)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from emulators.conftest import QUIET, market_pairs

from arbiter.core.instruments import Outcome, Venue
from arbiter.emulators.link import InProcessLink
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.scheduler import VirtualTimer
from arbiter.platform.clock import ManualClock
from arbiter.platform.config import load_config
from arbiter.platform.transport import RequestTimeout
from arbiter.topology.builders import venue_credentials
from arbiter.topology.embedded import EmulatedVenues
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import common_pb2, execution_pb2
from arbiter.venues.plugin import GatewayContext, plugin

ACK, FILL, CANCELED, REJECT = (execution_pb2.REPORT_KIND_ACK, execution_pb2.REPORT_KIND_FILL,
                               execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT)
GTC, IOC, FOK = (execution_pb2.TIME_IN_FORCE_GTC, execution_pb2.TIME_IN_FORCE_IOC,
                 execution_pb2.TIME_IN_FORCE_FOK)
ONE = 1_000_000


class FaultyLink(InProcessLink):
    """An in-process link whose next replies can be scripted: `(status, body)` answers
    without reaching the venue; `"timeout-after"` lets the venue act, then loses the reply."""

    def __init__(self, venue: Any) -> None:
        super().__init__(venue)
        self.script: dict[tuple[str, str], list[object]] = {}
        self.log: list[tuple[str, str, dict[str, str], bytes]] = []

    def fail(self, method: str, path: str, *outcomes: object) -> None:
        self.script.setdefault((method, path), []).extend(outcomes)

    async def request(self, method: str, path: str, query: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, bytes]:
        self.log.append((method, path, dict(query or {}), body))
        scripted = self.script.get((method, path))
        outcome = scripted.pop(0) if scripted else None
        if isinstance(outcome, tuple):
            return outcome  # type: ignore[return-value]
        reply = await super().request(method, path, query, headers, body)
        if outcome == "timeout-after":
            raise RequestTimeout(f"{method} {path}: reply lost after the venue acted")
        return reply

    def paths(self, method: str) -> list[str]:
        return [p for m, p, _, _ in self.log if m == method]


@dataclass
class Setup:
    venue: Venue
    emulator: Any
    link: FaultyLink
    gateway: Any
    clock: ManualClock
    timer: VirtualTimer
    reports: list[execution_pb2.ExecutionReport] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)

    @property
    def market_id(self) -> str:
        return next(iter(self.gateway.markets))

    def book(self, market_id: str | None = None) -> tuple[list, list]:
        return self.emulator.engines[market_id or self.market_id].snapshot()

    def request(self, price: int, qty: int = ONE, tif: int = IOC, *, outcome: Outcome = Outcome.YES,
                market_id: str | None = None, reduce_only: bool = False,
                client_order_id: str | None = None) -> execution_pb2.OrderRequest:
        coid = client_order_id or f"s{next(self._ids)}:leg1:1"
        return execution_pb2.OrderRequest(
            tenant=common_pb2.TenantContext(tenant_id="paper"), client_order_id=coid,
            venue=self.venue, market_id=market_id or self.market_id, outcome=int(outcome),
            limit_price_micros=price, qty_micros=qty, tif=tif, saga_id=coid.split(":")[0],
            created_micros=self.clock.now_micros(), reduce_only=reduce_only)

    def kinds(self, coid: str) -> list[int]:
        return [r.kind for r in self.reports if r.client_order_id == coid]

    def of(self, coid: str, kind: int) -> list[execution_pb2.ExecutionReport]:
        return [r for r in self.reports if r.client_order_id == coid and r.kind == kind]

    async def settle(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)


async def open_venue(venue: Venue, settings: dict[str, Any] | None = None, *,
                     pairs: list[dict[str, Any]] | None = None,
                     **emulator_kwargs: Any) -> Setup:
    """A started gateway on `venue`, built by its plugin exactly as the composition root
    builds it, against a fresh emulator with the synthetic market's liquidity. `settings`
    override the venue's config section (heartbeats are off unless asked for); `pairs`
    replace the demo pairs (they must list `venue`); `emulator_kwargs` go to the emulator's
    constructor (page sizes)."""
    overrides: dict[str, Any] = {"market.seed": 11, **market_pairs(pairs)}
    overrides[f"venues.{venue}"] = {**QUIET.get(venue, {}), **(settings or {})}
    config = load_config(environ={}, overrides=overrides)
    venues = EmulatedVenues.create(config)
    if emulator_kwargs:  # the one venue rebuilt with its options
        rebuilt = type(venues[venue])(**emulator_kwargs)
        rebuilt.open_registration = True
        for entry in TradingUniverse.from_config(config.market).listed[venue]:
            rebuilt.list_market(entry.market, entry.fees)
        venues.venues[venue] = rebuilt
    await venues.market.step()
    target = venues[venue]
    clock = ManualClock()
    timer = VirtualTimer(lambda: clock.now_micros() / 1e6)
    setup_reports: list[execution_pb2.ExecutionReport] = []

    async def on_report(report: execution_pb2.ExecutionReport) -> None:
        setup_reports.append(report)

    async def on_book(event: object) -> None:
        return None

    link = FaultyLink(target)
    credentials = await venue_credentials(config, venue, InProcessLink(target), None)
    gateway: VenueGateway = plugin(venue).gateway(GatewayContext(
        link, TradingUniverse.from_config(config.market).listed[venue], credentials,
        config.venues.settings(venue), config.venues, clock, on_book, on_report, timer,
        nonces=plugin(venue).nonce_allocator()))
    await gateway.start()
    setup = Setup(venue, target, link, gateway, clock, timer, setup_reports)
    await setup.settle()
    return setup
