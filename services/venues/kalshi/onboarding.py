"""Kalshi onboarding: register a public key, get its API key id back."""

from __future__ import annotations

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.gateways.onboarding import OnboardingError
from arbiter.platform.transport import VenueTransport


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
    try:
        return str(orjson.loads(raw)["api_key_id"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise OnboardingError(f"kalshi api_keys: unusable reply {raw[:200]!r} ({exc!r})") from None
