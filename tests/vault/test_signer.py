"""Signer: meaning in, signature out. Venue vectors (protocol-facts A3), the gateway's own
signatures reproduced, refusals that open no key, and the audit of both."""

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from eth_account import Account
from eth_account.messages import hash_domain, hash_eip712_message
from eth_utils import keccak

from arbiter.vault.errors import PayloadMismatch
from arbiter.vault.policy import PolicyViolation
from arbiter.vault.signer import Signer
from arbiter.vault.vault import CredentialVault
from arbiter.venues.kalshi.credentials import KALSHI_PSS, KALSHI_RSA
from arbiter.venues.polymarket.credentials import POLYMARKET_API, POLYMARKET_EOA
from arbiter.venues.polymarket.signing import (
    ExchangeDomain,
    LocalSigner,
    encode_signature,
    recover_order_signer,
    signing_digest,
)

from .conftest import HARDHAT_ADDRESS, HARDHAT_KEY, NOW_MS, api_creds_json
from .payloads import (
    DOMAIN,
    NEG_RISK_DOMAIN,
    OTHER_TOKEN,
    TOKEN,
    clob_auth_request,
    order,
    order_request,
    payload,
    scope,
    venue_request,
)

CLOB_AUTH_SIGNATURE = (
    "f62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1"
    "682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
)


def clob_auth_digest(chain_id: int, timestamp: int, nonce: int) -> bytes:
    """The ClobAuth digest by eth-account's own EIP-712 code (not ours)."""
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


def test_clob_auth_vector(loaded: CredentialVault) -> None:
    at_vector_time = Signer(loaded, scope, now_ms=lambda: 10_000_000 * 1000)
    result = at_vector_time.sign("gw", "acme", "poly", *payload(
        clob_auth_request("acme", "poly", 10_000_000, nonce=23, chain_id=80002)))
    assert result.signature.hex() == CLOB_AUTH_SIGNATURE
    assert result.key_version == 1
    digest = clob_auth_digest(chain_id=80002, timestamp=10000000, nonce=23)
    assert Account._recover_hash(digest, signature=result.signature) == HARDHAT_ADDRESS


@pytest.mark.parametrize("domain", [DOMAIN, NEG_RISK_DOMAIN], ids=["standard", "neg-risk"])
async def test_an_order_signature_is_the_gateways_own_and_recovers_to_the_maker(
    loaded: CredentialVault, signer: Signer, domain: ExchangeDomain
) -> None:
    signed = order(NOW_MS - 1_000)
    result = signer.sign("gw", "acme", "poly", *payload(
        order_request("acme", "poly", signed, domain)))
    local = await LocalSigner(HARDHAT_KEY).sign_order(signed, domain)
    assert result.signature == local  # RFC 6979: the same key and digest, the same bytes
    wire = encode_signature(signed, domain, result.signature)
    assert recover_order_signer(signed, wire, domain) == HARDHAT_ADDRESS
    assert Account._recover_hash(signing_digest(signed, domain),
                                 signature=result.signature) == HARDHAT_ADDRESS


def test_rsa_pss_signature_verifies_with_the_public_key(
    loaded: CredentialVault, signer: Signer, rsa_key: rsa.RSAPrivateKey
) -> None:
    result = signer.sign("gw", "acme", "kalshi", *payload(venue_request("acme", "kalshi",
                                                                        NOW_MS)))
    message = f"{NOW_MS}GET/trade-api/v2/portfolio/balance".encode()
    rsa_key.public_key().verify(result.signature, message, KALSHI_PSS, hashes.SHA256())
    assert len(base64.b64encode(result.signature)) == 344  # 2048-bit signature


def test_payload_for_another_kind_of_key_is_refused_and_audited(
    loaded: CredentialVault, signer: Signer
) -> None:
    with pytest.raises(PayloadMismatch, match="'kalshi' is a kalshi-rsa key, which signs "
                                              "venue_request, not polymarket_order"):
        signer.sign("gw", "acme", "kalshi", *payload(order_request("acme", "kalshi",
                                                                   order(NOW_MS))))
    assert loaded.audit("acme", limit=1)[0].outcome == "error:PayloadMismatch"


def test_the_l2_api_credentials_sign_nothing(loaded: CredentialVault, signer: Signer) -> None:
    """The gateway computes L2 HMACs itself; nothing asks the vault for one."""
    with pytest.raises(PayloadMismatch, match="polymarket-api key, which signs nothing"):
        signer.sign("gw", "acme", "poly-api", *payload(venue_request("acme", "poly-api",
                                                                     NOW_MS)))


def test_a_signature_is_audited_with_the_caller_and_the_orders_meaning(
    loaded: CredentialVault, signer: Signer
) -> None:
    signer.sign("grpc:gateway-polymarket@acme", "acme", "poly", *payload(
        order_request("acme", "poly", order(NOW_MS))))
    event = loaded.audit("acme", limit=1)[0]
    assert (event.actor, event.credential_id, event.outcome) == (
        "grpc:gateway-polymarket@acme", "poly", "ok")
    assert event.action == (
        f"sign:polymarket_order venue=polymarket token={TOKEN} side=BUY "
        f"maker_amount=50000000 taker_amount=100000000 maker={HARDHAT_ADDRESS} "
        f"exchange={DOMAIN.verifying_contract} chain=137")


def test_a_refusal_is_audited_with_the_check_and_opens_no_key(
    loaded: CredentialVault, signer: Signer
) -> None:
    opened: list[str] = []
    real = loaded.unsealed

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(args[1])
        return real(*args, **kwargs)

    loaded.unsealed = spy  # type: ignore[method-assign]
    with pytest.raises(PolicyViolation, match="check 'token'"):
        signer.sign("grpc:intruder@acme", "acme", "poly", *payload(
            order_request("acme", "poly", order(NOW_MS, token_id=int(OTHER_TOKEN)))))
    event = loaded.audit("acme", limit=1)[0]
    assert (event.actor, event.outcome) == ("grpc:intruder@acme", "refused:token")
    assert f"token={OTHER_TOKEN} side=BUY" in event.action
    assert opened == []


def test_a_tenant_without_a_signing_policy_signs_nothing(loaded: CredentialVault) -> None:
    no_scope = Signer(loaded, lambda tenant_id: None, now_ms=lambda: NOW_MS)
    with pytest.raises(PolicyViolation, match="no signing policy for tenant 'acme'"):
        no_scope.sign("gw", "acme", "poly", *payload(order_request("acme", "poly",
                                                                   order(NOW_MS))))
