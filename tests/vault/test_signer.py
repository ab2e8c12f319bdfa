"""Signer against the venue vectors (protocol-facts A3, A4) and an RSA-PSS verify round trip."""

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from eth_account import Account
from eth_account.messages import hash_domain, hash_eip712_message
from eth_utils import keccak

from arbiter.vault.errors import PayloadMismatch
from arbiter.vault.signer import Eip712Digest, HmacMessage, RsaPssMessage, Signer
from arbiter.vault.vault import CredentialVault
from arbiter.venues.kalshi.credentials import KALSHI_PSS, KALSHI_RSA
from arbiter.venues.polymarket.credentials import POLYMARKET_API, POLYMARKET_EOA

from .conftest import HARDHAT_ADDRESS, HARDHAT_KEY, api_creds_json

CLOB_AUTH_SIGNATURE = (
    "f62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1"
    "682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
)


def clob_auth_digest(chain_id: int, timestamp: int, nonce: int) -> bytes:
    domain = {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id}
    types = {"ClobAuth": [
        {"name": "address", "type": "address"},
        {"name": "timestamp", "type": "string"},
        {"name": "nonce", "type": "uint256"},
        {"name": "message", "type": "string"},
    ]}
    message = {"address": HARDHAT_ADDRESS, "timestamp": str(timestamp), "nonce": nonce,
               "message": "This message attests that I control the given wallet"}
    return keccak(b"\x19\x01" + hash_domain(domain) + hash_eip712_message(types, message))


@pytest.fixture
def loaded(vault: CredentialVault, rsa_pem: bytes) -> CredentialVault:
    vault.put("ops", "acme", "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
    vault.put("ops", "acme", "poly-api", POLYMARKET_API, api_creds_json())
    vault.put("ops", "acme", "kalshi", KALSHI_RSA, rsa_pem, "kid-1")
    return vault


def test_clob_auth_vector(loaded: CredentialVault, signer: Signer) -> None:
    digest = clob_auth_digest(chain_id=80002, timestamp=10000000, nonce=23)
    result = signer.sign("gw", "acme", "poly", Eip712Digest(digest))
    assert result.signature.hex() == CLOB_AUTH_SIGNATURE
    assert len(result.signature) == 65 and result.signature[-1] in (27, 28)
    assert result.key_version == 1
    assert Account._recover_hash(digest, signature=result.signature) == HARDHAT_ADDRESS


def test_hmac_vector(loaded: CredentialVault, signer: Signer) -> None:
    message = b'1000000test-sign/orders{"hash": "0x123"}'
    result = signer.sign("gw", "acme", "poly-api", HmacMessage(message))
    assert result.signature == b"ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="


def test_rsa_pss_signature_verifies_with_the_public_key(
    loaded: CredentialVault, signer: Signer, rsa_key: rsa.RSAPrivateKey
) -> None:
    message = b"1703123456789GET/trade-api/v2/portfolio/balance"
    result = signer.sign("gw", "acme", "kalshi", RsaPssMessage(message))
    rsa_key.public_key().verify(result.signature, message, KALSHI_PSS, hashes.SHA256())
    assert len(base64.b64encode(result.signature)) == 344  # 2048-bit signature


def test_payload_for_another_kind_of_key_is_refused_and_audited(
    loaded: CredentialVault, signer: Signer
) -> None:
    with pytest.raises(PayloadMismatch, match="'kalshi' is a kalshi-rsa key; sign:eip712 needs"):
        signer.sign("gw", "acme", "kalshi", Eip712Digest(b"\x00" * 32))
    assert loaded.audit("acme", limit=1)[0].outcome == "error:PayloadMismatch"


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_digest_must_be_32_bytes(loaded: CredentialVault, signer: Signer, size: int) -> None:
    with pytest.raises(PayloadMismatch, match=f"32 bytes, was {size}"):
        signer.sign("gw", "acme", "poly", Eip712Digest(b"\x01" * size))


def test_every_signature_is_audited(loaded: CredentialVault, signer: Signer) -> None:
    signer.sign("gateway-polymarket", "acme", "poly-api", HmacMessage(b"x"))
    event = loaded.audit("acme", limit=1)[0]
    assert (event.actor, event.action, event.credential_id, event.outcome) == (
        "gateway-polymarket", "sign:hmac", "poly-api", "ok")
