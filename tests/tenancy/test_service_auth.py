"""Service calls over mutual TLS, tried as an attacker inside the cluster would: the real
vault, risk and order-entry servicers behind the real interceptors on loopback. Before
`platform.peers`, every one of these calls succeeded with nothing but a tenant header."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from vault.payloads import HARDHAT_ADDRESS, now_ms, order, order_request, scope

from arbiter.gateways.service import OrderEntryServicer
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ConfigError, load_config
from arbiter.platform.peers import (
    SERVICE_CALLERS,
    Issued,
    PeerAuthInterceptor,
    TlsMaterial,
    issue_ca,
    issue_service_cert,
)
from arbiter.platform.rpc import secure_channel, start_server
from arbiter.risk.service import RiskServicer
from arbiter.topology import builders
from arbiter.topology.distributed import _check_identity
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.v1 import (
    common_pb2,
    execution_pb2,
    execution_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    signing_pb2,
    signing_pb2_grpc,
)
from arbiter.vault import build_vault_service
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RIVAL_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Hardhat #1
RIVAL_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ACME = common_pb2.TenantContext(tenant_id="acme", tier="standard")
RIVAL = common_pb2.TenantContext(tenant_id="rival", tier="standard")
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def ca() -> Issued:
    return issue_ca()


def identity(ca: Issued, service: str, tenant: str = "acme") -> TlsMaterial:
    issued = issue_service_cert(ca, service, tenant, [HOST, "localhost"])
    return TlsMaterial(ca.cert_pem, issued.cert_pem, issued.key_pem)


@contextlib.asynccontextmanager
async def served(ca: Issued, register, name: str) -> AsyncIterator[int]:  # type: ignore[no-untyped-def]
    server, port = await start_server(0, [register], (PeerAuthInterceptor(),), host=HOST,
                                      credentials=identity(ca, name).server_credentials())
    try:
        yield port
    finally:
        await server.stop(None)


@contextlib.asynccontextmanager
async def channel_as(ca: Issued, port: int, service: str, tenant: str = "acme",
                     claims: common_pb2.TenantContext = ACME) -> AsyncIterator[grpc.aio.Channel]:
    """A channel with `service@tenant`'s certificate, stamping the tenant it `claims`."""
    me = identity(ca, service, tenant)
    async with secure_channel(f"{HOST}:{port}", me.channel_credentials(), claims) as channel:
        yield channel


