"""`--dry-run`: every order is built, signed, logged and counted, and none is sent.

`DryRunTransport` wraps any `VenueTransport`. Reads (GET), WebSocket channels and a short
allowlist of non-trading POSTs (onboarding, batch book/price reads, heartbeats) pass through;
every other POST/DELETE — order entry and cancels on either venue — is held back: the exact
signed body and headers are recorded, logged with the secret header values redacted, and
answered the way the venue answers a rejected order, so the gateway emits a REJECT report and
the saga unwinds without anything trading. Unknown POST/DELETE paths are held back too
(fail-safe: a new order endpoint cannot slip through by not being listed).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import orjson

from arbiter.gateways.kalshi.auth import API_PATH_PREFIX, KALSHI_ACCESS_SIGNATURE
from arbiter.gateways.polymarket.auth import POLY_API_KEY, POLY_PASSPHRASE, POLY_SIGNATURE
from arbiter.gateways.transport import (
    Connection,
    FrameSink,
    Headers,
    VenueTransport,
    request_with_headers,
)

log = logging.getLogger(__name__)

DRY_RUN_REASON = "dry-run: order built and signed, not sent"
SECRET_HEADERS = frozenset(h.lower() for h in (POLY_API_KEY, POLY_PASSPHRASE, POLY_SIGNATURE,
                                               KALSHI_ACCESS_SIGNATURE))
REDACTED = "<redacted>"
# Body fields that carry a credential (Polymarket's `owner` is the L2 API key): log copy only.
_SECRET_BODY_FIELDS = ("owner",)
# Writes that place or cancel nothing, and so are sent even in a dry run.
PASS_THROUGH_WRITES = frozenset({
    ("POST", "/auth/api-key"),                 # Polymarket L1 onboarding
    ("POST", "/books"), ("POST", "/prices"), ("POST", "/midpoints"), ("POST", "/spreads"),
    ("POST", "/last-trades-prices"),           # Polymarket batch reads
    ("POST", "/v1/heartbeats"),                # Polymarket heartbeat (no orders are live)
    ("POST", f"{API_PATH_PREFIX}v2/api_keys"), # Kalshi paper key registration
})


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: REDACTED if k.lower() in SECRET_HEADERS else v for k, v in headers.items()}


@dataclass(frozen=True, slots=True)
class WouldHaveSent:
    """One held-back request, byte for byte as the venue would have received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)  # unredacted: it must verify
    body: bytes

    @property
    def safe_headers(self) -> dict[str, str]:
        return redact_headers(self.headers)

    def loggable_body(self) -> str:
        try:
            payload = orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return repr(self.body[:500])
        if isinstance(payload, dict):
            payload = {k: REDACTED if k in _SECRET_BODY_FIELDS else v for k, v in payload.items()}
        elif isinstance(payload, list):
            payload = [{k: REDACTED if k in _SECRET_BODY_FIELDS else v for k, v in p.items()}
                       if isinstance(p, dict) else p for p in payload]
        return orjson.dumps(payload).decode()


def _rejection(path: str) -> bytes:
    if path.startswith(API_PATH_PREFIX):  # Kalshi error shape
        return orjson.dumps({"error": {"code": "dry_run", "message": DRY_RUN_REASON}})
    return orjson.dumps({"error": DRY_RUN_REASON})  # Polymarket error shape


class DryRunTransport:
    """Implements `VenueTransport`; see the module docstring. `sent_would_have` keeps the
    last `keep` held-back requests (a long dry run must not grow without bound);
    `would_have_sent` counts all of them."""

    def __init__(self, inner: VenueTransport, keep: int = 1000) -> None:
        self.inner = inner
        self.sent_would_have: deque[WouldHaveSent] = deque(maxlen=keep)
        self.would_have_sent = 0

    @staticmethod
    def holds_back(method: str, path: str) -> bool:
        method = method.upper()
        return method not in ("GET", "HEAD", "OPTIONS") and (method, path) not in PASS_THROUGH_WRITES

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        if not self.holds_back(method, path):
            return await self.inner.request(method, path, query, headers, body)
        held = WouldHaveSent(method.upper(), path, dict(query or {}), dict(headers or {}), body)
        self.sent_would_have.append(held)
        self.would_have_sent += 1
        log.info("dry-run #%d: NOT sent %s %s query=%s headers=%s body=%s",
                 self.would_have_sent, held.method, path, held.query, held.safe_headers,
                 held.loggable_body())
        return 400, _rejection(path)

    async def request_with_headers(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes, Headers]:
        if not self.holds_back(method, path):
            return await request_with_headers(self.inner, method, path, query, headers, body)
        status, raw = await self.request(method, path, query, headers, body)
        return status, raw, {}

    async def connect(self, channel: str, on_frame: FrameSink) -> Connection:
        return await self.inner.connect(channel, on_frame)
