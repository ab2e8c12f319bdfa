"""In-process transport to an emulated venue: the gateway's HTTP requests and WebSocket
frames are handed to the emulator's handlers directly, as bytes, with no sockets. This keeps
the embedded topology deterministic while the gateway still speaks the venue's wire format.
`LatencyLink` adds a seeded per-endpoint delay for the free-running (wall clock) mode.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arbiter.emulators.venue import EmulatedVenue, WsSession, WsSink
from arbiter.platform.transport import LinkState, WsHeaders

if TYPE_CHECKING:
    from arbiter.platform.config import MarketConfig

log = logging.getLogger(__name__)


class InProcessConnection:
    def __init__(self, session: WsSession) -> None:
        self._session = session
        self.on_close: Callable[[], None] | None = None  # what else ends with the connection

    async def send(self, frame: bytes) -> None:
        await self._session.send(frame)

    async def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
        self._session.close()


class InProcessLink:
    """Implements `arbiter.platform.transport.VenueTransport` against an emulator object."""

    def __init__(self, venue: EmulatedVenue) -> None:
        self.venue = venue

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        response = await self.venue.handle_http(method, path, query or {}, headers or {}, body)
        return response.status, response.body

    async def connect(
        self,
        channel: str,
        on_frame: WsSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> InProcessConnection:
        """The venue checks the handshake headers as it would on a socket. An in-process
        channel never drops, so `on_state` is never told anything."""
        handshake = await headers() if headers is not None else {}
        if not self.venue.ws_authorized(handshake):
            raise PermissionError(f"{self.venue.venue} refused the {channel} handshake")
        return InProcessConnection(await self.venue.connect(channel, on_frame))


@dataclass(frozen=True, slots=True)
class Delay:
    """One endpoint's delay: `base_ms` plus a uniform 0..`jitter_ms`, drawn in whole µs."""

    base_ms: int = 0
    jitter_ms: int = 0

    def draw_micros(self, rng: random.Random) -> int:
        jitter = rng.randrange(self.jitter_ms * 1000 + 1) if self.jitter_ms else 0
        return self.base_ms * 1000 + jitter


@dataclass(frozen=True, slots=True)
class VenueLatency:
    """How slow each endpoint of an emulated venue is: REST round trips (the venue acts
    half way through) and the one-way delay of every WebSocket frame."""

    place: Delay = Delay()
    cancel: Delay = Delay()
    read: Delay = Delay()
    push: Delay = Delay()

    @classmethod
    def from_config(cls, market: MarketConfig) -> VenueLatency:
        return cls(*(Delay(getattr(market, f"{endpoint}_latency_ms"),
                           getattr(market, f"{endpoint}_jitter_ms"))
                     for endpoint in ("place", "cancel", "read", "push")))

    @property
    def zero(self) -> bool:
        return self == NO_LATENCY


NO_LATENCY = VenueLatency()


class _DelayedFrames:
    """Frames to one sink, each due `push` later than it was sent and never before the one
    sent ahead of it (a socket keeps order), delivered by one task per connection."""

    def __init__(self, sink: WsSink, delay: Delay, rng: random.Random) -> None:
        self._sink = sink
        self._delay = delay
        self._rng = rng
        self._queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        self._last_due = 0.0
        self._task = asyncio.get_running_loop().create_task(self._deliver())

    async def push(self, frame: bytes) -> None:
        loop = asyncio.get_running_loop()
        due = max(self._last_due, loop.time() + self._delay.draw_micros(self._rng) / 1e6)
        self._last_due = due
        self._queue.put_nowait((due, frame))

    async def _deliver(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, frame = await self._queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                await self._sink(frame)
            except Exception:  # a client's handler failing must not stop the connection
                log.exception("delayed frame: the client's handler failed")

    def close(self) -> None:
        self._task.cancel()


class LatencyLink(InProcessLink):
    """`InProcessLink` as slow as a real network: every request and frame waits its
    endpoint's delay on the wall clock, so the emulated market keeps stepping (and matching
    other flow) while an order is on its way. Jitter comes from a seeded `random.Random`,
    so a run repeats as far as the wall clock allows."""

    def __init__(self, venue: EmulatedVenue, latency: VenueLatency, rng: random.Random) -> None:
        super().__init__(venue)
        self.latency = latency
        self.rng = rng
        self._pipes: list[_DelayedFrames] = []

    def _delay(self, method: str, path: str) -> Delay:
        if method == "POST" and path in self.venue.surface.order_paths:
            return self.latency.place
        if method == "DELETE":
            return self.latency.cancel
        return self.latency.read

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        trip = self._delay(method, path).draw_micros(self.rng)
        there = trip // 2
        if there:
            await asyncio.sleep(there / 1e6)
        reply = await super().request(method, path, query, headers, body)
        if trip - there:
            await asyncio.sleep((trip - there) / 1e6)
        return reply

    async def connect(
        self,
        channel: str,
        on_frame: WsSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> InProcessConnection:
        if self.latency.push == Delay():
            return await super().connect(channel, on_frame, headers, on_state)
        pipe = _DelayedFrames(on_frame, self.latency.push, self.rng)
        try:
            connection = await super().connect(channel, pipe.push, headers, on_state)
        except BaseException:
            pipe.close()
            raise
        self._pipes.append(pipe)
        connection.on_close = pipe.close
        return connection

    async def close(self) -> None:
        """Stop delivering frames (the engine is stopping)."""
        for pipe in self._pipes:
            pipe.close()
        self._pipes.clear()