async def refused(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[object]:
    secret = tmp_path / "master.key"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    built = build_vault_service(":memory:", secret, "local", policies=scope)
    built.vault.put("ops", "acme", "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
    built.vault.put("ops", "rival", "rival-poly", POLYMARKET_EOA, RIVAL_KEY.encode())
    yield built
    built.close()


def sign_request(tenant_id: str = "acme", credential_id: str = "poly",
                 maker: str = HARDHAT_ADDRESS) -> signing_pb2.SignRequest:
    signed = order(now_ms(), maker=maker, signer=maker)
    return order_request(tenant_id, credential_id, signed)


async def test_only_the_tenants_own_gateways_get_its_signatures(ca: Issued, vault) -> None:  # type: ignore[no-untyped-def]
    async with served(ca, vault.add_to_server, "vault") as port:
        async with channel_as(ca, port, "gateway-polymarket") as channel:
            signed = await signing_pb2_grpc.SignerStub(channel).Sign(sign_request())
        assert len(signed.signature) == 65
        for service, tenant in (("saga", "acme"), ("control", "acme"),
                                ("gateway-polymarket", "rival")):
            async with channel_as(ca, port, service, tenant) as channel:
                code = await refused(signing_pb2_grpc.SignerStub(channel).Sign(sign_request()))
            assert code is grpc.StatusCode.PERMISSION_DENIED, (service, tenant)
        # no certificate, or a plaintext call: no TLS session, nothing reaches the servicer
        no_cert = grpc.ssl_channel_credentials(ca.cert_pem)
        async with secure_channel(f"{HOST}:{port}", no_cert, ACME) as channel:
            code = await refused(signing_pb2_grpc.SignerStub(channel).Sign(sign_request()))
        assert code is grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
            code = await refused(signing_pb2_grpc.SignerStub(channel).Sign(
                sign_request(), metadata=(("x-arbiter-tenant", "acme"),)))
        assert code is grpc.StatusCode.UNAVAILABLE
        # a certificate from another CA proves nothing
        stranger = issue_service_cert(issue_ca("rogue"), "gateway-polymarket", "acme", [HOST])
        creds = grpc.ssl_channel_credentials(ca.cert_pem, stranger.key_pem, stranger.cert_pem)
        async with secure_channel(f"{HOST}:{port}", creds, ACME) as channel:
            code = await refused(signing_pb2_grpc.SignerStub(channel).Sign(sign_request()))
        assert code is grpc.StatusCode.UNAVAILABLE
    audit = vault.vault.audit("acme", 100)
    signers = [e.actor for e in audit if e.action.startswith("sign") and e.outcome == "ok"]
    assert signers and all(a.startswith("grpc:gateway-polymarket@acme") for a in signers)


async def test_a_tenants_gateway_cannot_sign_with_another_tenants_credential(
    ca: Issued, vault  # type: ignore[no-untyped-def]
) -> None:
    """Tenant A's gateway, with its own valid certificate, asks for tenant B's credential:
    by B's id under A's context, by claiming B's context, and B asks for A's."""
    async with served(ca, vault.add_to_server, "vault") as port:
        async with channel_as(ca, port, "gateway-polymarket") as channel:
            stub = signing_pb2_grpc.SignerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as by_id:
                await stub.Sign(sign_request("acme", "rival-poly", RIVAL_ADDRESS))
            with pytest.raises(grpc.aio.AioRpcError) as by_claim:
                await stub.Sign(sign_request("rival", "rival-poly", RIVAL_ADDRESS))
        async with channel_as(ca, port, "gateway-polymarket", "rival", RIVAL) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as reverse:
                await signing_pb2_grpc.SignerStub(channel).Sign(sign_request("rival", "poly"))
            own = await signing_pb2_grpc.SignerStub(channel).Sign(
                sign_request("rival", "rival-poly", RIVAL_ADDRESS))
    assert by_id.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert by_id.value.details() == "tenant 'acme' may not use credential 'rival-poly'"
    assert by_claim.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert reverse.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert len(own.signature) == 65  # the rival's own key still signs its own orders
    rival = [e for e in vault.vault.audit("rival", 100) if e.action.startswith("sign")]
    assert [(e.credential_id, e.outcome) for e in rival] == [  # newest first
        ("rival-poly", "ok"), ("poly", "error:CredentialNotFound")]
    assert all(e.actor.startswith("grpc:gateway-polymarket@rival") for e in rival)
    refused = [e for e in vault.vault.audit("acme", 100) if e.action.startswith("sign")]
    assert [(e.credential_id, e.outcome) for e in refused] == [
        ("rival-poly", "error:CredentialNotFound")]
    assert refused[0].actor.startswith("grpc:gateway-polymarket@acme")
    # no credential, no venue to read the payload by: the audit names what was asked for
    assert refused[0].action == "sign:polymarket_order"


async def test_only_the_tenants_saga_places_its_orders(ca: Issued) -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"tenant.id": "acme",
                                                                       "tenant.tier": "standard"}))
    await mesh.start()
    servicer = OrderEntryServicer(mesh.gateways["kalshi"], "acme")
    market = mesh.universe.markets("kalshi")[0]
    order = execution_pb2.OrderRequest(
        tenant=ACME, client_order_id="probe-1", venue="kalshi", market_id=market.market_id,
        outcome=1, limit_price_micros=20_000, qty_micros=1_000_000,
        tif=execution_pb2.TIME_IN_FORCE_GTC, created_micros=1)
    try:
        async with served(ca, lambda s: execution_pb2_grpc.add_OrderEntryServicer_to_server(
                servicer, s), "gateway-kalshi") as port:
            for service, tenant in (("control", "acme"), ("gateway-polymarket", "acme"),
                                    ("saga", "rival")):
                async with channel_as(ca, port, service, tenant) as channel:
                    code = await refused(execution_pb2_grpc.OrderEntryStub(channel)
                                         .PlaceOrder(order))
                assert code is grpc.StatusCode.PERMISSION_DENIED, (service, tenant)
            async with channel_as(ca, port, "saga") as channel:
                ack = await execution_pb2_grpc.OrderEntryStub(channel).PlaceOrder(order)
            assert ack.accepted
            # control may still sweep: cancels are never blocked for it
            async with channel_as(ca, port, "control") as channel:
                swept = await execution_pb2_grpc.OrderEntryStub(channel).CancelAll(
                    execution_pb2.CancelAllRequest(tenant=ACME))
            assert ack.venue_order_id in swept.canceled_venue_order_ids
    finally:
        await mesh.stop()


