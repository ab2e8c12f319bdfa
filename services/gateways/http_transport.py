"""`VenueTransport` over real sockets (aiohttp): REST requests and self-healing WebSocket channels.

Venues drop WebSocket connections (deploys, idle timeouts, network blips); a gateway must not
have to notice. Each channel therefore owns a reader task that reconnects with a capped,
deterministic exponential back-off and replays the frames the gateway sent on that channel
(its subscriptions), so the venue answers with fresh snapshots — Polymarket `book` events,
Kalshi `orderbook_snapshot`s — which the adapters already treat as resets. Which frames are
worth replaying is the `Replay` policy: all of them for Polymarket (subscriptions only), the
`subscribe` commands for Kalshi (its other commands name sids of the dead connection).

Keep-alive differs per venue: Polymarket wants a text `PING` every 10 s (`TextPing`) and
closes idle connections; a channel that then hears nothing for three ping intervals is
presumed half-open and is reconnected. Kalshi pings us with WebSocket ping frames, which
aiohttp answers (autoping); `heartbeat_s` adds our own protocol pings, so a half-open Kalshi
socket is noticed too (aiohttp closes it when a pong is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Self

import aiohttp

from arbiter.platform.transport import FrameSink, Headers, LinkState, RequestTimeout, WsHeaders

log = logging.getLogger(__name__)

Replay = Callable[[bytes], bool]
# Closing a half-open socket must not hold up the reconnect for aiohttp's default 10 s.
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=1.0)


def replay_all(frame: bytes) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: initial, initial*factor, ... capped; the same schedule every time."""

    initial_s: float = 0.1
    factor: float = 2.0
    cap_s: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.cap_s, self.initial_s * self.factor**attempt)


@dataclass(frozen=True, slots=True)
class TextPing:
    """An application-level keep-alive frame sent every `interval_s` (Polymarket: `PING`)."""

    interval_s: float = 10.0
    frame: bytes = b"PING"

    @property
    def idle_timeout_s(self) -> float:
        return 3 * self.interval_s


@dataclass(frozen=True)
class SocketEndpoints:
    """Where a venue lives on the network and how its streams stay alive: what a venue
    plugin tells the socket transport. `base_url` is the REST origin; `ws_urls` maps the
    gateway's channel names to WebSocket URLs; `rest_routes` sends paths under a prefix to
    another origin (a venue that publishes some data on a second host)."""

    base_url: str
    ws_urls: Mapping[str, str]
    rest_routes: Mapping[str, str] = field(default_factory=dict)
    ping: TextPing | None = None
    heartbeat_s: float | None = None
    replay: Replay = replay_all
    request_timeout_s: float = 10.0

    def transport(self) -> HttpVenueTransport:
        return HttpVenueTransport(self.base_url, self.ws_urls, rest_routes=self.rest_routes,
                                  ping=self.ping,
                                  heartbeat_s=self.heartbeat_s, replay=self.replay,
                                  request_timeout_s=self.request_timeout_s)


