"""A faulty network between the gateways and the in-process venue emulators.

Everything is decided by one seeded `random.Random` and happens at asyncio scheduling
points, so a seed replays exactly. What it does, as real networks do:

* HTTP: answers 429 without forwarding; times out before forwarding (the venue never saw
  the request) or after (the venue acted, the reply is lost); yields to other tasks before
  and after forwarding, so replies race the WebSocket.
* WebSocket: holds a connection's frames back for a while (released later in order, as
  TCP keeps them), replays a frame (a duplicate after a reconnect), or drops one.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field

from arbiter.emulators.link import InProcessConnection, InProcessLink
from arbiter.emulators.venue import EmulatedVenue, WsSink
from arbiter.platform.transport import LinkState, RequestTimeout, WsHeaders


@dataclass(frozen=True, slots=True)
class Faults:
    """Per-event probabilities, as integers out of 1000 (no floats in the dice either)."""

    http_429: int = 40
    timeout_before: int = 20
    timeout_after: int = 40
    yields: int = 3  # scheduling points around each request (0..yields, chosen at random)
    ws_hold: int = 60
    ws_duplicate: int = 20
    ws_drop: int = 15


@dataclass
class _Connection:
    sink: WsSink
    held: deque[bytes] = field(default_factory=deque)
    closed: bool = False


class ChaosLink(InProcessLink):
    """`VenueTransport` to an emulator, with seeded faults."""

    def __init__(self, venue: EmulatedVenue, rng: random.Random, faults: Faults) -> None:
        super().__init__(venue)
        self.rng = rng
        self.faults = faults
        self.connections: list[_Connection] = []
        self.accepted: dict[str, int] = {}  # intent key -> orders the venue accepted for it
        self.injected = {"429": 0, "timeout_before": 0, "timeout_after": 0,
                         "held": 0, "duplicated": 0, "dropped": 0}

    def _roll(self, per_mille: int) -> bool:
        return self.rng.randrange(1000) < per_mille

    async def _yield(self) -> None:
        for _ in range(self.rng.randrange(self.faults.yields + 1)):
            await asyncio.sleep(0)

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        await self._yield()
        placing = method == "POST"
        if placing and self._roll(self.faults.http_429):
            self.injected["429"] += 1
            return 429, b'{"error":"Too Many Requests"}'
        if placing and self._roll(self.faults.timeout_before):
            self.injected["timeout_before"] += 1
            raise RequestTimeout(f"{method} {path}: no reply (never sent)")
        status, reply = await super().request(method, path, query, headers, body)
        if placing and status in (200, 201):
            key = self.venue.intent_key(method, path, body)
            if key is not None:
                self.accepted[key] = self.accepted.get(key, 0) + 1
        await self._yield()
        if placing and self._roll(self.faults.timeout_after):
            self.injected["timeout_after"] += 1
            raise RequestTimeout(f"{method} {path}: reply lost after the venue acted")
        return status, reply

    async def connect(
        self,
        channel: str,
        on_frame: WsSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> InProcessConnection:
        connection = _Connection(on_frame)
        self.connections.append(connection)

        async def deliver(frame: bytes) -> None:
            await self._deliver(connection, frame)

        return await super().connect(channel, deliver, headers, on_state)

    async def _deliver(self, connection: _Connection, frame: bytes) -> None:
        if connection.closed:
            return
        if self._roll(self.faults.ws_drop):
            self.injected["dropped"] += 1
            return
        if self._roll(self.faults.ws_duplicate):
            self.injected["duplicated"] += 1
            connection.held.append(frame)
        if connection.held or self._roll(self.faults.ws_hold):
            self.injected["held"] += 1
            connection.held.append(frame)
            return
        await connection.sink(frame)

    async def release(self, everything: bool = False) -> int:
        """Let held frames through (in order per connection); returns how many."""
        released = 0
        for connection in self.connections:
            while connection.held and (everything or self.rng.randrange(2)):
                frame = connection.held.popleft()
                if not connection.closed:
                    await connection.sink(frame)
                    released += 1
        return released

    @property
    def holding(self) -> bool:
        return any(c.held and not c.closed for c in self.connections)

    def sever(self) -> None:
        """The engine process died: its connections are gone, held frames with them."""
        for connection in self.connections:
            connection.closed = True
            connection.held.clear()
        self.venue.sessions.clear()
