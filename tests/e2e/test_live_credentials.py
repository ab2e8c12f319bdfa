"""Live mode (`venues.mode: live`): the gateways' keys stay in the vault service.

The gateways are built exactly as `arbiter serve gateway-<venue>` builds them, against emulators
on real sockets that verify the signatures, with a vault gRPC server holding the tenant's
keys. An order signed through the vault is accepted; another tenant gets a clear error
naming the credential, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from eth_account import Account

from arbiter.core.instruments import Outcome, Venue
from arbiter.emulators.server import VenueServer
from arbiter.gateways.base import VenueGateway
from arbiter.platform.bus import MemoryBus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, load_config
from arbiter.platform.rpc import start_server
from arbiter.topology.builders import Plane
from arbiter.topology.connectivity import check_configured
from arbiter.topology.distributed import socket_gateway
from arbiter.topology.embedded import EmulatedVenues
from arbiter.topology.signing_scope import tenant_signing_policy
from arbiter.v1 import common_pb2, execution_pb2
from arbiter.vault import build_vault_service, policies_of
from arbiter.vault.client import VaultCredentialError, VaultRequestSigner
from arbiter.venues.kalshi.credentials import KALSHI_RSA
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA, VaultEoaSigner

LIVE_EOA = "0x" + "5a" * 32
KALSHI_KEY_ID = "kid-live"


@contextlib.asynccontextmanager
async def _venues_and_vault(tmp_path: Path) -> AsyncIterator[tuple[dict, EmulatedVenues]]:
    """Emulators with books, on sockets, and a vault serving tenant acme's keys; yields the
    config overrides that point a gateway at them."""
    kalshi_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = kalshi_key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    secret = tmp_path / "master.key"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    # the vault signs within tenant acme's scope, from its configuration (the default pairs)
    acme = tenant_signing_policy(load_config(environ={}, overrides={"tenant.id": "acme"}))
    vault = build_vault_service(":memory:", secret, "local", policies=policies_of(acme))
    vault.vault.put("ops", "acme", "polymarket", POLYMARKET_EOA, LIVE_EOA.encode())
    vault.vault.put("ops", "acme", "production-kalshi", KALSHI_RSA, pem,
                    KALSHI_KEY_ID)
    venues = EmulatedVenues.create(load_config(environ={}), open_registration=False)
    venues["kalshi"].register_key(KALSHI_KEY_ID, kalshi_key.public_key())
    for _ in range(3):
        await venues.market.step()
    server, vault_port = await start_server(0, [vault.add_to_server])
    try:
        async with VenueServer(venues["polymarket"]) as pm, VenueServer(venues["kalshi"]) as ks:
            yield {
                "venues": {"mode": "live",
                           "polymarket": {"url": pm.url, "ws_url": pm.url.replace("http", "ws"),
                                          "heartbeat_s": 0},
                           "kalshi": {"url": ks.url, "ws_url": ks.ws_urls["ws"]}},
                "grpc": {"vault_addr": f"127.0.0.1:{vault_port}"},
            }, venues
    finally:
        await server.stop(None)
        vault.close()


def _config(overrides: dict, tenant: str) -> ArbiterConfig:
    return ArbiterConfig.model_validate({**overrides, "tenant": {"id": tenant, "tier": "pro"}})


async def build_gateway(venue: str, config: ArbiterConfig,
                        stack: contextlib.AsyncExitStack) -> VenueGateway:
    return await socket_gateway(Plane.of(config, MemoryBus(), SystemClock()), venue, stack)


def _buy_best_ask(gateway, venues: EmulatedVenues) -> execution_pb2.OrderRequest:
    market = next(iter(gateway.markets.values()))
    emulator = venues[gateway.venue]
    book_id = market.market_id
    price, _ = emulator.engine(book_id).snapshot()[1][0]
    return execution_pb2.OrderRequest(
        tenant=common_pb2.TenantContext(tenant_id="acme", tier="pro"),
        client_order_id=f"live-{gateway.venue}", venue=gateway.venue,
        market_id=market.market_id, outcome=int(Outcome.YES), limit_price_micros=price,
        qty_micros=1_000_000, tif=execution_pb2.TIME_IN_FORCE_IOC, saga_id="live",
        created_micros=time.time_ns() // 1000)


@pytest.mark.parametrize("venue", ["polymarket", "kalshi"])
async def test_an_order_signed_through_the_vault_is_accepted(venue: Venue, tmp_path: Path) -> None:
    async with _venues_and_vault(tmp_path) as (overrides, venues), \
            contextlib.AsyncExitStack() as stack:
        gateway = await build_gateway(venue, _config(overrides, "acme"), stack)
        reports: list[execution_pb2.ExecutionReport] = []

        async def collect(report: execution_pb2.ExecutionReport) -> None:
            reports.append(report)

        gateway.on_report = collect
        await gateway.start()  # the user channels authenticate with vault-held keys too
        ack = await gateway.place(_buy_best_ask(gateway, venues))

        assert ack.accepted, ack.reject_reason
        for _ in range(200):  # the fill arrives on the user channel, over a socket
            if any(r.kind == execution_pb2.REPORT_KIND_FILL for r in reports):
                break
            await asyncio.sleep(0.01)
        assert any(r.kind == execution_pb2.REPORT_KIND_FILL for r in reports), reports
        if venue == "polymarket":
            signer = gateway.credentials.signer  # type: ignore[attr-defined]
            assert isinstance(signer, VaultEoaSigner)
            assert signer.address == Account.from_key(LIVE_EOA).address
            assert venues["polymarket"].account.positions  # filled for the vault's address
        else:
            assert isinstance(gateway.signer, VaultRequestSigner)  # type: ignore[attr-defined]
            assert gateway.key_id == KALSHI_KEY_ID  # type: ignore[attr-defined]


@pytest.mark.parametrize("venue", ["polymarket", "kalshi"])
async def test_another_tenant_cannot_start_a_gateway_with_acmes_keys(
    venue: Venue, tmp_path: Path
) -> None:
    async with _venues_and_vault(tmp_path) as (overrides, venues), \
            contextlib.AsyncExitStack() as stack:
        with pytest.raises(VaultCredentialError) as refused:
            await build_gateway(venue, _config(overrides, "rival"), stack)
        credential = "polymarket" if venue == "polymarket" else "production-kalshi"
        assert f"credential {credential!r} of tenant 'rival'" in str(refused.value)
        assert not venues["polymarket"].orders and not venues["kalshi"].orders


async def test_a_demo_run_never_reaches_the_production_key(tmp_path: Path) -> None:
    async with _venues_and_vault(tmp_path) as (overrides, _), contextlib.AsyncExitStack() as stack:
        overrides["venues"]["kalshi"]["environment"] = "demo"
        with pytest.raises(VaultCredentialError, match="'demo-kalshi'"):
            await build_gateway("kalshi", _config(overrides, "acme"), stack)


async def test_check_connectivity_proves_live_keys_through_the_vault(tmp_path: Path) -> None:
    """`check_configured` (what `arbiter run --live` calls) authenticates and opens every
    channel with the vault's signers, as the gateways would; another tenant's check fails
    auth instead of reporting it unchecked."""
    async with _venues_and_vault(tmp_path) as (overrides, _):
        results = await check_configured(_config(overrides, "acme"))
        intruder = await check_configured(_config(overrides, "intruder"))
    for result in results:
        assert result.ok and result.auth_ok, result.detail
        assert "auth not checked" not in result.detail
        channels = {c.name: c.status for c in result.checks if c.of_channel}
        assert len(channels) == 2 and set(channels.values()) == {"ok"}, result.detail
    for result in intruder:
        assert result.auth_ok is False and not result.ok
        assert "auth failed: could not obtain credentials" in result.detail
