"""The venue transport port: REST requests and WebSocket channels as bytes.

Gateways depend only on this. The embedded topology passes an in-process link to the
emulators (`arbiter.emulators.link.InProcessLink`); a socket implementation reaches a real
venue or a standalone emulator over HTTP/WebSocket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

FrameSink = Callable[[bytes], Awaitable[None]]
Headers = Mapping[str, str]
WsHeaders = Callable[[], Awaitable[dict[str, str]]]
"""Handshake headers made fresh on every (re)connect, so signed ones carry a new timestamp."""
LinkState = Callable[[bool], Awaitable[None]]
"""Told False the moment a channel's socket drops and True once it is back (resubscribed):
what a gateway needs to stop trading on books the venue can no longer update."""


async def request_with_headers(
    transport: object,
    method: str,
    path: str,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes, Headers]:
    """`request`, plus the reply headers where the transport can see them (an optional
    `request_with_headers` method: the socket transport has one, so ``Retry-After`` is
    honoured; in-process links do not, and the gateway falls back to its own back-off)."""
    extended = getattr(transport, "request_with_headers", None)
    if extended is not None:
        return await extended(method, path, query, headers, body)
    status, raw = await transport.request(method, path, query, headers, body)  # type: ignore[attr-defined]
    return status, raw, {}


class RequestTimeout(Exception):
    """No reply in time: the request may or may not have reached the venue, so its outcome
    must be looked up, never assumed."""


class Connection(Protocol):
    async def send(self, frame: bytes) -> None: ...

    async def close(self) -> None: ...


class VenueTransport(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]: ...

    async def connect(
        self,
        channel: str,
        on_frame: FrameSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> Connection:
        """Open a self-healing channel; `headers` authenticate its handshakes, `on_state`
        hears it drop and come back."""
        ...
