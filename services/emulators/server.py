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
import enum
import logging
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Self, cast

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from arbiter.emulators.synthetic import SyntheticMarket
from arbiter.emulators.venue import EmulatedVenue, WsSession

log = logging.getLogger(__name__)

ORDER_FAULT_STATUSES = (429, 500, 503)
"""Statuses an order post can be failed with: 429 refuses it; a 5xx may come before the
venue acted or after (`fail_orders(after_accept=True)`)."""
MAX_REPLAY_FRAMES = 256
"""Frames a connection remembers for a replaying reconnect (`drop_ws_after(replay=)`)."""
MAX_REQUEST_LOG = 10_000
"""REST requests `VenueServer.requests` remembers (a standalone emulator runs for days)."""
KEEPALIVE_FRAMES = frozenset({b"PONG"})
"""Never faulted nor counted: they answer the client's timer, so counting them would make a
script depend on timing."""


class WsFault(enum.Enum):
    """What happens to the one WebSocket frame an armed fault lands on."""

    CUT = "cut"  # the connection dies without a close frame; the frame is lost with it
    DROP = "drop"  # the frame is lost, the connection lives on (a Kalshi seq gap)
    DUPLICATE = "duplicate"  # the frame is sent twice
    HOLD = "hold"  # the frame goes out right after the next one (out of order)
    CORRUPT = "corrupt"  # the envelope survives, every value inside its payload is garbage


@dataclass(slots=True)
class ArmedWsFault:
    """One scripted frame fault, waiting for its frame."""

    fault: WsFault
    channel: str | None  # None: any channel
    containing: bytes | None  # None: any frame
    skip: int  # matching frames still let through before it fires
    replay: int  # CUT only: frames the venue re-sends on the next connection

    def matches(self, channel: str, frame: bytes) -> bool:
        return self.channel in (None, channel) and (
            self.containing is None or self.containing in frame)


@dataclass(frozen=True, slots=True)
class OrderFault:
    """What happens to one order post: `status` replaces the venue's reply (None: no reply
    at all), `venue_acts` says whether the venue processed the order first, and `cut`
    (no reply only) cuts the connection at once instead of holding the reply until the
    client has given up."""

    status: int | None
    venue_acts: bool
    cut: bool = False


class Faults:
    """Per-run faults, armed by a test or an operator and consumed in arrival order, so a
    scripted run misbehaves the same way every time. Each armed fault fires once.

    Order posts (the venue's order-entry POST paths): `fail_orders` (429, or a 5xx before
    or after the venue acted), `reject_orders` (the venue's business reject),
    `lose_order_replies` (the venue acts, the reply never arrives). WebSocket frames
    (`ws_fault`, `drop_ws_after`): cut the connection (optionally replaying on the next
    one), drop, duplicate or hold back one frame, counted per channel (and per `containing`
    text, e.g. '"type":"fill"'). `rest_latency_ms` delays every REST reply.
    """

    def __init__(self) -> None:
        self.rest_latency_ms = 0
        self._order_faults: deque[OrderFault] = deque()
        self._ws_faults: list[ArmedWsFault] = []

    # -- order posts -------------------------------------------------------------------
    def fail_orders(self, status: int, count: int = 1, *, after_accept: bool = False) -> None:
        """The next `count` order posts get `status` with the venue's error body; with
        `after_accept` (5xx only) the venue has processed each order first."""
        if status not in ORDER_FAULT_STATUSES:
            raise ValueError(f"order fault status {status} is not one of {ORDER_FAULT_STATUSES}")
        if after_accept and status < 500:
            raise ValueError(f"HTTP {status} means the venue refused the order; only a 5xx "
                             "can come after it acted")
        self._arm_orders(OrderFault(status, venue_acts=after_accept), count)

    def reject_orders(self, count: int = 1) -> None:
        """The next `count` order posts are refused by the venue's business rules (HTTP 400,
        its insufficient-balance error); nothing is placed."""
        self._arm_orders(OrderFault(400, venue_acts=False), count)

    def lose_order_replies(self, count: int = 1, *, cut: bool = False) -> None:
        """The venue processes each of the next `count` order posts, then the reply is lost:
        held until the client times out (the server releases it on stop), or with `cut`
        the connection is cut at once."""
        self._arm_orders(OrderFault(None, venue_acts=True, cut=cut), count)

    def _arm_orders(self, fault: OrderFault, count: int) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, was {count}")
        self._order_faults.extend([fault] * count)

    def take_order_fault(self) -> OrderFault | None:
        return self._order_faults.popleft() if self._order_faults else None

    # -- WebSocket frames --------------------------------------------------------------
    def ws_fault(
        self, fault: WsFault, channel: str | None = None, *, after: int = 0,
        containing: str | None = None, replay: int = 0,
    ) -> None:
        """Let `after` more matching frames through (on `channel`, or any; only frames
        containing `containing`, if given), then apply `fault` to the next one. `replay`
        (CUT only): first thing on the channel's next connection, the venue re-sends the
        last `replay` frames of the dead one (the lost frame included) and every frame it
        emitted for the dead session after the cut, as a venue that resumes streams does."""
        if after < 0:
            raise ValueError(f"after must be 0 or more, was {after}")
        if not 0 <= replay <= MAX_REPLAY_FRAMES:
            raise ValueError(f"replay must be 0..{MAX_REPLAY_FRAMES}, was {replay}")
        if replay and fault is not WsFault.CUT:
            raise ValueError(f"replay needs a cut connection, not {fault.value}")
        self._ws_faults.append(ArmedWsFault(
            fault, channel, None if containing is None else containing.encode(), after, replay))

    def drop_ws_after(self, frames: int, channel: str | None = None, *, replay: int = 0) -> None:
        """Let `frames` more server frames through (on `channel`, or any), then cut that
        connection without a close frame, as a network failure would (`replay`: as in
        `ws_fault`)."""
        self.ws_fault(WsFault.CUT, channel, after=frames, replay=replay)

    def ws_fault_for(self, channel: str, frame: bytes) -> ArmedWsFault | None:
        """The armed fault that fires on this frame, if any (at most one per frame, the
        earliest armed); every other matching fault counts the frame."""
        if frame in KEEPALIVE_FRAMES:
            return None
        fired = None
        for armed in self._ws_faults:
            if not armed.matches(channel, frame):
                continue
            if armed.skip:
                armed.skip -= 1
            elif fired is None:
                fired = armed
        if fired is not None:
            self._ws_faults.remove(fired)
        return fired

    @property
    def armed(self) -> int:
        """Faults armed and not yet fired (a test checks its script was used up)."""
        return len(self._order_faults) + len(self._ws_faults)


