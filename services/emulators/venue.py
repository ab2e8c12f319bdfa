"""What both emulated venues share: matching engines per market, our account, WS fan-out.

A front-end (polymarket.py, kalshi.py) implements the venue's HTTP routes and WebSocket
messages on top. Transports are separate: `arbiter.emulators.link` calls these handlers
in-process (deterministic, for the embedded topology); a socket server can serve the same
handlers over real HTTP/WebSocket.
"""

from __future__ import annotations

import abc
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from arbiter.core.instruments import Venue
from arbiter.emulators.matching import BookSide, MatchingEngine

WsSink = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes

    @classmethod
    def json(cls, status: int, payload: object) -> HttpResponse:
        return cls(status, orjson.dumps(payload))


class WsSession:
    """One client connection: frames the venue pushes go to `sink`."""

    def __init__(self, venue: EmulatedVenue, channel: str, sink: WsSink) -> None:
        self.venue = venue
        self.channel = channel
        self.sink = sink
        self.subscriptions: dict[int, set[str]] = {}  # sid -> market ids
        self.channels: dict[int, str] = {}  # sid -> channel name
        self.seq: dict[int, int] = defaultdict(int)
        # (sid, market) -> level totals already told to this client, for delta encoding
        self.levels: dict[tuple[int, str], dict[tuple[int, int], int]] = defaultdict(dict)
        self.closed = False

    async def send(self, frame: bytes) -> None:
        """A frame from the client."""
        await self.venue.on_ws_frame(self, frame)

    async def push(self, payload: object) -> None:
        if not self.closed:
            await self.sink(orjson.dumps(payload))

    def close(self) -> None:
        self.closed = True
        self.venue.sessions.remove(self)


@dataclass(slots=True)
class Account:
    """Our trading account at the venue (liquidity providers are not tracked)."""

    cash: int = 0  # micro-dollars, negative = spent
    fees: int = 0
    positions: dict[str, int] = field(default_factory=lambda: defaultdict(int))


ACCOUNT = "arbiter"


class EmulatedVenue(abc.ABC):
    venue: Venue

    def __init__(self) -> None:
        self.engines: dict[str, MatchingEngine] = {}
        self.sessions: list[WsSession] = []
        self.account = Account()
        self.now_ms = 0

    def add_market(self, market_id: str, tick: int) -> None:
        self.engines[market_id] = MatchingEngine(market_id, tick)

    def quote(
        self, market_id: str, owner: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
    ) -> None:
        """Replace a liquidity provider's resting orders (no WS output until `publish`)."""
        engine = self.engines[market_id]
        engine.cancel_owner(owner)
        for price, qty in bids:
            engine.submit(owner, BookSide.BID, price, qty)
        for price, qty in asks:
            engine.submit(owner, BookSide.ASK, price, qty)

    async def connect(self, channel: str, sink: WsSink) -> WsSession:
        session = WsSession(self, channel, sink)
        self.sessions.append(session)
        return session

    async def publish(self) -> None:
        """Push every book change since the last publish to subscribed sessions."""
        for market_id, engine in self.engines.items():
            changes = engine.take_changes()
            if changes:
                await self.push_book_changes(market_id, changes)

    @abc.abstractmethod
    async def handle_http(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> HttpResponse: ...

    @abc.abstractmethod
    async def on_ws_frame(self, session: WsSession, frame: bytes) -> None: ...

    @abc.abstractmethod
    async def push_book_changes(
        self, market_id: str, changes: list[tuple[BookSide, int, int]]
    ) -> None: ...
