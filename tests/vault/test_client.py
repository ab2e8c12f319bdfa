"""Gateway-side vault signers over a real grpc.aio server with Arbiter's tenant interceptors.

Every signature is checked by the party that will check it in production: eth-account
recovers the EIP-712 signer, `cryptography` verifies RSA-PSS with the public key the vault
handed out.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.platform import rpc
from arbiter.platform.rpc import LocalStub, start_server
from arbiter.v1 import common_pb2, signing_pb2, signing_pb2_grpc
from arbiter.vault import VaultService, build_vault_service
from arbiter.vault.client import (
    SignerStubLike,
    VaultCredential,
    VaultCredentialError,
    VaultRequestSigner,
    vault_credential,
)
from arbiter.venues.kalshi.credentials import KALSHI_PSS, KALSHI_RSA
from arbiter.venues.polymarket.credentials import (
    POLYMARKET_API,
    POLYMARKET_EOA,
    VaultEoaSigner,
)
from arbiter.venues.polymarket.signing import LocalSigner, recover_order_signer, sign_order

from .conftest import API_SECRET, HARDHAT_ADDRESS, HARDHAT_KEY, api_creds_json
from .payloads import DOMAIN, now_ms, order, scope

ACME = common_pb2.TenantContext(tenant_id="acme", tier="pro")
RIVAL = common_pb2.TenantContext(tenant_id="rival", tier="paper")
IDS = {"polymarket_key": "poly", "kalshi_key": "kalshi"}


@dataclass(frozen=True)
class VaultSigners:
    polymarket_key: VaultEoaSigner | None = None
    kalshi_key: VaultRequestSigner | None = None


async def vault_signers(stub: SignerStubLike, tenant: common_pb2.TenantContext, *,
                        polymarket_key: str | None = None,
                        kalshi_key: str | None = None) -> VaultSigners:
    """What the two venues' live credentials ask the vault for, one signer each."""
    return VaultSigners(
        None if polymarket_key is None else VaultEoaSigner(await vault_credential(
            stub, tenant, polymarket_key, kind=POLYMARKET_EOA)),
        None if kalshi_key is None else VaultRequestSigner(await vault_credential(
            stub, tenant, kalshi_key, kind=KALSHI_RSA)))