class VenueServer:
    """One emulated venue on one port; `url` and `ws_urls` are known after `start`."""

    def __init__(self, venue: EmulatedVenue, faults: Faults | None = None) -> None:
        self.venue = venue
        self.faults = faults or Faults()
        self.surface = venue.surface
        self.url = ""
        self.ws_urls: dict[str, str] = {}
        self.ws_connections = 0
        self.ignored_client_frames = 0
        # (method, path) of recent REST requests, oldest first: a test sees its lookups
        self.requests: deque[tuple[str, str]] = deque(maxlen=MAX_REQUEST_LOG)
        self._peers: set[_Peer] = set()
        self._runner: web.AppRunner | None = None
        self._replays: dict[str, list[bytes]] = {}  # channel -> frames for its next connection
        self._released = asyncio.Event()  # lets withheld order replies go (on stop)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._released.clear()
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
        """Close open WebSockets and let withheld replies go first: the server waits for
        every handler to return."""
        self._released.set()
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
        self.requests.append((request.method, request.path))
        if self.faults.rest_latency_ms:
            await asyncio.sleep(self.faults.rest_latency_ms / 1000)
        fault = None
        if request.method == "POST" and request.path in self.surface.order_paths:
            fault = self.faults.take_order_fault()
        if fault is not None and not fault.venue_acts:
            assert fault.status is not None
            return self._error(fault.status)
        response = await self.venue.handle_http(
            request.method, request.path, dict(request.query), _headers(request),
            await request.read())
        if fault is not None:  # the venue acted; the client does not learn how
            if fault.status is not None:
                return self._error(fault.status)
            if not fault.cut:
                await self._released.wait()  # past any client timeout: until stop
            _cut(request)
        return web.Response(status=response.status, body=response.body,
                            content_type="application/json")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.venue.ws_authorized(_headers(request)):
            return self._error(401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.ws_connections += 1
        channel = self.surface.ws_routes[request.path]
        peer = _Peer(request, ws, channel, self.faults, self._replays)
        for frame in self._replays.pop(channel, []):  # before anything the client asks for
            await peer.write(frame)
        session = await self.venue.connect(channel, peer.send)
        self._peers.add(peer)
        try:
            async for msg in ws:
                if (msg.type in (WSMsgType.TEXT, WSMsgType.BINARY)
                        and not await _client_frame(session, msg.data)):
                    self.ignored_client_frames += 1
        finally:
            self._peers.discard(peer)
            session.close()
        return ws


class _Peer:
    """The server side of one WebSocket: writes venue frames, applies armed frame faults,
    and remembers recent frames for a replaying reconnect."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, channel: str,
                 faults: Faults, replays: dict[str, list[bytes]]) -> None:
        self.request = request
        self.ws = ws
        self.channel = channel
        self.faults = faults
        self.dropped = False
        self._replays = replays
        self._history: deque[bytes] = deque(maxlen=MAX_REPLAY_FRAMES)  # sent, newest last
        self._held: deque[bytes] = deque()  # HOLD: out right after the next frame
        self._replay: list[bytes] | None = None  # after a replaying cut: what the next gets

    async def send(self, frame: bytes) -> None:
        """One frame from the venue, through whatever fault is armed for it. After a
        replaying cut, frames the venue still emits for the dead session join the replay."""
        if self.dropped or self.ws.closed:
            if self._replay is not None and frame not in KEEPALIVE_FRAMES:
                self._replay.append(frame)
            return
        armed = self.faults.ws_fault_for(self.channel, frame)
        if frame not in KEEPALIVE_FRAMES:
            self._history.append(frame)
        if armed is None:
            await self.write(frame)
        elif armed.fault is WsFault.CUT:
            if armed.replay:
                self._replay = self._replays[self.channel] = list(self._history)[-armed.replay:]
            self.dropped = True
            _cut(self.request)
            return
        elif armed.fault is WsFault.DROP:
            return
        elif armed.fault is WsFault.HOLD:
            self._held.append(frame)
            return
        elif armed.fault is WsFault.CORRUPT:
            await self.write(corrupted(frame))
        else:  # DUPLICATE
            await self.write(frame)
            await self.write(frame)
        while self._held and not self.dropped:
            await self.write(self._held.popleft())

    async def write(self, frame: bytes) -> None:
        """Put one frame on the wire, no faults."""
        if self.dropped or self.ws.closed:
            return
        try:
            await self.ws.send_str(frame.decode())
        except ConnectionError:  # the client went away; its read loop ends the session
            self.dropped = True


def corrupted(frame: bytes) -> bytes:
    """The frame with its envelope kept (type, channel, sequence numbers at the top level) and
    every value nested below it replaced: what a buggy or hostile venue might send."""

    def garble(value: object, depth: int) -> object:
        if isinstance(value, dict):
            return {k: garble(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [garble(v, depth + 1) for v in value]
        return value if depth <= 1 else "\u0000corrupt"

    return orjson.dumps(garble(orjson.loads(frame), 0))


def _cut(request: web.Request) -> None:
    """Close the connection without a reply or close frame: a network failure."""
    if request.transport is not None:
        request.transport.abort()


async def _client_frame(session: WsSession, data: str | bytes) -> bool:
    """Hand a client frame to the venue; False if it was ignored as malformed."""
    frame = data.encode() if isinstance(data, str) else data
    try:
        await session.send(frame)
        return True
    # malformed JSON, or JSON of the wrong shape (`null`, `[]`, a string for an object): the
    # venue ignores it and the session lives on
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        log.warning("emulator ws %s: ignored malformed client frame %.200r (%s)",
                    session.channel, frame, exc)
        return False


def _headers(request: web.Request) -> dict[str, str]:
    """The request headers, case-insensitive as HTTP headers are (the handlers only `get`)."""
    return cast(dict[str, str], request.headers)


# -- the standalone emulator ------------------------------------------------------------
@dataclass
class RunningEmulators:
    servers: dict[str, VenueServer]  # by venue slug
    market: SyntheticMarket

    def describe(self) -> list[str]:
        return [f"{slug:<11} REST {server.url}  WS " + " ".join(server.ws_urls.values())
                for slug, server in self.servers.items()]


@contextlib.asynccontextmanager
async def serve_emulators(
    venues: Mapping[str, EmulatedVenue], market: SyntheticMarket, host: str,
    ports: Mapping[str, int],
) -> AsyncIterator[RunningEmulators]:
    """Every venue on its own port (its emulator's default unless `ports` names one),
    driven by one synthetic market that the caller steps."""
    async with contextlib.AsyncExitStack() as stack:
        servers = {}
        for slug, venue in venues.items():
            server = VenueServer(venue)
            await server.start(host, ports.get(slug, venue.surface.default_port))
            stack.push_async_callback(server.stop)
            servers[slug] = server
        yield RunningEmulators(servers, market)


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
    venues: Mapping[str, EmulatedVenue], market: SyntheticMarket, host: str,
    ports: Mapping[str, int], stop_event: asyncio.Event,
    on_ready: Callable[[RunningEmulators], None] | None = None,
) -> None:
    """Serve every venue and step the market on the wall clock until `stop_event`."""
    async with serve_emulators(venues, market, host, ports) as running:
        if on_ready is not None:
            on_ready(running)
        await step_until(running.market, market.step_ms, stop_event)


def emulator_command(
    venues: Mapping[str, EmulatedVenue], market: SyntheticMarket, host: str,
    ports: Mapping[str, int],
) -> None:
    """`arbiter emulator`: run until SIGINT/SIGTERM, printing where each venue listens."""

    def ready(running: RunningEmulators) -> None:
        for line in running.describe():
            print(line, flush=True)
        for slug, venue in venues.items():
            if venue.open_registration:
                print(f"{slug:<11} open registration: paper gateways onboard without "
                      "pre-provisioned keys", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_emulators(venues, market, host, ports, stop, on_ready=ready)

    asyncio.run(main())
