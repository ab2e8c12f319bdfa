"""Getting API credentials the way each venue hands them out.

Polymarket derives L2 API credentials from an L1 (EIP-712 ClobAuth) signature of the wallet;
Kalshi takes a public key and returns its key id. Gateways in paper mode onboard themselves
against the emulators like this; with real venues the vault holds what onboarding produced.
"""

from __future__ import annotations

import time

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.gateways.polymarket.auth import ApiCreds, l1_headers
from arbiter.gateways.polymarket.signing import POLYGON_CHAIN_ID, Signer
from arbiter.gateways.transport import VenueTransport


class OnboardingError(RuntimeError):
    """The venue refused to issue credentials; the message carries its answer."""


async def derive_polymarket_creds(
    transport: VenueTransport, signer: Signer, nonce: int = 0, chain_id: int = POLYGON_CHAIN_ID
) -> ApiCreds:
    """GET /auth/derive-api-key: the same credentials every time for (wallet, nonce)."""
    headers = await l1_headers(signer, chain_id, int(time.time()), nonce=nonce)
    status, raw = await transport.request("GET", "/auth/derive-api-key", headers=headers)
    if status != 200:
        raise OnboardingError(f"polymarket derive-api-key: HTTP {status} {raw[:200]!r}")
    reply = orjson.loads(raw)
    return ApiCreds(reply["apiKey"], reply["secret"], reply["passphrase"])


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


async def register_kalshi_key(
    transport: VenueTransport, key: rsa.RSAPrivateKey, name: str = "arbiter-paper"
) -> str:
    """POST /trade-api/v2/api_keys with our public key; returns the key id."""
    body = orjson.dumps({"name": name, "public_key": public_pem(key)})
    status, raw = await transport.request("POST", "/trade-api/v2/api_keys", body=body)
    if status != 201:
        raise OnboardingError(f"kalshi api_keys: HTTP {status} {raw[:200]!r}")
    return str(orjson.loads(raw)["api_key_id"])
