"""The Kalshi plugin: how the venue-neutral system builds and checks this venue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from arbiter.core.fees import KALSHI_TAKER, FeeModel
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
from arbiter.gateways.http_transport import SocketEndpoints
from arbiter.platform.config import VenuesConfig
from arbiter.platform.transport import VenueTransport
from arbiter.venues.kalshi import connectivity
from arbiter.venues.kalshi.auth import API_PATH_PREFIX, KALSHI_ACCESS_SIGNATURE
from arbiter.venues.kalshi.config import KalshiMarket, KalshiSettings
from arbiter.venues.kalshi.connectivity import check_kalshi
from arbiter.venues.kalshi.constants import VENUE
from arbiter.venues.kalshi.credentials import (
    CREDENTIAL_KINDS,
    KalshiCredentials,
    kalshi_credentials,
)
from arbiter.venues.kalshi.emulator import KalshiEmulator
from arbiter.venues.kalshi.gateway import KalshiGateway
from arbiter.venues.kalshi.orders import MarketRules, PriceLevelStructure
from arbiter.venues.kalshi.ratelimit import KalshiTier
from arbiter.venues.kalshi.transport import subscribe_commands
from arbiter.venues.plugin import CredentialContext, GatewayContext, ListedMarket, VenuePlugin

CENT_TICK = Decimal("0.01")
WHOLE = qty_from_decimal(1)
FRACTIONAL = qty_from_decimal("0.01")


def rules(leg: KalshiMarket) -> MarketRules:
    """The order rules of a configured market: its price grid and fractional flag."""
    structure = (PriceLevelStructure.LINEAR_CENT if leg.tick == CENT_TICK
                 else PriceLevelStructure.DECI_CENT)
    return MarketRules.for_structure(structure, fractional_trading_enabled=leg.fractional)


class KalshiPlugin(VenuePlugin[KalshiSettings, KalshiMarket, KalshiCredentials]):
    slug = VENUE
    title = "Kalshi trade API v2"
    settings_model = KalshiSettings
    market_model = KalshiMarket
    nets_positions = True
    credential_kinds = CREDENTIAL_KINDS
    dry_run = DryRunRules(
        secret_headers=frozenset({KALSHI_ACCESS_SIGNATURE}),
        pass_through_writes=frozenset({("POST", f"{API_PATH_PREFIX}v2/api_keys")}),  # paper
        rejection=lambda path: orjson.dumps(
            {"error": {"code": "dry_run", "message": DRY_RUN_REASON}}),
    )

    def market(self, leg: KalshiMarket) -> Market:
        return Market(VENUE, leg.ticker, price_from_decimal(leg.tick),
                      FRACTIONAL if leg.fractional else WHOLE)

    def fee_model(self, leg: KalshiMarket) -> FeeModel:
        return KALSHI_TAKER

    def emulator(self) -> EmulatedVenue:
        emulator = KalshiEmulator()
        emulator.open_registration = True  # in process: paper gateways onboard themselves
        return emulator

    def register_emulator_key(self, emulator: EmulatedVenue, key_id: str,
                              public_pem: bytes) -> None:
        """A Kalshi API key is created in the UI from a public key (RSA or Ed25519, as the
        emulator's `/api_keys` takes); the emulator then accepts requests signed with it."""
        if not key_id:
            raise ValueError("the key id is empty")
        try:
            key = serialization.load_pem_public_key(public_pem)
        except ValueError as exc:
            raise ValueError(f"not a PEM public key ({exc})") from None
        if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
            raise ValueError(f"a {type(key).__name__}; Kalshi keys are RSA or Ed25519")
        if not isinstance(emulator, KalshiEmulator):
            raise TypeError(f"{type(emulator).__name__} is not the Kalshi emulator")
        emulator.register_key(key_id, key)

    def endpoints(self, settings: KalshiSettings, venues: VenuesConfig) -> SocketEndpoints:
        return SocketEndpoints(settings.url, {"ws": settings.ws_url},
                               heartbeat_s=venues.ws_ping_interval_s, replay=subscribe_commands,
                               request_timeout_s=venues.request_timeout_s)

    def served_at(self, url: str, ws_urls: Mapping[str, str]) -> dict[str, Any]:
        return {"url": url, "ws_url": ws_urls["ws"]}

    async def credentials(self, context: CredentialContext[KalshiSettings]) -> KalshiCredentials:
        return await kalshi_credentials(context)

    def gateway(
        self, context: GatewayContext[KalshiSettings, KalshiMarket, KalshiCredentials],
    ) -> VenueGateway:
        settings = context.settings
        return KalshiGateway(
            context.transport, [m.market for m in context.markets],
            {m.market.market_id: m.fees for m in context.markets},
            {m.market.market_id: rules(m.leg) for m in context.markets},
            context.credentials.key_id, context.credentials.signer, context.clock,
            context.on_book, context.on_report, tier=KalshiTier(settings.tier),
            legacy_order_entry=settings.legacy_order_entry, timer=context.timer)

    def successor(self, leg: KalshiMarket, generation: int) -> KalshiMarket:
        suffix = f"-N{generation}"  # a series' next event, as Kalshi suffixes its tickers
        return KalshiMarket.model_validate(
            {**leg.model_dump(), "ticker": leg.ticker[:64 - len(suffix)] + suffix})

    async def add_market(self, gateway: VenueGateway,
                         listed: ListedMarket[KalshiMarket]) -> None:
        if not isinstance(gateway, KalshiGateway):
            raise TypeError(f"not a Kalshi gateway: {type(gateway).__name__}")
        await gateway.add_market(listed.market, listed.fees, rules(listed.leg))

    async def check(
        self, transport: VenueTransport,
        credentials: Callable[[], Awaitable[KalshiCredentials]] | None,
        now_ms: NowMs = wall_ms,
    ) -> CheckResult:
        return await guarded(VENUE, check_kalshi(transport, credentials, now_ms))

    def channel_probes(self, legs: Sequence[KalshiMarket],
                       credentials: KalshiCredentials) -> Sequence[ChannelProbe]:
        return connectivity.channel_probes(legs, credentials)

    async def listing(self, transport: VenueTransport, leg: KalshiMarket) -> Listing:
        return await connectivity.listing(transport, leg)

    def cli(self) -> typer.Typer:
        from arbiter.venues.kalshi.cli import app

        return app


PLUGIN = KalshiPlugin()
