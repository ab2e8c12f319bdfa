"""What both emulated venues share: matching engines per market, our account, WS fan-out.

A front-end (polymarket.py, kalshi.py) implements the venue's HTTP routes and WebSocket
messages on top. Transports are separate: `arbiter.emulators.link` calls these handlers
in-process (deterministic, for the embedded topology); a socket server can serve the same
handlers over real HTTP/WebSocket.
"""

from __future__ import annotations

import abc
import base64
import binascii
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Venue
from arbiter.core.units import ONE_DOLLAR
from arbiter.emulators.matching import BookSide, MatchingEngine, Trade

WsSink = Callable[[bytes], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes

    @classmethod
    def json(cls, status: int, payload: object) -> HttpResponse:
        return cls(status, orjson.dumps(payload))


class CursorError(ValueError):
    """A paging cursor the venue never handed out."""


def encode_cursor(offset: int) -> str:
    """Offset cursors as the Polymarket CLOB writes them: base64 of the decimal offset, so
    the first page is "MA==" (0) and the end marker "LTE=" is -1."""
    return base64.b64encode(str(offset).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The offset inside a cursor from `encode_cursor`; CursorError names a bad one."""
    try:
        offset = int(base64.b64decode(cursor, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError(f"cursor {cursor!r} is not one this venue returned") from None
    if offset < 0:
        raise CursorError(f"cursor {cursor!r} marks the end; there is no page after it")
    return offset


def page(items: Sequence[T], offset: int, limit: int) -> tuple[list[T], int | None]:
    """One page of `items` from `offset`, and the next page's offset (None at the end)."""
    end = offset + limit
    return list(items[offset:end]), (end if end < len(items) else None)


class WireRecord(abc.ABC):
    """An order kept in integer micro-units that still reads like the venue's JSON record
    (`order["status"]`), as callers of the dict-based emulator did."""

    __slots__ = ()

    @abc.abstractmethod
    def to_json(self) -> dict[str, object]:
        """The venue's JSON record of this order."""

    def __getitem__(self, key: str) -> object:
        return self.to_json()[key]


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


DEFAULT_FUNDS = 100_000 * ONE_DOLLAR
"""A paper account's deposit: enough that the synthetic market never runs it dry."""


@dataclass(slots=True)
class Account:
    """Our trading account at the venue (liquidity providers are not tracked). `funds` is
    what was deposited, `cash` what trading has added or spent since."""

    cash: int = 0  # micro-dollars, negative = spent
    fees: int = 0
    positions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    funds: int = DEFAULT_FUNDS

    @property
    def balance(self) -> int:
        """Free cash at the venue, in micro-dollars."""
        return self.funds + self.cash


ACCOUNT = "arbiter"


@dataclass(frozen=True)
class EmulatorSurface:
    """What the socket server needs beyond the shared handlers: where the venue's
    WebSockets live and which of their channels carries the books (frame faults aim at
    it), which POSTs place orders (scripted order faults hit those), the venue's own error
    bodies for a faulted status, and its usual port."""

    ws_routes: Mapping[str, str]  # WebSocket path -> emulator channel
    book_channel: str
    order_paths: frozenset[str]
    error_bodies: Mapping[int, object]
    default_port: int


class EmulatedVenue(abc.ABC):
    venue: ClassVar[Venue]
    surface: ClassVar[EmulatorSurface]
    open_registration = False
    """Paper mode: a gateway may onboard credentials the venue was not told of beforehand
    (as `arbiter emulator --open-registration`); the in-process emulators always allow it."""
    auto_merge = False
    """Paper: the wallet merges every complete YES+NO set back to collateral as the venue
    publishes (a venue whose positions are tokens; one that nets does so at every fill)."""

    def __init__(self) -> None:
        self.engines: dict[str, MatchingEngine] = {}
        self.sessions: list[WsSession] = []
        self.account = Account()
        self.now_ms = 0
        # trades in which another owner took one of our resting orders, settled on `publish`
        self._unsettled: list[tuple[str, Trade]] = []
        self._expiries: dict[str, int] = {}  # order id -> when the venue cancels it (ms)

    def add_market(self, market_id: str, tick: int) -> None:
        self.engines[market_id] = MatchingEngine(market_id, tick)

    @abc.abstractmethod
    def list_market(self, market: Market, fees: FeeModel) -> None:
        """List a market (its identifiers, tick and fees) so it trades and streams."""

    @abc.abstractmethod
    async def resolve(self, market_id: str, yes_payout: int) -> None:
        """Scripted venue event: the market closes and resolves, one YES contract paying
        `yes_payout` micro-dollars and one NO the rest of $1 (all or nothing, or a fair-price
        or 50-50 settlement), settled as the venue settles it."""

    def ws_authorized(self, headers: Mapping[str, str]) -> bool:
        """Whether a WebSocket handshake with these headers is let in (all, by default)."""
        return True

    @abc.abstractmethod
    def intent_key(self, method: str, path: str, body: bytes) -> str | None:
        """Which trading intent an order request belongs to (None: not an order), so a test
        can count how many orders the venue accepted for one intent."""

    def engine(self, market_id: str) -> MatchingEngine:
        """The matching engine of one market (KeyError names an unknown market)."""
        return self.engines[market_id]

    def quote(
        self, market_id: str, owner: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
    ) -> None:
        """Replace a liquidity provider's resting orders (no WS output until `publish`)."""
        engine = self.engines[market_id]
        engine.cancel_owner(owner)
        orders = [(BookSide.BID, p, q) for p, q in bids] + [(BookSide.ASK, p, q) for p, q in asks]
        for side, price, qty in orders:
            result = engine.submit(owner, side, price, qty)
            self._unsettled += [(market_id, t) for t in result.trades if t.maker_owner == ACCOUNT]

    async def connect(self, channel: str, sink: WsSink) -> WsSession:
        session = WsSession(self, channel, sink)
        self.sessions.append(session)
        return session

    async def advance_clock(self, now_ms: int) -> None:
        """Move the venue's clock (the only time it knows) and run what is due by then:
        good-till-date orders expire, then the venue's own timers."""
        self.now_ms = now_ms
        due = [oid for oid, at in self._expiries.items() if at <= now_ms]
        for order_id in due:
            del self._expiries[order_id]
            self.expire(order_id)
        await self.on_clock()

    def expire_at(self, order_id: str, at_ms: int) -> None:
        """A resting order the venue cancels by itself at `at_ms` (GTD / expiration_time)."""
        self._expiries[order_id] = at_ms

    def clear_expiry(self, order_id: str) -> None:
        """The order no longer expires by itself (an amend removed its expiry)."""
        self._expiries.pop(order_id, None)

    @abc.abstractmethod
    def expire(self, order_id: str) -> None:
        """Cancel an order whose time is up (already gone: nothing to do)."""

    async def on_clock(self) -> None:
        """Timers due at `now_ms` (e.g. a dead-man switch); none by default."""

    async def publish(self) -> None:
        """Settle our maker fills, then push every book change since the last publish."""
        unsettled, self._unsettled = self._unsettled, []
        for market_id, trade in unsettled:
            await self.settle_maker_fill(market_id, trade)
        for market_id, engine in self.engines.items():
            changes = engine.take_changes()
            if changes:
                await self.push_book_changes(market_id, changes)

    @abc.abstractmethod
    async def handle_http(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> HttpResponse: ...

    @abc.abstractmethod
    async def settle_maker_fill(self, market_id: str, trade: Trade) -> None:
        """Book a trade that filled one of our resting orders and report it to us."""

    @abc.abstractmethod
    async def on_ws_frame(self, session: WsSession, frame: bytes) -> None: ...

    @abc.abstractmethod
    async def push_book_changes(
        self, market_id: str, changes: list[tuple[BookSide, int, int]]
    ) -> None: ...