async def test_limits_and_hard_stop_resets_come_from_control_only(ca: Issued) -> None:
    config = load_config(environ={}, overrides={"tenant.id": "acme", "tenant.tier": "standard"})
    plane = builders.Plane.of(config, None, SystemClock())  # type: ignore[arg-type]  # no bus
    risk: RiskServicer = builders.build_risk(plane)
    async with served(ca, lambda s: risk_pb2_grpc.add_RiskServicer_to_server(risk, s),
                      "risk") as port:
        raise_limit = risk_pb2.UpdateLimitsRequest(tenant=ACME, set={"max_exposure_usd": "5"})
        for service in ("saga", "gateway-kalshi", "detector"):
            async with channel_as(ca, port, service) as channel:
                code = await refused(risk_pb2_grpc.RiskStub(channel).UpdateLimits(raise_limit))
            assert code is grpc.StatusCode.PERMISSION_DENIED, service
        async with channel_as(ca, port, "saga") as channel:
            saga = risk_pb2_grpc.RiskStub(channel)
            latched = await saga.HardStop(risk_pb2.HardStopRequest(tenant=ACME,
                                                                   reason="unreconciled"))
            assert latched.latched  # the saga may stop trading
            code = await refused(saga.HardStop(risk_pb2.HardStopRequest(tenant=ACME,
                                                                        reset=True)))
            assert code is grpc.StatusCode.PERMISSION_DENIED  # but not start it again
        async with channel_as(ca, port, "control") as channel:
            control = risk_pb2_grpc.RiskStub(channel)
            changed = await control.UpdateLimits(raise_limit)
            cleared = await control.HardStop(risk_pb2.HardStopRequest(
                tenant=ACME, reset=True, reason="checked", actor="ada"))
    assert changed.limits["max_exposure_usd"] == "5" and not cleared.latched


def test_every_rpc_has_a_decided_set_of_callers() -> None:
    """A new method stays closed until someone adds it to SERVICE_CALLERS; this lists the
    ones the services define, so adding one without deciding fails here first."""
    defined = {f"/arbiter.v1.{service.name}/{method.name}"
               for module in (risk_pb2, execution_pb2, signing_pb2)
               for service in module.DESCRIPTOR.services_by_name.values()
               for method in service.methods}
    assert defined == set(SERVICE_CALLERS)


def test_a_process_serves_only_with_its_own_certificate(ca: Issued, tmp_path: Path) -> None:
    issued = issue_service_cert(ca, "control", "acme", [HOST])
    paths = {}
    for name, data in (("ca", ca.cert_pem), ("cert", issued.cert_pem), ("key", issued.key_pem)):
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    config = load_config(environ={}, overrides={
        "tenant.id": "acme", "tls.ca_path": str(paths["ca"]),
        "tls.cert_path": str(paths["cert"]), "tls.key_path": str(paths["key"])})
    _check_identity("control", config)
    with pytest.raises(ConfigError, match="certificate of control@acme, not of saga@acme"):
        _check_identity("saga", config)
    with pytest.raises(ConfigError, match="tls needs ca_path, cert_path and key_path together"):
        load_config(environ={}, overrides={"tls.cert_path": str(paths["cert"])})
