"""The venue-independent half of a gateway: sinks, per-market sequence numbers, orders.

A venue adapter (polymarket/adapter.py, kalshi/adapter.py) parses the venue's wire
messages into normalised `BookEvent`s and `ExecutionReport`s and turns `OrderRequest`s
into signed venue requests; everything it emits goes through the two sinks given here.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, TypeVar

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome, Venue
from arbiter.gateways.orders import ImplausibleFill, OrderTracker, VenueFill, reject
from arbiter.gateways.ratelimit import BackoffPolicy, RateLimiter, RateLimitPolicy
from arbiter.gateways.scheduler import (
    Priority,
    RequestScheduler,
    Timer,
    Withdrawn,
    retry_after_s,
    timer_for,
)
from arbiter.platform.clock import Clock, wall_micros
from arbiter.platform.telemetry.metrics import VenueMetrics
from arbiter.platform.transport import (
    Connection,
    FrameSink,
    Headers,
    LinkState,
    RequestTimeout,
    VenueTransport,
    WsHeaders,
    request_with_headers,
)
from arbiter.v1 import common_pb2, execution_pb2, market_data_pb2

log = logging.getLogger(__name__)

BookSink = Callable[[market_data_pb2.BookEvent], Awaitable[None]]
ReportSink = Callable[[execution_pb2.ExecutionReport], Awaitable[None]]


E = TypeVar("E", bound=Enum)
WITHDRAWN = "withdrawn before it was sent: its outcome is being looked up instead"
SNAPSHOT_WAIT_MICROS = 5_000_000
"""How long a book waits for the venue's snapshot before a new request asks again: the
venue's answer, or our publication of it (a broker just restarted), may have been lost."""


class VenueMessageError(ValueError):
    """A venue message that cannot be parsed; it is logged, counted and dropped."""


def parse_enum(enum: type[E], value: object, what: str) -> E:
    """A venue enum value, or a `VenueMessageError` naming the field and the known values:
    an unknown status or side must never be guessed at."""
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(str(m.value) for m in enum)
        raise VenueMessageError(f"unknown {what} {value!r} (known: {known})") from None


RESTING_TIFS = frozenset({execution_pb2.TIME_IN_FORCE_GTC, execution_pb2.TIME_IN_FORCE_GTD})


KNOWN_TIFS = RESTING_TIFS | {execution_pb2.TIME_IN_FORCE_IOC, execution_pb2.TIME_IN_FORCE_FOK}


def check_order_options(request: execution_pb2.OrderRequest) -> None:
    """A known time in force; GTD needs an expiry and only GTD takes one; post-only needs a
    resting order. Raises ValueError (the order is rejected, never sent) naming the problem."""
    if request.tif not in KNOWN_TIFS:
        raise ValueError(f"time in force {request.tif} is not GTC, GTD, IOC or FOK")
    gtd = request.tif == execution_pb2.TIME_IN_FORCE_GTD
    tif = execution_pb2.TimeInForce.Name(request.tif)
    if gtd and request.expire_micros <= 0:
        raise ValueError("a GTD order needs expire_micros > 0")
    if not gtd and request.expire_micros:
        raise ValueError(f"expire_micros={request.expire_micros} is only for GTD, not {tif}")
    if request.post_only and request.tif not in RESTING_TIFS:
        raise ValueError(f"post_only needs a resting order (GTC or GTD), not {tif}")


def priority_of(request: execution_pb2.OrderRequest) -> Priority:
    """Orders that only shrink a position go ahead of new ones when requests wait."""
    return Priority.REDUCE_ONLY if request.reduce_only else Priority.NEW_ORDER


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def json_object(raw: bytes) -> dict[str, Any]:
    """A reply body that must be a JSON object; ValueError otherwise."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {raw[:100]!r}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, was {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class CursorScheme:
    """How a venue pages a list: the query parameter, the reply key, the first cursor and
    the values that mean "no more pages"."""

    param: str
    reply_key: str
    first: str | None
    end: frozenset[str]


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One order of a batch, validated and built (`payload`: the venue's body item)."""

    index: int
    market: Market
    request: execution_pb2.OrderRequest
    payload: Any


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """What the venue said about one cancel. `dead` is the quantity it took off the book
    when it says so (Kalshi `reduced_by`), so a fill still in flight is not counted as
    canceled."""

    canceled: bool
    reason: str = ""
    dead: int | None = None


