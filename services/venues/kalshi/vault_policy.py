"""What the vault checks before a Kalshi key signs a request.

Kalshi authenticates a request by an RSA-PSS signature over timestamp + METHOD + path (the body
is not signed), so a signature is a licence to call that endpoint for as long as the venue
accepts the timestamp. The vault therefore signs only a request line a gateway makes: a trading
API path (never key management), a method the gateway uses, timestamped now by the vault's
clock. The check is pure: (request, credential, tenant scope, now) in, the text to sign or a
refusal naming the check out.
"""

from __future__ import annotations

from collections.abc import Mapping

from arbiter.v1 import signing_pb2
from arbiter.vault.policy import (
    Approved,
    CredentialPublic,
    MalformedPayload,
    PolicyViolation,
    TenantPolicy,
)
from arbiter.venues.kalshi.auth import WS_PATH, signing_string
from arbiter.venues.kalshi.constants import VENUE

TRADE_API_PREFIX = "/trade-api/v2/"
"""Every REST path the gateway signs is under the v2 trading API (the WebSocket is WS_PATH)."""
KEY_MANAGEMENT_PREFIX = TRADE_API_PREFIX + "api_keys"
"""Creating or deleting API keys would outlive any signature: never signed by the vault."""
METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})
TIMESTAMP_SKEW_MS = 60_000
"""How far a request's timestamp may be from the vault's clock, either way."""


def check_request(message: signing_pb2.VenueRequest, credential: CredentialPublic,
                  tenant: TenantPolicy, now_ms: int) -> Approved:
    """A trading-API request line, timestamped now; the pre-sign text the venue verifies."""
    method, path = message.method, message.path
    if method not in METHODS:
        raise PolicyViolation("method", f"method {method!r} is not one of {sorted(METHODS)}")
    if any(c in path for c in "?#\\ ") or "/." in path or "//" in path:
        raise MalformedPayload("path", f"path {path!r} must be a plain path: no query, "
                               "fragment, dot segment or empty segment")
    if not (path.startswith(TRADE_API_PREFIX) or path == WS_PATH):
        raise PolicyViolation("path", f"path {path!r} is outside the trading API "
                              f"({TRADE_API_PREFIX}..., {WS_PATH})")
    if path.startswith(KEY_MANAGEMENT_PREFIX):
        raise PolicyViolation("path", f"path {path!r} manages API keys, which the vault never "
                              "signs")
    if message.body:
        raise MalformedPayload("body", "Kalshi signs no request body; send none")
    if abs(message.timestamp_ms - now_ms) > TIMESTAMP_SKEW_MS:
        raise PolicyViolation("timestamp", f"timestamp {message.timestamp_ms} ms is more than "
                              f"{TIMESTAMP_SKEW_MS // 1000} s from the vault's clock ({now_ms})")
    return Approved(signing_string(message.timestamp_ms, method, path).encode(),
                    describe_request(message))


def describe_request(message: signing_pb2.VenueRequest) -> Mapping[str, str]:
    return {"venue": VENUE, "method": message.method, "path": message.path,
            "timestamp_ms": str(message.timestamp_ms)}
