"""Serve an emulated venue over real HTTP + WebSocket (aiohttp), with scriptable faults.

The embedded topology calls the emulators in process (`arbiter.emulators.link`); this module
puts the same handlers behind sockets so a gateway — ours in another process, or an official
SDK — meets them exactly as it meets the venue: every REST path goes to `handle_http` with
query, headers and the raw body untouched, and each venue's WebSocket paths map to the
emulator's channels. `arbiter emulator` runs both venues plus the synthetic market on the
wall clock (`emulator_command`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self, cast

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from arbiter.core.instruments import Venue
from arbiter.emulators.kalshi import API, KalshiEmulator
from arbiter.emulators.polymarket import PolymarketEmulator
from arbiter.emulators.synthetic import SyntheticMarket
from arbiter.emulators.venue import EmulatedVenue, WsSession
from arbiter.gateways.kalshi.auth import WS_PATH
from arbiter.platform.config import ArbiterConfig

log = logging.getLogger(__name__)

ORDER_FAULT_STATUSES = (429, 503)


class Faults:
    """Per-run faults, armed by a test or an operator and consumed in arrival order, so a
    scripted run misbehaves the same way every time."""

    def __init__(self) -> None:
        self.rest_latency_ms = 0
        self._order_failures: deque[int] = deque()
        self._ws_budget: int | None = None
        self._ws_channel: str | None = None

    def fail_orders(self, status: int, count: int = 1) -> None:
        """The next `count` order posts get `status` (429 or 503) with the venue's error body."""
        if status not in ORDER_FAULT_STATUSES:
            raise ValueError(f"order fault status {status} is not one of {ORDER_FAULT_STATUSES}")
        self._order_failures.extend([status] * count)

    def drop_ws_after(self, frames: int, channel: str | None = None) -> None:
        """Let `frames` more server frames through (on `channel`, or any), then cut that
        connection without a close frame, as a network failure would. One-shot."""
        self._ws_budget, self._ws_channel = frames, channel

    def take_order_failure(self) -> int | None:
        return self._order_failures.popleft() if self._order_failures else None

    def frame_allowed(self, channel: str) -> bool:
        """False once for the frame that trips an armed drop."""
        if self._ws_budget is None or self._ws_channel not in (None, channel):
            return True
        if self._ws_budget > 0:
            self._ws_budget -= 1
            return True
        self._ws_budget = self._ws_channel = None
        return False


@dataclass(frozen=True, slots=True)
class Surface:
    """What differs per venue on the wire around the shared handlers."""

    ws_routes: Mapping[str, str]  # WebSocket path -> emulator channel
    order_paths: frozenset[str]  # POST paths that order faults hit
    error_bodies: Mapping[int, object]  # the venue's own body for a fault status
    ws_guard: Callable[[Any, dict[str, str]], bool] | None = None


SURFACES = {
    Venue.POLYMARKET: Surface(
        ws_routes={"/ws/market": "market", "/ws/user": "user"},
        order_paths=frozenset({"/order", "/orders"}),
        error_bodies={
            401: {"error": "Unauthorized/Invalid api key"},
            429: {"error": "Too Many Requests"},
            503: {"error": "Trading is currently disabled. Check polymarket.com for updates"},
        },
    ),
    Venue.KALSHI: Surface(
        ws_routes={WS_PATH: "ws"},
        order_paths=frozenset({f"{API}/portfolio/events/orders",
                               f"{API}/portfolio/events/orders/batched",
                               f"{API}/portfolio/orders", f"{API}/portfolio/orders/batched"}),
        error_bodies={
            401: {"error": {"code": "unauthorized",
                            "message": "invalid or missing KALSHI-ACCESS signature"}},
            429: {"error": "too many requests"},
            503: {"error": {"code": "service_unavailable", "message": "service unavailable"}},
        },
        ws_guard=KalshiEmulator.ws_authorized,
    ),
}