@dataclass(frozen=True, slots=True)
class VenueBalance:
    """Free cash in micro-dollars; `allowance` is what the exchange contract may move where
    the venue settles on chain (None: the venue holds the cash itself)."""

    cash: int
    allowance: int | None = None

    @property
    def spendable(self) -> int:
        return self.cash if self.allowance is None else min(self.cash, self.allowance)


class MeteredTransport:
    """A `VenueTransport` that counts, for the venue metrics, what only the wire sees:
    429 replies, timeouts, and streams coming up. Frames pass through untouched."""

    def __init__(self, inner: VenueTransport, metrics: VenueMetrics,
                 on_link: Callable[[str, bool], Awaitable[None]] | None = None) -> None:
        self.inner = inner
        self.metrics = metrics
        self.on_link = on_link
        self._down: set[str] = set()  # channels whose socket is down right now

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
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
        try:
            status, raw, reply_headers = await request_with_headers(
                self.inner, method, path, query, headers, body)
        except RequestTimeout:
            self.metrics.timeouts.inc()
            raise
        if status == 429:
            self.metrics.rate_limited.inc()
        return status, raw, reply_headers

    async def connect(
        self,
        channel: str,
        on_frame: FrameSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> Connection:
        async def state(up: bool) -> None:
            if up:
                self._down.discard(channel)
            else:
                self._down.add(channel)
            self.metrics.connected.set(0 if self._down else 1)
            if up:
                self.metrics.reconnects.inc()
            if self.on_link is not None:
                await self.on_link(channel, up)
            if on_state is not None:
                await on_state(up)

        connection = await self.inner.connect(channel, on_frame, headers, state)
        self.metrics.connected.set(0 if self._down else 1)
        return connection


class VenueGateway(abc.ABC):
    venue: ClassVar[Venue]
    book_channel: ClassVar[str]
    """The transport channel that carries the books: when it drops, they go dark."""
    nets_positions = False
    """Whether the venue nets YES against NO per market (Kalshi), or holds both (tokens)."""

    def __init__(
        self,
        transport: VenueTransport,
        markets: Sequence[Market],
        clock: Clock,
        on_book: BookSink,
        on_report: ReportSink,
        *,
        timer: Timer | None = None,
    ) -> None:
        self.metrics = VenueMetrics(self.venue)
        self.transport = MeteredTransport(transport, self.metrics, self._on_link)
        timer = timer or timer_for(clock)
        self.scheduler = RequestScheduler(
            RateLimiter(self._rate_policy(), timer.now), BackoffPolicy(clock=timer.now), timer,
            self.metrics)
        self._background: list[asyncio.Task[None]] = []
        self.markets = {m.market_id: m for m in markets}
        self.clock = clock
        self.on_book = on_book
        self.on_report = on_report
        self.on_market_data: Callable[[bool], None] | None = None
        """Told True when every book has a fresh snapshot, False when one goes dark."""
        self._dark: set[str] = set(self.markets)  # books not to trade on: no snapshot yet
        self.tracker = OrderTracker()
        self._seq: dict[str, int] = defaultdict(int)
        self._snapshot_asked: dict[object, int] = {}  # subscription or market -> when asked
        self.rejected_messages = 0

    def adopt(self, market: Market) -> None:
        """A market listed while running joins those traded (the venue's `add_market` then
        subscribes it). Its book is not tradeable until the venue's first snapshot (the
        books and the detector hold it stale until then), but it does not darken the
        venue's other books meanwhile: market-data readiness is unchanged."""
        if market.market_id in self.markets:
            raise ValueError(f"{self.venue} market {market.market_id} is already traded")
        self.markets[market.market_id] = market

    def snapshot_asked(self, key: object, now: int) -> None:
        self._snapshot_asked[key] = now

    def snapshot_overdue(self, key: object, now: int) -> bool:
        """Whether a snapshot asked for under `key` has not come within the wait."""
        return now - self._snapshot_asked.get(key, now) >= SNAPSHOT_WAIT_MICROS

    def next_seq(self, market_id: str, reset: bool = False) -> int:
        """Our own per-market sequence: snapshots restart it, deltas follow it."""
        self._seq[market_id] = 1 if reset else self._seq[market_id] + 1
        return self._seq[market_id]

    @property
    def books_live(self) -> bool:
        """Every book has had a snapshot since it last went dark."""
        return not self._dark

    async def publish(self, event: market_data_pb2.BookEvent, dark: bool = False) -> None:
        """Hand one book event to the sink; a snapshot brings its book back to life (a
        `dark` one, from `darken`, takes it out), and the market-data readiness follows."""
        if event.HasField("snapshot") and event.snapshot.market_id in self.markets:
            before = not self._dark
            if dark:
                self._dark.add(event.snapshot.market_id)
            else:
                self._dark.discard(event.snapshot.market_id)
            if before != (not self._dark) and self.on_market_data is not None:
                self.on_market_data(not self._dark)
        await self.on_book(event)

    async def _on_link(self, channel: str, up: bool) -> None:
        if channel == self.book_channel and not up:
            await self.books_lost()

    async def books_lost(self) -> None:
        """The book stream dropped: no book can be known until the venue's fresh snapshots
        after the resubscribe, so each is published empty (nothing trades on it). Venues
        extend this to forget their own per-stream state."""
        log.warning("%s: book stream down; every book dark until fresh snapshots", self.venue)
        await self.darken(self.markets, wall_micros())

    async def darken(self, market_ids: Iterable[str], received: int) -> None:
        """Publish these books empty, with their sequence restarted: nothing trades on them
        until the venue's next snapshot."""
        for market_id in market_ids:
            await self.publish(market_data_pb2.BookEvent(snapshot=market_data_pb2.BookSnapshot(
                venue=self.venue, market_id=market_id, seq=self.next_seq(market_id, reset=True),
                tick_micros=self.tick_micros(market_id)), received_micros=received), dark=True)

    @abc.abstractmethod
    async def resync_books(self, market_ids: Iterable[str] | None = None) -> None:
        """Ask the venue for a fresh snapshot of these books (default: every one), each dark
        until it arrives. For when what was published downstream is lost (a broker
        restarted without its data, a consumer saw a gap) while the venue stream itself is
        intact, so nothing reconnects by itself. Markets not traded here are ignored."""

    def tick_micros(self, market_id: str) -> int:
        """The market's price grid now (a venue may move it at run time)."""
        return self.markets[market_id].tick_micros

    def bad_message(self, frame: bytes, error: Exception) -> None:
        self.rejected_messages += 1
        self.metrics.rejected.inc()
        log.error("%s: dropped malformed venue message (%s): %.200r", self.venue, error, frame)

    def bad_reply(self, what: str, raw: bytes, error: Exception) -> VenueMessageError:
        """A REST reply we cannot act on: logged and counted like a bad frame; the caller
        raises the returned error (guessing an order's state is never safe)."""
        self.bad_message(raw, error)
        return VenueMessageError(f"{self.venue} {what}: {error}")

    # -- the outbound path ---------------------------------------------------------------
    @abc.abstractmethod
    def _rate_policy(self) -> RateLimitPolicy:
        """The venue's published buckets."""

    @abc.abstractmethod
    def _endpoint_class(self, method: str, path: str) -> str:
        """Which buckets a request draws from."""

    def _cost(self, method: str, path: str, items: int) -> float:
        """Tokens one request costs; `items` is the batch size."""
        return 1

    @abc.abstractmethod
    async def _sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """Auth headers, made when the request is about to leave (fresh timestamps)."""

    async def send(
        self,
        priority: Priority,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: bytes = b"",
        items: int = 1,
        key: str | None = None,
    ) -> tuple[int, bytes]:
        """Every venue request goes through here: wait for its turn (token buckets, back-off
        for new orders, cancels first), sign, send, and feed the reply to the back-off."""
        await self.scheduler.acquire(priority, self._endpoint_class(method, path),
                                     self._cost(method, path, items), key)
        headers = await self._sign(method, path, body)
        status, raw, reply_headers = await self.transport.request_with_headers(
            method, path, query, headers, body)
        self.scheduler.record(priority, status, retry_after_s(reply_headers))
        return status, raw

    async def read_object(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        """A GET whose 200 reply must be a JSON object; anything else is a bad reply."""
        status, raw = await self.send(Priority.READ, "GET", path, query=query)
        try:
            reply = json_object(raw)
            if status != 200:
                raise ValueError(f"HTTP {status}")
        except ValueError as exc:
            raise self.bad_reply(f"GET {path} {query}", raw, exc) from None
        return reply

    async def read_all(
        self, path: str, query: dict[str, str], items_key: str, scheme: CursorScheme
    ) -> list[dict[str, Any]]:
        """Every item of a paged list, following the venue's cursor to the end."""
        items: list[dict[str, Any]] = []
        cursor, seen = scheme.first, set()
        while True:
            page_query = dict(query)
            if cursor is not None:
                page_query[scheme.param] = cursor
            status, raw = await self.send(Priority.READ, "GET", path, query=page_query)
            try:
                page = json_object(raw)
                batch = page.get(items_key)
                if status != 200 or not isinstance(batch, list):
                    raise ValueError(f"HTTP {status}, no {items_key!r} list")
            except ValueError as exc:
                raise self.bad_reply(f"GET {path} {page_query}", raw, exc) from None
            items += batch
            cursor = page.get(scheme.reply_key)
            if not cursor or cursor in scheme.end:
                return items
            if cursor in seen:
                raise self.bad_reply(f"GET {path}", raw, ValueError(f"cursor {cursor!r} repeated"))
            seen.add(cursor)

    async def place(self, request: execution_pb2.OrderRequest) -> execution_pb2.OrderAck:
        """Send a new order; every outcome also goes out as execution reports."""
        market = self.markets.get(request.market_id)
        if market is None:
            return await self.rejected(
                request, f"unknown market {request.market_id!r} on {self.venue}"
            )
        try:
            return await self._place(market, request)
        except Withdrawn:  # the lookup that withdrew it reports the outcome
            return execution_pb2.OrderAck(accepted=False, reject_reason=WITHDRAWN)
        except ValueError as exc:  # an order the venue would reject is never sent
            return await self.rejected(request, str(exc))

    max_batch = 1
    """Orders per batch request (the venue's limit)."""
    max_cancel_batch = 1
    """Order ids per batch cancel request."""

    async def place_batch(
        self, requests: Sequence[execution_pb2.OrderRequest]
    ) -> list[execution_pb2.OrderAck]:
        """Send several new orders in as few requests as the venue allows; one ack per
        request, in order. Each order stands alone: accepted ones are tracked (ACK, fills)
        even when others in the same batch are rejected (a REJECT each). Reduce-only orders
        go in their own batches, first."""
        acks: list[execution_pb2.OrderAck | None] = [None] * len(requests)
        ready: list[BatchItem] = []
        for index, request in enumerate(requests):
            market = self.markets.get(request.market_id)
            if market is None:
                acks[index] = await self.rejected(
                    request, f"unknown market {request.market_id!r} on {self.venue}")
                continue
            try:
                ready.append(BatchItem(index, market, request, await self._prepare(market, request)))
            except ValueError as exc:
                acks[index] = await self.rejected(request, str(exc))
        for reduce_only in (True, False):
            group = [item for item in ready if item.request.reduce_only == reduce_only]
            for chunk in chunked(group, self.max_batch):
                try:
                    results = await self._post_batch(list(chunk))
                except RequestTimeout:  # the venue may have taken any of them: look each up
                    results = [await self._reconcile(i.market, i.request) for i in chunk]
                for item, ack in zip(chunk, results, strict=True):
                    acks[item.index] = ack
        return [ack for ack in acks if ack is not None]

    async def batch_failed(
        self, chunk: Sequence[BatchItem], status: int, reason: str
    ) -> list[execution_pb2.OrderAck]:
        """A whole batch refused. 5xx: the venue may have acted, so each order is looked
        up; anything else (429, 4xx): none was taken, so each is rejected."""
        if status >= 500:
            return [await self._reconcile(i.market, i.request) for i in chunk]
        return [await self.rejected(i.request, reason) for i in chunk]

    @abc.abstractmethod
    async def _prepare(self, market: Market, request: execution_pb2.OrderRequest) -> Any:
        """Validate and build one order's body item; ValueError = rejected, never sent."""

    @abc.abstractmethod
    async def _post_batch(self, chunk: list[BatchItem]) -> list[execution_pb2.OrderAck]:
        """Send one batch of at most `max_batch` prepared orders; one ack per item."""

    async def accepted(
        self,
        request: execution_pb2.OrderRequest,
        venue_order_id: str,
        fee_model: FeeModel,
        known_fills: Sequence[VenueFill] = (),
        done: bool | None = None,
        venue_filled: int | None = None,
    ) -> execution_pb2.OrderAck:
        """The venue took the order: ACK, then fills that raced ahead of the reply (or that a
        lookup found), then the dead remainder if the order is over (IOC/FOK by default)
        — always in that order for the saga. Repeated fills are dropped by trade id."""
        early = self.tracker.register(request, venue_order_id, fee_model)
        early_fills = self.fill_reports([*early, *known_fills])
        await self.on_report(
            execution_pb2.ExecutionReport(
                tenant_id=request.tenant.tenant_id,
                saga_id=request.saga_id,
                client_order_id=request.client_order_id,
                venue_order_id=venue_order_id,
                venue=request.venue,
                market_id=request.market_id,
                outcome=request.outcome,
                kind=execution_pb2.REPORT_KIND_ACK,
                leaves_micros=request.qty_micros,
            )
        )
        await self.emit(early_fills)
        if done is None:
            done = request.tif not in RESTING_TIFS
        if done:
            await self.emit([self.tracker.close(venue_order_id, "unfilled remainder (IOC/FOK)",
                                                venue_filled)])
        return execution_pb2.OrderAck(accepted=True, venue_order_id=venue_order_id)

    async def rejected(
        self, request: execution_pb2.OrderRequest, reason: str
    ) -> execution_pb2.OrderAck:
        await self.on_report(reject(request, reason))
        return execution_pb2.OrderAck(accepted=False, reject_reason=reason)

    async def reconcile(self, request: execution_pb2.OrderRequest) -> execution_pb2.OrderAck:
        """Ask the venue what became of an order whose outcome we did not see."""
        market = self.markets.get(request.market_id)
        if market is None:
            return await self.rejected(
                request, f"unknown market {request.market_id!r} on {self.venue}"
            )
        self.scheduler.withdraw(request.client_order_id)  # "never received" must stay true
        return await self._reconcile(market, request)

    def fill_reports(
        self, fills: Iterable[VenueFill]
    ) -> list[execution_pb2.ExecutionReport | None]:
        """Fills as reports; one the tracker refuses as implausible is dropped like any bad
        venue message (counted, logged with the fill), never booked."""
        reports: list[execution_pb2.ExecutionReport | None] = []
        for fill in fills:
            try:
                reports.append(self.tracker.on_fill(fill))
            except ImplausibleFill as exc:
                self.bad_message(repr(fill).encode(), exc)
        return reports

    async def emit(self, reports: Sequence[execution_pb2.ExecutionReport | None]) -> None:
        for item in reports:
            if item is not None:
                await self.on_report(item)

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect the market-data and user streams and subscribe every market."""

    async def close(self) -> None:
        """Stop background tasks (heartbeats); the transport is closed by its owner."""
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()

    async def cancel(self, request: execution_pb2.CancelRequest) -> execution_pb2.CancelAck:
        """Cancel a resting order. Never waits behind back-off meant for new orders; the
        dead remainder is reported to the saga that owns the order."""
        outcome = (await self.cancel_many([request.venue_order_id]))[request.venue_order_id]
        return execution_pb2.CancelAck(canceled=outcome.canceled, reason=outcome.reason)

    async def cancel_many(self, venue_order_ids: Sequence[str]) -> dict[str, CancelOutcome]:
        """Cancel orders in as few requests as the venue allows (they go out first, never
        delayed by back-off); each canceled order's remainder is reported to its saga."""
        outcomes = await self._cancel_in_chunks(list(dict.fromkeys(venue_order_ids)))
        await self._closed_by_cancel(outcomes)
        return outcomes

    async def cancel_all(self) -> list[str]:
        """Cancel every open order of ours at the venue; returns the canceled ids."""
        return await self._closed_by_cancel(await self._cancel_all())

    async def cancel_market(self, market_id: str) -> list[str]:
        """Cancel our open orders on one market; returns the canceled ids."""
        market = self.markets.get(market_id)
        if market is None:
            raise ValueError(f"unknown market {market_id!r} on {self.venue}")
        return await self._closed_by_cancel(await self._cancel_market(market))

    async def _cancel_all(self) -> dict[str, CancelOutcome]:
        """Default: list our open orders and cancel them in batches."""
        return await self._cancel_in_chunks([oid for oid, _ in await self._open_orders()])

    async def _cancel_market(self, market: Market) -> dict[str, CancelOutcome]:
        """Default: our open orders on the market, canceled in batches."""
        ids = [oid for oid, _ in await self._open_orders(market.market_id)]
        return await self._cancel_in_chunks(ids)

    async def _cancel_in_chunks(self, ids: list[str]) -> dict[str, CancelOutcome]:
        outcomes: dict[str, CancelOutcome] = {}
        for chunk in chunked(ids, self.max_cancel_batch):
            outcomes |= await self._cancel(list(chunk))
        return outcomes

    async def _closed_by_cancel(self, outcomes: dict[str, CancelOutcome]) -> list[str]:
        """Report the dead remainder of every canceled order we track, from the venue's own
        figure where it has one; returns the canceled ids."""
        canceled = [order_id for order_id, outcome in outcomes.items() if outcome.canceled]
        for order_id in canceled:
            tracked = self.tracker.orders.get(order_id)
            if tracked is None or tracked.done:
                continue
            dead = outcomes[order_id].dead
            venue_filled = (tracked.request.qty_micros - dead if dead is not None
                            else await self._venue_filled(order_id))
            await self.emit([self.tracker.close(order_id, "canceled", venue_filled)])
        return canceled

    async def _venue_filled(self, venue_order_id: str) -> int | None:
        """The venue's own filled quantity of an order just canceled, if it can tell."""
        return None

    async def cancel_orphans(self, keep_client_order_ids: set[str]) -> list[str]:
        """Cancel our resting orders that no saga owns (restart hygiene); returns their ids.

        Orders a saga still owns are recognised by client order id, or, where the venue does
        not echo it (Polymarket), by the order tracker, which reconciliation fills first."""
        orphans: dict[str, str] = {}
        for venue_order_id, client_order_id in await self._open_orders():
            tracked = self.tracker.orders.get(venue_order_id)
            owner = client_order_id or (tracked.request.client_order_id if tracked else "")
            if owner not in keep_client_order_ids:
                orphans[venue_order_id] = owner
        outcomes = await self.cancel_many(list(orphans))
        canceled = [order_id for order_id in orphans if outcomes[order_id].canceled]
        for order_id in canceled:
            log.warning("%s: canceled orphan order %s (client id %r)", self.venue,
                        order_id, orphans[order_id])
        return canceled

    async def positions(self) -> common_pb2.PositionsSnapshot:
        """What the venue says we hold: the truth restart reconciliation seeds risk from."""
        held = await self._positions()
        return common_pb2.PositionsSnapshot(
            venue=self.venue, netted=self.nets_positions,
            positions=[common_pb2.VenuePosition(market_id=market_id,
                                                outcome=common_pb2.Outcome.ValueType(outcome),
                                                qty_micros=qty)
                       for (market_id, outcome), qty in sorted(held.items()) if qty])

    @abc.abstractmethod
    async def _positions(self) -> dict[tuple[str, Outcome], int]:
        """Contracts held per (market id, outcome) on our markets, from the venue's API."""

    @abc.abstractmethod
    async def settlements(self) -> dict[str, int]:
        """Our markets the venue has settled, each to what one YES contract paid out in
        micro-dollars (NO paid the rest of $1): $1 or $0, or between for a fair-price or
        50-50 settlement. A market still open is absent."""

    async def merges(self) -> dict[str, tuple[str, int]]:
        """Merges of complete YES+NO sets back to collateral in our markets, by venue
        transaction: (market id, sets). A venue that nets positions (Kalshi) merges as it
        fills, which the fills already say; none by default."""
        return {}

    @abc.abstractmethod
    async def balance(self) -> VenueBalance:
        """Free cash at the venue, and what its exchange may spend of it, from its API: a
        leg the venue cannot fund must never be sent."""

    @abc.abstractmethod
    async def _cancel(self, venue_order_ids: list[str]) -> dict[str, CancelOutcome]:
        """One cancel request for at most `max_cancel_batch` orders."""

    @abc.abstractmethod
    async def _open_orders(self, market_id: str | None = None) -> list[tuple[str, str]]:
        """Our resting orders at the venue (all pages; one market or all of ours) as
        (venue order id, client order id or "")."""

    @abc.abstractmethod
    async def _reconcile(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck: ...

    @abc.abstractmethod
    async def _place(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck: ...
