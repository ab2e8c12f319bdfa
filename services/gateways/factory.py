"""Build a venue gateway for `arbiter serve gateway-*`: socket transport, credentials,
and the bus sinks. The embedded topology wires the same adapters to in-process links.

Credentials come from one of two places. Paper (`venues.paper`, the default) onboards
throwaway keys with `arbiter emulator --open-registration`. Live, the keys stay in the vault
service: the gateway holds only signers that ask the vault over gRPC for each signature,
and the public side (address, Kalshi key id) it read from the vault at start.
"""

from __future__ import annotations

import contextlib
import time

from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.core.instruments import Venue
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.dry_run import DryRunTransport
from arbiter.gateways.http_transport import HttpVenueTransport, TextPing, kalshi_subscribe_commands
from arbiter.gateways.kalshi.adapter import KalshiGateway
from arbiter.gateways.kalshi.auth import PrivateKeySigner, RequestSigner, ws_auth_headers
from arbiter.gateways.onboarding import derive_polymarket_creds, register_kalshi_key
from arbiter.gateways.polymarket.adapter import PolymarketCredentials, PolymarketGateway
from arbiter.gateways.polymarket.auth import ApiCreds
from arbiter.gateways.polymarket.signing import LocalSigner, SignatureType, Signer
from arbiter.gateways.ratelimit import KalshiTier
from arbiter.gateways.service import BusSinks
from arbiter.gateways.transport import VenueTransport
from arbiter.platform.bus import Bus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, ConfigError
from arbiter.platform.rpc import insecure_channel
from arbiter.topology.catalog import Catalog
from arbiter.topology.credentials import PAPER_POLYMARKET_KEY, PaperCredentials
from arbiter.v1 import common_pb2, signing_pb2_grpc
from arbiter.vault.client import VaultSigners, vault_signers


def _maybe_dry(transport: VenueTransport, config: ArbiterConfig) -> VenueTransport:
    """Onboarding used the raw transport; orders go through the dry-run layer if asked."""
    return DryRunTransport(transport) if config.venues.dry_run else transport


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def _from_vault(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack, venue: Venue
) -> VaultSigners:
    """Signers for this tenant's key on `venue`; fails at start, naming the credential, if
    the vault does not hold it for this tenant or it is the wrong kind of key."""
    tenant = common_pb2.TenantContext(tenant_id=config.tenant.id, tier=config.tenant.tier)
    channel = insecure_channel(config.grpc.vault_addr, tenant)
    stack.push_async_callback(channel.close)
    stub = signing_pb2_grpc.SignerStub(channel)
    if venue is Venue.POLYMARKET:
        return await vault_signers(stub, tenant, polymarket_key=config.venues.polymarket_credential)
    return await vault_signers(stub, tenant, kalshi_key=config.venues.kalshi_vault_credential)


async def connect_polymarket(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> tuple[HttpVenueTransport, Signer, ApiCreds]:
    """Socket transport to the CLOB, the order signer, and L2 credentials derived with it
    (L1). The L2 secret is a session credential the user WebSocket demands in clear; it
    cannot sign orders, so only the gateway's memory holds it, never a log or a file."""
    endpoints = config.venues
    ws = endpoints.polymarket_ws_url.rstrip("/")
    transport = HttpVenueTransport(
        endpoints.polymarket_url,
        {"market": f"{ws}/ws/market", "user": f"{ws}/ws/user"},
        ping=TextPing(endpoints.ws_ping_interval_s),
        request_timeout_s=endpoints.request_timeout_s,
    )
    stack.push_async_callback(transport.close)
    signer: Signer
    if endpoints.paper:
        signer = LocalSigner(PAPER_POLYMARKET_KEY)
    else:
        vault_key = (await _from_vault(config, stack, Venue.POLYMARKET)).polymarket_key
        assert vault_key is not None  # asked for by id above
        signer = vault_key
    return transport, signer, await derive_polymarket_creds(transport, signer)


def new_paper_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def connect_kalshi(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack,
    paper_key: rsa.RSAPrivateKey | None = None,
) -> tuple[HttpVenueTransport, RequestSigner, str]:
    """Socket transport to the trade API, the request signer and its API key id: a paper
    key (fresh unless given) registered with the emulator, or the tenant's key for the
    configured environment in the vault."""
    endpoints = config.venues
    signer: RequestSigner
    if endpoints.paper:
        paper_key = paper_key or new_paper_key()
        signer, key_id = PrivateKeySigner(paper_key), ""
    else:
        vault_key = (await _from_vault(config, stack, Venue.KALSHI)).kalshi_key
        assert vault_key is not None  # asked for by id above
        signer, key_id = vault_key, vault_key.key_id
    key_id_box = [key_id]
    transport = HttpVenueTransport(
        endpoints.kalshi_url,
        {"ws": endpoints.kalshi_ws_url},
        lambda: ws_auth_headers(key_id_box[0], signer, _now_ms()),
        heartbeat_s=endpoints.ws_ping_interval_s,
        replay=kalshi_subscribe_commands,
        request_timeout_s=endpoints.request_timeout_s,
    )
    stack.push_async_callback(transport.close)
    if paper_key is not None:
        key_id_box[0] = await register_kalshi_key(transport, paper_key)
    return transport, signer, key_id_box[0]


async def connect_paper(
    config: ArbiterConfig, stack: contextlib.AsyncExitStack
) -> tuple[dict[Venue, VenueTransport], PaperCredentials]:
    """Both venues over sockets with onboarded paper credentials (`arbiter run
    --external-venues`, where the venues are an `arbiter emulator` process)."""
    if not config.venues.paper:
        raise ConfigError("`arbiter run --external-venues` trades paper keys against an "
                          "`arbiter emulator`; set venues.paper=true (the default)")
    key = new_paper_key()
    pm, pm_signer, api = await connect_polymarket(config, stack)
    ks, _, key_id = await connect_kalshi(config, stack, key)
    assert isinstance(pm_signer, LocalSigner)  # paper
    return ({Venue.POLYMARKET: pm, Venue.KALSHI: ks},
            PaperCredentials(pm_signer, api, key_id, key))


async def build_gateway(
    venue: Venue, config: ArbiterConfig, bus: Bus, stack: contextlib.AsyncExitStack
) -> VenueGateway:
    """Connect-ready gateway for `venue`; transports are closed with `stack`."""
    catalog, clock = Catalog.from_config(config.market), SystemClock()
    sinks = BusSinks(bus, venue.slug, config.tenant.tier)
    endpoints = config.venues
    gateway: VenueGateway
    if venue is Venue.POLYMARKET:
        transport, pm_signer, api = await connect_polymarket(config, stack)
        gateway = PolymarketGateway(
            _maybe_dry(transport, config), catalog.markets(venue), catalog.fees_by_id(),
            PolymarketCredentials(
                pm_signer, api, signature_type=SignatureType[
                    endpoints.polymarket_signature_type.upper().replace("-", "_")],
                funder=endpoints.polymarket_funder or None),
            clock, sinks.book, sinks.report,
            heartbeat_interval_s=endpoints.polymarket_heartbeat_s or None)
    else:
        transport, signer, key_id = await connect_kalshi(config, stack)
        gateway = KalshiGateway(
            _maybe_dry(transport, config), catalog.markets(venue), catalog.fees_by_id(),
            catalog.kalshi_rules, key_id, signer, clock, sinks.book, sinks.report,
            tier=KalshiTier(endpoints.kalshi_tier),
            legacy_order_entry=endpoints.kalshi_legacy_order_entry)
    stack.push_async_callback(gateway.close)
    return gateway