class VenueServer:
    """One emulated venue on one port; `url` and `ws_urls` are known after `start`."""

    def __init__(self, venue: EmulatedVenue, faults: Faults | None = None) -> None:
        self.venue = venue
        self.faults = faults or Faults()
        self.surface = SURFACES[venue.venue]
        self.url = ""
        self.ws_urls: dict[str, str] = {}
        self.ws_connections = 0
        self._peers: set[_Peer] = set()
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application()
        for path in self.surface.ws_routes:
            app.router.add_get(path, self._websocket)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self.ws_urls = {channel: f"ws://{bound_host}:{bound_port}{path}"
                        for path, channel in self.surface.ws_routes.items()}

    async def stop(self) -> None:
        """Close open WebSockets first: the server waits for every handler to return."""
        for peer in list(self._peers):
            await peer.ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _error(self, status: int) -> web.Response:
        return web.Response(status=status, body=orjson.dumps(self.surface.error_bodies[status]),
                            content_type="application/json")

    async def _rest(self, request: web.Request) -> web.Response:
        if self.faults.rest_latency_ms:
            await asyncio.sleep(self.faults.rest_latency_ms / 1000)
        if request.method == "POST" and request.path in self.surface.order_paths:
            status = self.faults.take_order_failure()
            if status is not None:
                return self._error(status)
        response = await self.venue.handle_http(
            request.method, request.path, dict(request.query), _headers(request),
            await request.read())
        return web.Response(status=response.status, body=response.body,
                            content_type="application/json")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        guard = self.surface.ws_guard
        if guard is not None and not guard(self.venue, _headers(request)):
            return self._error(401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.ws_connections += 1
        peer = _Peer(request, ws, self.surface.ws_routes[request.path], self.faults)
        session = await self.venue.connect(peer.channel, peer.send)
        self._peers.add(peer)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await _client_frame(session, msg.data)
        finally:
            self._peers.discard(peer)
            session.close()
        return ws


class _Peer:
    """The server side of one WebSocket: writes venue frames and applies the drop fault."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, channel: str,
                 faults: Faults) -> None:
        self.request = request
        self.ws = ws
        self.channel = channel
        self.faults = faults
        self.dropped = False

    async def send(self, frame: bytes) -> None:
        if self.dropped or self.ws.closed:
            return
        if not self.faults.frame_allowed(self.channel):
            self.dropped = True
            if self.request.transport is not None:
                self.request.transport.abort()  # no close frame: a network failure
            return
        try:
            await self.ws.send_str(frame.decode())
        except ConnectionError:  # the client went away; its read loop ends the session
            self.dropped = True


async def _client_frame(session: WsSession, data: str | bytes) -> None:
    frame = data.encode() if isinstance(data, str) else data
    try:
        await session.send(frame)
    except ValueError as exc:  # malformed JSON from the client: the venue ignores it
        log.warning("emulator ws %s: ignored malformed client frame %.200r (%s)",
                    session.channel, frame, exc)


def _headers(request: web.Request) -> dict[str, str]:
    """The request headers, case-insensitive as HTTP headers are (the handlers only `get`)."""
    return cast(dict[str, str], request.headers)


# -- the standalone emulator ------------------------------------------------------------
@dataclass
class RunningEmulators:
    polymarket: VenueServer
    kalshi: VenueServer
    market: SyntheticMarket

    def describe(self) -> list[str]:
        return [
            f"polymarket  REST {self.polymarket.url}  WS "
            + " ".join(self.polymarket.ws_urls.values()),
            f"kalshi      REST {self.kalshi.url}  WS " + " ".join(self.kalshi.ws_urls.values()),
        ]


@contextlib.asynccontextmanager
async def serve_emulators(
    config: ArbiterConfig, host: str, polymarket_port: int, kalshi_port: int,
    *, open_registration: bool = False,
) -> AsyncIterator[RunningEmulators]:
    """Both venues on sockets, driven by one synthetic market that the caller steps."""
    polymarket, kalshi = PolymarketEmulator(), KalshiEmulator()
    kalshi.open_registration = open_registration
    market = SyntheticMarket(config.market, polymarket, kalshi)
    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for venue, port in ((polymarket, polymarket_port), (kalshi, kalshi_port)):
            server = VenueServer(venue)
            await server.start(host, port)
            stack.push_async_callback(server.stop)
            servers.append(server)
        yield RunningEmulators(servers[0], servers[1], market)


async def step_until(market: SyntheticMarket, step_ms: int, stop: asyncio.Event) -> None:
    """Step every `step_ms` of wall time on a fixed schedule; a late step is not made up
    with a burst, so a slow machine sees a slower market, not a jumpy one."""
    loop = asyncio.get_running_loop()
    period = step_ms / 1000
    deadline = loop.time()
    while not stop.is_set():
        await market.step()
        deadline = max(deadline + period, loop.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), deadline - loop.time())


async def run_emulators(
    config: ArbiterConfig, host: str, polymarket_port: int, kalshi_port: int,
    stop_event: asyncio.Event, *, open_registration: bool = False,
    on_ready: Callable[[RunningEmulators], None] | None = None,
) -> None:
    """Serve both venues and step the market on the wall clock until `stop_event`."""
    async with serve_emulators(config, host, polymarket_port, kalshi_port,
                               open_registration=open_registration) as running:
        if on_ready is not None:
            on_ready(running)
        await step_until(running.market, config.market.step_ms, stop_event)


def emulator_command(
    config: ArbiterConfig, host: str, polymarket_port: int, kalshi_port: int,
    *, open_registration: bool = False,
) -> None:
    """`arbiter emulator`: run until SIGINT/SIGTERM, printing where each venue listens."""

    def ready(running: RunningEmulators) -> None:
        for line in running.describe():
            print(line, flush=True)
        if open_registration:
            print("kalshi      open registration: POST /trade-api/v2/api_keys needs no "
                  "signature (paper mode)", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_emulators(config, host, polymarket_port, kalshi_port, stop,
                            open_registration=open_registration, on_ready=ready)

    asyncio.run(main())
