"""The Polymarket plugin: how the venue-neutral system builds and checks this venue."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
import typer

from arbiter.core.fees import FeeModel, polymarket_fee
from arbiter.core.instruments import Market
from arbiter.core.units import price_from_decimal, qty_from_decimal
from arbiter.emulators.venue import EmulatedVenue
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.connectivity import (
    ChannelProbe,
    CheckResult,
    Listing,
    NowMs,
    guarded,
    wall_ms,
)
from arbiter.gateways.dry_run import DRY_RUN_REASON, DryRunRules
from arbiter.gateways.http_transport import SocketEndpoints, TextPing
from arbiter.platform.config import VenuesConfig
from arbiter.platform.transport import VenueTransport
from arbiter.venues.plugin import CredentialContext, GatewayContext, ListedMarket, VenuePlugin
from arbiter.venues.polymarket import connectivity
from arbiter.venues.polymarket.auth import POLY_API_KEY, POLY_PASSPHRASE, POLY_SIGNATURE
from arbiter.venues.polymarket.config import PolymarketMarket, PolymarketSettings
from arbiter.venues.polymarket.connectivity import check_polymarket
from arbiter.venues.polymarket.constants import DATA_API_PREFIX, VENUE
from arbiter.venues.polymarket.credentials import (
    CREDENTIAL_KINDS,
    PolymarketCredentials,
    polymarket_credentials,
)
from arbiter.venues.polymarket.emulator import PolymarketEmulator
from arbiter.venues.polymarket.gateway import PolymarketGateway

LOT = qty_from_decimal("0.01")
"""Order sizes have 2 decimals."""


class PolymarketPlugin(VenuePlugin[PolymarketSettings, PolymarketMarket, PolymarketCredentials]):
    slug = VENUE
    title = "Polymarket CLOB V2"
    settings_model = PolymarketSettings
    market_model = PolymarketMarket
    nets_positions = False
    credential_kinds = CREDENTIAL_KINDS
    dry_run = DryRunRules(
        secret_headers=frozenset({POLY_API_KEY, POLY_PASSPHRASE, POLY_SIGNATURE}),
        pass_through_writes=frozenset({
            ("POST", "/auth/api-key"),  # L1 onboarding
            ("POST", "/books"), ("POST", "/prices"), ("POST", "/midpoints"),
            ("POST", "/spreads"), ("POST", "/last-trades-prices"),  # batch reads
            ("POST", "/v1/heartbeats"),  # the dead-man switch (no order is live)
        }),
        rejection=lambda path: orjson.dumps({"error": DRY_RUN_REASON}),
        secret_body_fields=frozenset({"owner"}),  # `owner` is the L2 API key
    )

    def market(self, leg: PolymarketMarket) -> Market:
        return Market(VENUE, leg.condition_id, price_from_decimal(leg.tick), LOT,
                      leg.yes_token, leg.no_token)

    def fee_model(self, leg: PolymarketMarket) -> FeeModel:
        return polymarket_fee(leg.fee_rate, leg.fee_exponent)

    def emulator(self) -> EmulatedVenue:
        return PolymarketEmulator()

    def endpoints(self, settings: PolymarketSettings, venues: VenuesConfig) -> SocketEndpoints:
        ws = settings.ws_url.rstrip("/")
        return SocketEndpoints(settings.url, {"market": f"{ws}/ws/market",
                                              "user": f"{ws}/ws/user"},
                               rest_routes={DATA_API_PREFIX: settings.data_api},
                               ping=TextPing(venues.ws_ping_interval_s),
                               request_timeout_s=venues.request_timeout_s)

    def served_at(self, url: str, ws_urls: Mapping[str, str]) -> dict[str, Any]:
        return {"url": url, "ws_url": ws_urls["market"].removesuffix("/ws/market")}

    async def credentials(
        self, context: CredentialContext[PolymarketSettings]
    ) -> PolymarketCredentials:
        return await polymarket_credentials(context)

    def gateway(
        self,
        context: GatewayContext[PolymarketSettings, PolymarketMarket, PolymarketCredentials],
    ) -> VenueGateway:
        return PolymarketGateway(
            context.transport, [m.market for m in context.markets],
            {m.market.market_id: m.fees for m in context.markets}, context.credentials,
            context.clock, context.on_book, context.on_report,
            heartbeat_interval_s=context.settings.heartbeat_s or None,
            heartbeat_sleep=context.clock.sleep, timer=context.timer)

    def successor(self, leg: PolymarketMarket, generation: int) -> PolymarketMarket:
        def derived(value: str) -> int:  # a fresh uint256, the same for the same inputs
            return int.from_bytes(hashlib.sha256(f"{value}:{generation}".encode()).digest())

        return PolymarketMarket.model_validate({
            **leg.model_dump(), "condition_id": f"0x{derived(leg.condition_id):064x}",
            "yes_token": str(derived(leg.yes_token)), "no_token": str(derived(leg.no_token))})

    async def add_market(self, gateway: VenueGateway,
                         listed: ListedMarket[PolymarketMarket]) -> None:
        if not isinstance(gateway, PolymarketGateway):
            raise TypeError(f"not a Polymarket gateway: {type(gateway).__name__}")
        await gateway.add_market(listed.market, listed.fees)

    async def check(
        self, transport: VenueTransport,
        credentials: Callable[[], Awaitable[PolymarketCredentials]] | None,
        now_ms: NowMs = wall_ms,
    ) -> CheckResult:
        return await guarded(VENUE, check_polymarket(transport, credentials, now_ms))

    def channel_probes(self, legs: Sequence[PolymarketMarket],
                       credentials: PolymarketCredentials) -> Sequence[ChannelProbe]:
        return connectivity.channel_probes(legs, credentials)

    async def listing(self, transport: VenueTransport, leg: PolymarketMarket) -> Listing:
        return await connectivity.listing(transport, leg)

    def cli(self) -> typer.Typer:
        from arbiter.venues.polymarket.cli import app

        return app


PLUGIN = PolymarketPlugin()
