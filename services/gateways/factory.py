"""Build a venue gateway for `arbiter serve gateway-*`: socket transport, credentials,
and the bus sinks. The embedded topology wires the same adapters to in-process links."""

from __future__ import annotations

import contextlib
import time

from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.core.instruments import Venue
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.dry_run import DryRunTransport
from arbiter.gateways.http_transport import HttpVenueTransport, TextPing, kalshi_subscribe_commands
from arbiter.gateways.kalshi.adapter import KalshiGateway
from arbiter.gateways.kalshi.auth import PrivateKeySigner, ws_auth_headers
from arbiter.gateways.onboarding import derive_polymarket_creds, register_kalshi_key
from arbiter.gateways.polymarket.adapter import PolymarketCredentials, PolymarketGateway
from arbiter.gateways.polymarket.auth import ApiCreds
from arbiter.gateways.polymarket.signing import LocalSigner
from arbiter.gateways.service import BusSinks
from arbiter.gateways.transport import VenueTransport
from arbiter.platform.bus import Bus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, ConfigError
from arbiter.topology.catalog import Catalog
from arbiter.topology.credentials import PAPER_POLYMARKET_KEY, PaperCredentials


def _maybe_dry(transport: VenueTransport, config: ArbiterConfig) -> VenueTransport:
    """Onboarding used the raw transport; orders go through the dry-run layer if asked."""
    return DryRunTransport(transport) if config.venues.dry_run else transport


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _require_paper(config: ArbiterConfig) -> None:
    if not config.venues.paper:
        raise ConfigError(
            "venues.paper=false needs live credentials from the vault service, which "
            "gateways do not fetch yet; run against `arbiter emulator`"
        )


async def connect_polymarket(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> tuple[HttpVenueTransport, LocalSigner, ApiCreds]:
    """Socket transport to the CLOB plus paper credentials derived from the wallet (L1)."""
    _require_paper(config)
    endpoints = config.venues
    ws = endpoints.polymarket_ws_url.rstrip("/")
    transport = HttpVenueTransport(
        endpoints.polymarket_url,
        {"market": f"{ws}/ws/market", "user": f"{ws}/ws/user"},
        ping=TextPing(endpoints.ws_ping_interval_s),
        request_timeout_s=endpoints.request_timeout_s,
    )
    stack.push_async_callback(transport.close)
    signer = LocalSigner(PAPER_POLYMARKET_KEY)
    return transport, signer, await derive_polymarket_creds(transport, signer)


async def connect_kalshi(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> tuple[HttpVenueTransport, rsa.RSAPrivateKey, str]:
    """Socket transport to the trade API plus a fresh paper key registered with it."""
    _require_paper(config)
    endpoints = config.venues
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = PrivateKeySigner(key)
    key_id_box: list[str] = []
    transport = HttpVenueTransport(
        endpoints.kalshi_url,
        {"ws": endpoints.kalshi_ws_url},
        lambda: ws_auth_headers(key_id_box[0], signer, _now_ms()),
        heartbeat_s=endpoints.ws_ping_interval_s,
        replay=kalshi_subscribe_commands,
        request_timeout_s=endpoints.request_timeout_s,
    )
    stack.push_async_callback(transport.close)
    key_id_box.append(await register_kalshi_key(transport, key))
    return transport, key, key_id_box[0]


async def connect_paper(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> tuple[dict[Venue, VenueTransport], PaperCredentials]:
    """Both venues over sockets with onboarded paper credentials (`arbiter run
    --external-venues`, where the venues are an `arbiter emulator` process)."""
    pm, pm_signer, api = await connect_polymarket(config, stack)
    ks, key, key_id = await connect_kalshi(config, stack)
    return {Venue.POLYMARKET: pm, Venue.KALSHI: ks}, PaperCredentials(pm_signer, api, key_id, key)


async def build_gateway(
    venue: Venue, config: ArbiterConfig, bus: Bus, stack: contextlib.AsyncExitStack
) -> VenueGateway:
    """Connect-ready gateway for `venue`; transports are closed with `stack`."""
    catalog, clock = Catalog.from_config(config.market), SystemClock()
    sinks = BusSinks(bus, venue.slug, config.tenant.tier)
    if venue is Venue.POLYMARKET:
        transport, signer, api = await connect_polymarket(config, stack)
        return PolymarketGateway(_maybe_dry(transport, config), catalog.markets(venue),
                                 catalog.fees_by_id(), PolymarketCredentials(signer, api),
                                 clock, sinks.book, sinks.report)
    transport, key, key_id = await connect_kalshi(config, stack)
    return KalshiGateway(_maybe_dry(transport, config), catalog.markets(venue),
                         catalog.fees_by_id(), catalog.kalshi_rules, key_id,
                         PrivateKeySigner(key), clock, sinks.book, sinks.report)