@pytest.fixture
def service(master_secret: Path, rsa_pem: bytes) -> AsyncIterator[VaultService]:
    built = build_vault_service(":memory:", master_secret, "local", policies=scope)
    built.vault.put("ops", "acme", "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
    built.vault.put("ops", "acme", "poly-api", POLYMARKET_API, api_creds_json())
    built.vault.put("ops", "acme", "kalshi", KALSHI_RSA, rsa_pem, "kid-1")
    yield built
    built.close()


@pytest.fixture
async def port(service: VaultService) -> AsyncIterator[int]:
    """The vault served as in a cluster: tenant metadata required on every call."""
    server, bound = await start_server(0, [service.add_to_server])
    yield bound
    await server.stop(None)


@pytest.fixture
async def stub(port: int) -> AsyncIterator[signing_pb2_grpc.SignerStub]:
    """A bare channel: the client adapters must supply the tenant metadata themselves."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield signing_pb2_grpc.SignerStub(channel)


@pytest.fixture
async def acme(stub: signing_pb2_grpc.SignerStub) -> VaultSigners:
    return await vault_signers(stub, ACME, **IDS)


async def test_an_order_signed_through_the_vault_recovers_to_its_maker(
    acme: VaultSigners
) -> None:
    signer = acme.polymarket_key
    assert signer is not None and signer.address == HARDHAT_ADDRESS
    signed = order(now_ms())

    wire = await sign_order(signed, DOMAIN, signer)

    assert recover_order_signer(signed, wire, DOMAIN) == HARDHAT_ADDRESS
    assert wire == await sign_order(signed, DOMAIN, LocalSigner(HARDHAT_KEY))
    assert signer.credential.key_version == 1


async def test_rsa_pss_signature_verifies_with_the_public_key_the_vault_hands_out(
    acme: VaultSigners, rsa_key: rsa.RSAPrivateKey
) -> None:
    signer = acme.kalshi_key
    assert signer is not None and signer.public_info["key_id"] == "kid-1"
    public = serialization.load_pem_public_key(signer.public_info["public_key_pem"].encode())
    assert public.public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]
    at = now_ms()
    message = f"{at}GET/trade-api/v2/portfolio/balance".encode()

    signature = await signer.sign_request(at, "GET", "/trade-api/v2/portfolio/balance")

    public.verify(signature, message, KALSHI_PSS, hashes.SHA256())  # type: ignore[union-attr]
    with pytest.raises(InvalidSignature):
        public.verify(signature, message + b"x", KALSHI_PSS, hashes.SHA256())  # type: ignore[union-attr]


async def test_another_tenant_cannot_use_acme_credentials(
    stub: signing_pb2_grpc.SignerStub,
) -> None:
    with pytest.raises(VaultCredentialError) as caught:
        await vault_signers(stub, RIVAL, polymarket_key="poly")
    assert caught.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert str(caught.value) == (
        "vault credential 'poly' of tenant 'rival': info failed (PERMISSION_DENIED): "
        "tenant 'rival' may not use credential 'poly'")
    # Knowing the address does not help: signing is refused the same way
    forged = VaultEoaSigner(VaultCredential(stub, RIVAL, "poly", {"address": HARDHAT_ADDRESS}))
    with pytest.raises(VaultCredentialError, match="'poly'.*PERMISSION_DENIED"):
        await forged.sign_order(order(now_ms()), DOMAIN)


async def test_a_plane_cannot_claim_another_tenant_over_its_own_channel(port: int) -> None:
    # The rival's channel stamps its tenant on every call; a request naming acme is refused
    async with rpc.insecure_channel(f"127.0.0.1:{port}", RIVAL) as channel:
        stub = signing_pb2_grpc.SignerStub(channel)
        with pytest.raises(VaultCredentialError) as caught:
            await vault_signers(stub, ACME, polymarket_key="poly")
    assert caught.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert "request is for tenant 'acme' but the call is from tenant 'rival'" in str(caught.value)


async def test_the_same_channel_shape_works_for_its_own_tenant(port: int) -> None:
    async with rpc.insecure_channel(f"127.0.0.1:{port}", ACME) as channel:
        signers = await vault_signers(signing_pb2_grpc.SignerStub(channel), ACME, **IDS)
        assert signers.kalshi_key is not None
        assert await signers.kalshi_key.sign_request(now_ms(), "GET", "/trade-api/v2/markets")


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ({"polymarket_key": "kalshi"},
         ("vault credential 'kalshi' of tenant 'acme': info failed: it is a kalshi-rsa "
          "credential, this signer needs a polymarket-eoa credential")),
        ({"kalshi_key": "poly-api"},
         "'poly-api' .* it is a polymarket-api credential, this signer needs a kalshi-rsa"),
        ({"kalshi_key": "nothing"},
         "'nothing' of tenant 'acme': info failed \\(PERMISSION_DENIED\\)"),
        ({"kalshi_key": "../poly"}, "'../poly' .*INVALID_ARGUMENT.*path characters"),
    ],
    ids=["eoa-is-rsa", "rsa-is-api", "unknown", "path-characters"],
)
async def test_wrong_or_unknown_credentials_fail_at_start_naming_the_credential(
    stub: signing_pb2_grpc.SignerStub, ids: dict[str, str], message: str
) -> None:
    with pytest.raises(VaultCredentialError, match=message):
        await vault_signers(stub, ACME, **ids)


async def test_a_signer_built_for_one_kind_cannot_sign_with_another(
    stub: signing_pb2_grpc.SignerStub,
) -> None:
    wrong = VaultEoaSigner(VaultCredential(stub, ACME, "poly-api", {"address": HARDHAT_ADDRESS}))
    with pytest.raises(VaultCredentialError,
                       match="INVALID_ARGUMENT.*polymarket-api key, which signs nothing"):
        await wrong.sign_order(order(now_ms()), DOMAIN)


async def test_credential_info_carries_no_secret_material(
    stub: signing_pb2_grpc.SignerStub, rsa_key: rsa.RSAPrivateKey, service: VaultService
) -> None:
    # Prepare: every form a secret could leak in
    numbers = rsa_key.private_numbers()
    secrets = [
        HARDHAT_KEY[2:].encode(), HARDHAT_KEY[2:].upper().encode(),
        bytes.fromhex(HARDHAT_KEY[2:]),
        API_SECRET.encode(), API_SECRET.rstrip("=").encode(), base64.urlsafe_b64decode(API_SECRET),
        numbers.d.to_bytes(256, "big"), numbers.p.to_bytes(128, "big"), b"PRIVATE KEY",
    ]
    expected = {"poly": {"address"}, "poly-api": {"api_key", "passphrase"},
                "kalshi": {"key_id", "public_key_pem"}}
    for credential_id, fields in expected.items():
        # Act
        info = await stub.GetCredentialInfo(
            signing_pb2.CredentialInfoRequest(tenant=ACME, credential_id=credential_id),
            metadata=(("x-arbiter-tenant", "acme"), ("x-arbiter-tier", "pro")))
        # Assert
        assert set(info.public_info) == fields, credential_id
        assert info.key_version == 1 and info.credential_id == credential_id
        wire = info.SerializeToString()
        leaked = [s for s in secrets if s in wire]
        assert leaked == [], f"{credential_id} leaks secret material"
    actions = [(e.action, e.credential_id, e.outcome) for e in service.vault.audit("acme", 3)]
    assert actions == [("info", "kalshi", "ok"), ("info", "poly-api", "ok"), ("info", "poly", "ok")]


async def test_works_in_process_over_a_local_stub(service: VaultService) -> None:
    stub = LocalStub(service.servicer)
    signers = await vault_signers(stub, ACME, **IDS)  # type: ignore[arg-type]
    assert signers.polymarket_key is not None
    signed = order(now_ms())
    wire = await sign_order(signed, DOMAIN, signers.polymarket_key)
    assert recover_order_signer(signed, wire, DOMAIN) == HARDHAT_ADDRESS
    with pytest.raises(VaultCredentialError, match="'poly'.*PERMISSION_DENIED"):
        await vault_signers(stub, RIVAL, polymarket_key="poly")  # type: ignore[arg-type]


async def test_signers_keep_working_across_a_key_rotation(
    acme: VaultSigners, service: VaultService
) -> None:
    assert acme.polymarket_key is not None
    signed = order(now_ms())
    before = await acme.polymarket_key.sign_order(signed, DOMAIN)  # RFC 6979: deterministic
    await service.rotation("ops").run()
    after = await acme.polymarket_key.sign_order(signed, DOMAIN)
    assert before == after and acme.polymarket_key.credential.key_version == 2
