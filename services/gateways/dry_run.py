"""`--dry-run`: every order is built, signed, logged and counted, and none is sent.

`DryRunTransport` wraps any `VenueTransport`. Reads (GET), WebSocket channels and a short
allowlist of non-trading writes (onboarding, batch book/price reads, heartbeats: each venue
lists its own in its plugin's `DryRunRules`) pass through;
every other POST/DELETE — order entry and cancels on either venue — is held back: the exact
signed body and headers are recorded, logged with the secret header values redacted, and
answered the way the venue answers a rejected order, so the gateway emits a REJECT report and
the saga unwinds without anything trading. Unknown POST/DELETE paths are held back too
(fail-safe: a new order endpoint cannot slip through by not being listed).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from arbiter.platform.transport import (
    Connection,
    FrameSink,
    Headers,
    LinkState,
    VenueTransport,
    WsHeaders,
    request_with_headers,
)

log = logging.getLogger(__name__)

DRY_RUN_REASON = "dry-run: order built and signed, not sent"
REDACTED = "<redacted>"


@dataclass(frozen=True)
class DryRunRules:
    """What a venue's dry run must know: which headers and body fields carry a secret (log
    copies only), which writes place or cancel nothing and so are sent anyway (onboarding,
    batch reads, heartbeats), and the body the venue answers a rejected order with."""

    secret_headers: frozenset[str]
    pass_through_writes: frozenset[tuple[str, str]]
    rejection: Callable[[str], bytes]  # request path -> the venue's reject body
    secret_body_fields: frozenset[str] = frozenset()

    def redact_headers(self, headers: dict[str, str]) -> dict[str, str]:
        secret = {h.lower() for h in self.secret_headers}
        return {k: REDACTED if k.lower() in secret else v for k, v in headers.items()}


@dataclass(frozen=True, slots=True)
class WouldHaveSent:
    """One held-back request, byte for byte as the venue would have received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)  # unredacted: it must verify
    body: bytes
    rules: DryRunRules = field(repr=False, compare=False)

    @property
    def safe_headers(self) -> dict[str, str]:
        return self.rules.redact_headers(self.headers)

    def loggable_body(self) -> str:
        try:
            payload = orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return repr(self.body[:500])
        secret = self.rules.secret_body_fields

        def redact(item: object) -> object:
            if isinstance(item, dict):
                return {k: REDACTED if k in secret else v for k, v in item.items()}
            return item

        payload = [redact(p) for p in payload] if isinstance(payload, list) else redact(payload)
        return orjson.dumps(payload).decode()


class DryRunTransport:
    """Implements `VenueTransport`; see the module docstring. `sent_would_have` keeps the
    last `keep` held-back requests (a long dry run must not grow without bound);
    `would_have_sent` counts all of them."""

    def __init__(self, inner: VenueTransport, rules: DryRunRules, keep: int = 1000) -> None:
        self.inner = inner
        self.rules = rules
        self.sent_would_have: deque[WouldHaveSent] = deque(maxlen=keep)
        self.would_have_sent = 0

    def holds_back(self, method: str, path: str) -> bool:
        method = method.upper()
        return (method not in ("GET", "HEAD", "OPTIONS")
                and (method, path) not in self.rules.pass_through_writes)

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
        held = WouldHaveSent(method.upper(), path, dict(query or {}), dict(headers or {}), body,
                             self.rules)
        self.sent_would_have.append(held)
        self.would_have_sent += 1
        log.info("dry-run #%d: NOT sent %s %s query=%s headers=%s body=%s",
                 self.would_have_sent, held.method, path, held.query, held.safe_headers,
                 held.loggable_body())
        return 400, self.rules.rejection(path)

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

    async def connect(
        self,
        channel: str,
        on_frame: FrameSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> Connection:
        return await self.inner.connect(channel, on_frame, headers, on_state)
