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
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data

from arbiter.platform import rpc
from arbiter.platform.rpc import LocalStub, start_server
from arbiter.v1 import common_pb2, signing_pb2, signing_pb2_grpc
from arbiter.vault import VaultService, build_vault_service
from arbiter.vault.client import (
    SignerStubLike,
    VaultCredentialError,
    VaultDigestSigner,
    VaultRequestSigner,
    vault_digest_signer,
    vault_request_signer,
)
from arbiter.venues.kalshi.credentials import KALSHI_PSS, KALSHI_RSA
from arbiter.venues.polymarket.credentials import POLYMARKET_API, POLYMARKET_EOA

from .conftest import API_SECRET, HARDHAT_ADDRESS, HARDHAT_KEY, api_creds_json

ACME = common_pb2.TenantContext(tenant_id="acme", tier="pro")
RIVAL = common_pb2.TenantContext(tenant_id="rival", tier="paper")
IDS = {"polymarket_key": "poly", "kalshi_key": "kalshi"}


@dataclass(frozen=True)
class VaultSigners:
    polymarket_key: VaultDigestSigner | None = None
    kalshi_key: VaultRequestSigner | None = None


async def vault_signers(stub: SignerStubLike, tenant: common_pb2.TenantContext, *,
                        polymarket_key: str | None = None,
                        kalshi_key: str | None = None) -> VaultSigners:
    """What the two venues' live credentials ask the vault for, one signer each."""
    return VaultSigners(
        None if polymarket_key is None else await vault_digest_signer(
            stub, tenant, polymarket_key, kind=POLYMARKET_EOA),
        None if kalshi_key is None else await vault_request_signer(
            stub, tenant, kalshi_key, kind=KALSHI_RSA))


@pytest.fixture
def service(master_secret: Path, rsa_pem: bytes) -> AsyncIterator[VaultService]:
    built = build_vault_service(":memory:", master_secret, "local")
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


async def test_eip712_signature_recovers_to_the_vault_key_address(acme: VaultSigners) -> None:
    # Prepare: a Polymarket order's typed data, hashed the way the exchange contract does
    signer = acme.polymarket_key
    assert signer is not None and signer.address == HARDHAT_ADDRESS
    typed = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"},
                             {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}],
            "Order": [{"name": "salt", "type": "uint256"}, {"name": "maker", "type": "address"},
                      {"name": "makerAmount", "type": "uint256"}],
        },
        "primaryType": "Order",
        "domain": {"name": "Polymarket CTF Exchange", "version": "1", "chainId": 137},
        "message": {"salt": 42, "maker": HARDHAT_ADDRESS, "makerAmount": 5_000_000},
    })
    # Act
    signature = await signer.sign_digest(_hash_eip191_message(typed))
    # Assert
    assert len(signature) == 65 and signature[64] in (27, 28)
    assert Account.recover_message(typed, signature=signature) == HARDHAT_ADDRESS
    assert signer.key_version == 1


async def test_rsa_pss_signature_verifies_with_the_public_key_the_vault_hands_out(
    acme: VaultSigners, rsa_key: rsa.RSAPrivateKey
) -> None:
    signer = acme.kalshi_key
    assert signer is not None and signer.key_id == "kid-1"
    public = serialization.load_pem_public_key(signer.public_key_pem.encode())
    assert public.public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]
    message = b"1703123456789GET/trade-api/v2/portfolio/balance"

    signature = await signer.sign(message)

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
    forged = VaultDigestSigner(stub, RIVAL, "poly", HARDHAT_ADDRESS)
    with pytest.raises(VaultCredentialError, match="'poly'.*PERMISSION_DENIED"):
        await forged.sign_digest(b"\x01" * 32)


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
        assert await signers.kalshi_key.sign(b"m")


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
    wrong = VaultDigestSigner(stub, ACME, "poly-api", "0x0")
    with pytest.raises(VaultCredentialError,
                       match="INVALID_ARGUMENT.*polymarket-api key; sign:eip712 needs"):
        await wrong.sign_digest(b"\x01" * 32)
    with pytest.raises(VaultCredentialError, match="digest must be 32 bytes, was 31 bytes"):
        await wrong.sign_digest(b"\x01" * 31)


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
    digest = b"\x07" * 32
    signature = await signers.polymarket_key.sign_digest(digest)
    assert Account._recover_hash(digest, signature=signature) == HARDHAT_ADDRESS
    with pytest.raises(VaultCredentialError, match="'poly'.*PERMISSION_DENIED"):
        await vault_signers(stub, RIVAL, polymarket_key="poly")  # type: ignore[arg-type]


async def test_signers_keep_working_across_a_key_rotation(
    acme: VaultSigners, service: VaultService
) -> None:
    assert acme.polymarket_key is not None
    digest = b"\x09" * 32
    before = await acme.polymarket_key.sign_digest(digest)  # RFC 6979: deterministic
    await service.rotation("ops").run()
    after = await acme.polymarket_key.sign_digest(digest)
    assert before == after and acme.polymarket_key.key_version == 2
