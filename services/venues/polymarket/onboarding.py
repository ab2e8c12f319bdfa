"""Polymarket onboarding: L2 API credentials derived from an L1 (EIP-712 ClobAuth)
signature of the wallet, the same credentials every time for (wallet, nonce)."""

from __future__ import annotations

import time

import orjson

from arbiter.gateways.onboarding import OnboardingError
from arbiter.platform.transport import VenueTransport
from arbiter.venues.polymarket.auth import ApiCreds, ClobAuthSigner, l1_headers
from arbiter.venues.polymarket.signing import POLYGON_CHAIN_ID


async def derive_polymarket_creds(
    transport: VenueTransport, signer: ClobAuthSigner, nonce: int = 0,
    chain_id: int = POLYGON_CHAIN_ID,
) -> ApiCreds:
    """GET /auth/derive-api-key: the same credentials every time for (wallet, nonce)."""
    headers = await l1_headers(signer, chain_id, int(time.time()), nonce=nonce)
    status, raw = await transport.request("GET", "/auth/derive-api-key", headers=headers)
    if status != 200:
        raise OnboardingError(f"polymarket derive-api-key: HTTP {status} {raw[:200]!r}")
    try:
        reply = orjson.loads(raw)
        return ApiCreds(reply["apiKey"], reply["secret"], reply["passphrase"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise OnboardingError(f"polymarket derive-api-key: unusable reply {raw[:200]!r} "
                              f"({exc!r})") from None