class WsChannel:
    """One logical channel: survives socket drops; `send` frames are replayed on reconnect."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        on_frame: FrameSink,
        headers: WsHeaders | None,
        ping: TextPing | None,
        heartbeat_s: float | None,
        backoff: Backoff,
        replay: Replay,
        on_state: LinkState | None = None,
    ) -> None:
        self.url = url
        self._on_state = on_state
        self.reconnects = 0
        self._session = session
        self._on_frame = on_frame
        self._headers = headers
        self._ping = ping
        self._heartbeat_s = heartbeat_s
        self._backoff = backoff
        self._replay = replay
        self._sent: list[bytes] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closed = False
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """First connect: failures surface to the caller (a wrong URL or key should not
        retry forever in silence); later drops are healed by the reader task."""
        self._ws = await self._dial()
        self._reader = asyncio.create_task(self._read_forever(), name=f"ws-read {self.url}")
        if self._ping is not None:
            self._pinger = asyncio.create_task(self._ping_forever(self._ping),
                                               name=f"ws-ping {self.url}")

    async def send(self, frame: bytes) -> None:
        """Send now if connected; a replayable frame is also kept for the next connection."""
        if self._replay(frame):
            self._sent.append(frame)
        await self._send_live(frame)

    async def close(self) -> None:
        self._closed = True
        for task in (self._pinger, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._ws is not None:
            await self._ws.close()

    async def _dial(self) -> aiohttp.ClientWebSocketResponse:
        headers = await self._headers() if self._headers is not None else None
        return await self._session.ws_connect(self.url, headers=headers, autoping=True,
                                              heartbeat=self._heartbeat_s, timeout=_WS_TIMEOUT)

    async def _send_live(self, frame: bytes) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_str(frame.decode())
        except ConnectionError:  # the reader notices the drop and reconnects
            log.info("ws %s: send on a dropping socket deferred to the reconnect", self.url)

    async def _read_forever(self) -> None:
        while not self._closed:
            assert self._ws is not None
            await self._pump(self._ws)
            if self._closed:
                return
            await self._ws.close()
            await self._tell(up=False)
            self._ws = await self._redial()
            self.reconnects += 1
            for frame in list(self._sent):
                await self._send_live(frame)
            await self._tell(up=True)

    async def _tell(self, *, up: bool) -> None:
        """Report the link's state; a failing listener must not stop the reconnect."""
        if self._on_state is None:
            return
        try:
            await self._on_state(up)
        except Exception:
            log.exception("ws %s: link-state listener failed", self.url)

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Deliver frames until the socket ends or goes silent for too long."""
        idle = self._ping.idle_timeout_s if self._ping is not None else None
        while True:
            try:
                msg = await ws.receive(timeout=idle)
            except TimeoutError:
                log.warning("ws %s: silent for %.1fs, reconnecting", self.url, idle)
                return
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self._deliver(msg.data.encode())
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await self._deliver(msg.data)
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                if not self._closed:
                    log.warning("ws %s: connection lost (%s), reconnecting", self.url, msg.type.name)
                return

    async def _deliver(self, frame: bytes) -> None:
        """A bug in the handler of one frame must not silence the channel for good."""
        try:
            await self._on_frame(frame)
        except Exception:
            log.exception("ws %s: frame handler failed on %.200r", self.url, frame)

    async def _redial(self) -> aiohttp.ClientWebSocketResponse:
        attempt = 0
        while True:
            await asyncio.sleep(self._backoff.delay(attempt))
            try:
                return await self._dial()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("ws %s: reconnect attempt %d failed: %s", self.url, attempt + 1, exc)
                attempt += 1

    async def _ping_forever(self, ping: TextPing) -> None:
        while True:
            await asyncio.sleep(ping.interval_s)
            await self._send_live(ping.frame)


class HttpVenueTransport:
    """Implements `arbiter.platform.transport.VenueTransport` against a venue's URLs.

    `base_url` is the origin (scheme, host, port); adapters pass full paths such as
    `/trade-api/v2/portfolio/events/orders`. `ws_urls` maps the adapter's channel names to
    WebSocket URLs. A channel's `headers` are made on every (re)connect, so signed handshake
    headers (Kalshi) carry a fresh timestamp.
    """

    def __init__(
        self,
        base_url: str,
        ws_urls: Mapping[str, str],
        *,
        rest_routes: Mapping[str, str] | None = None,
        ping: TextPing | None = None,
        heartbeat_s: float | None = None,
        backoff: Backoff = Backoff(),
        replay: Replay = replay_all,
        request_timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws_urls = dict(ws_urls)
        self.rest_routes = {prefix.rstrip("/"): origin.rstrip("/")
                            for prefix, origin in (rest_routes or {}).items()}
        self.ping = ping
        self.heartbeat_s = heartbeat_s
        self.backoff = backoff
        self.replay = replay
        self.request_timeout_s = request_timeout_s
        self.channels: list[WsChannel] = []
        self._session: aiohttp.ClientSession | None = None

    @property
    def reconnects(self) -> int:
        return sum(channel.reconnects for channel in self.channels)

    def url_for(self, path: str) -> str:
        """The URL a gateway path goes to: a routed prefix's origin (prefix dropped), else
        the venue's REST origin."""
        for prefix, origin in self.rest_routes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return origin + path[len(prefix):]
        return self.base_url + path

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily: a ClientSession needs a running loop
            self._session = aiohttp.ClientSession()
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        """One REST call. Any failure to get a reply — timeout, reset, refused — raises
        `RequestTimeout`: the request may have reached the venue, so the caller looks the
        outcome up instead of guessing."""
        status, raw, _ = await self.request_with_headers(method, path, query, headers, body)
        return status, raw

    async def request_with_headers(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes, Headers]:
        """`request` plus the reply headers (``Retry-After`` after a 429)."""
        sent_headers = dict(headers or {})
        if body and not any(k.lower() == "content-type" for k in sent_headers):
            sent_headers["Content-Type"] = "application/json"
        try:
            async with self._client().request(
                method, self.url_for(path), params=query or None, headers=sent_headers,
                data=body or None, timeout=aiohttp.ClientTimeout(total=self.request_timeout_s),
            ) as response:
                return response.status, await response.read(), dict(response.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RequestTimeout(f"{method} {path}: no reply from {self.base_url} ({exc!r})") from exc

    async def connect(
        self,
        channel: str,
        on_frame: FrameSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> WsChannel:
        url = self.ws_urls.get(channel)
        if url is None:
            raise ValueError(f"no WebSocket URL configured for channel {channel!r} "
                             f"(known: {sorted(self.ws_urls)})")
        ws_channel = WsChannel(self._client(), url, on_frame, headers, self.ping,
                               self.heartbeat_s, self.backoff, self.replay, on_state)
        await ws_channel.open()
        self.channels.append(ws_channel)
        return ws_channel

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        self.channels.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
