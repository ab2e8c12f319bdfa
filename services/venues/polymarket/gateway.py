"""Polymarket CLOB V2 gateway: market/user WebSocket channels in, signed V2 orders out.

Books: the YES token of every market is subscribed; `book` events become snapshots and
`price_change` items (new total size per level) become deltas on the YES-referenced book.
A `tick_size_change` moves the market to a new price grid: orders are built on it from then
on, and the book is re-published from GET /book as a snapshot carrying the new tick, so the
order book service rebuilds its tick-indexed book before any price on the new grid reaches it.
Orders: buying an outcome is a BUY of that outcome's token, signed as an EIP-712 V2 order
and posted with L2 HMAC headers over the exact body bytes. Fills come from the user
channel's `trade` events and are attributed through the `OrderTracker`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome
from arbiter.core.units import parse_micros
from arbiter.gateways.base import (
    BatchItem,
    BookSink,
    CancelOutcome,
    CursorScheme,
    ReportSink,
    VenueBalance,
    VenueGateway,
    VenueMessageError,
    check_order_options,
    json_object,
    parse_enum,
    priority_of,
)
from arbiter.gateways.orders import VenueFill
from arbiter.gateways.ratelimit import RateLimitPolicy
from arbiter.gateways.scheduler import Priority, Timer
from arbiter.platform.clock import Clock, wall_micros
from arbiter.platform.transport import Connection, RequestTimeout, VenueTransport
from arbiter.v1 import execution_pb2, market_data_pb2
from arbiter.venues.polymarket.amounts import (
    TICK_SIZES,
    Side,
    TickSize,
    limit_order_amounts,
    tick_size,
)
from arbiter.venues.polymarket.auth import ApiCreds, l2_headers
from arbiter.venues.polymarket.constants import DATA_API_PREFIX, VENUE
from arbiter.venues.polymarket.credentials import PolymarketCredentials
from arbiter.venues.polymarket.order_builder import (
    MAX_BATCH_ORDERS,
    MAX_JSON_SALT,
    OrderType,
    build_order,
    encode_batch,
    encode_body,
    order_payload,
    sign,
)
from arbiter.venues.polymarket.ratelimit import POLYMARKET_POLICY, polymarket_endpoint_class
from arbiter.venues.polymarket.schemas import (
    ACTIVITY_PAGE,
    POSITIONS_MAX_OFFSET,
    POSITIONS_PAGE,
    BalanceAllowance,
    MarketRecord,
    MergeRow,
    OrderReply,
    PositionRow,
    PostStatus,
    book_hash,
)
from arbiter.venues.polymarket.signing import (
    EXCHANGES_BY_VERSION,
    ExchangeDomain,
    Order,
    order_digest,
)

R = TypeVar("R", bound=BaseModel)  # one Data API row model

log = logging.getLogger(__name__)

_TICKS_BY_MICROS = {tick.tick_micros: tick for tick in TICK_SIZES.values()}
CURSOR = CursorScheme("next_cursor", "next_cursor", "MA==", frozenset({"LTE="}))
HEARTBEAT_INTERVAL_S = 5.0
"""Facts A13: one missed for 10 s cancels every open order; send one every <= 5 s."""
MAX_CANCEL_IDS = 1000
"""DELETE /orders ids per request (changelog 2026-06; unverified in code)."""
ORDER_VERSION_MISMATCH = "order_version_mismatch"
NEVER_RECEIVED = "the venue never received this order"


class OrderStatus(StrEnum):
    """GET /data/order `status` (upper case; the POST reply uses the same words in lower)."""

    LIVE = "LIVE"
    MATCHED = "MATCHED"
    CANCELED = "CANCELED"
    UNMATCHED = "UNMATCHED"
    DELAYED = "DELAYED"


class TradeStatus(StrEnum):
    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"


class TradeSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class UserEvent(StrEnum):
    TRADE = "trade"
    ORDER = "order"


class MarketEvent(StrEnum):
    BOOK = "book"
    PRICE_CHANGE = "price_change"
    LAST_TRADE_PRICE = "last_trade_price"
    TICK_SIZE_CHANGE = "tick_size_change"
    BEST_BID_ASK = "best_bid_ask"
    NEW_MARKET = "new_market"
    MARKET_RESOLVED = "market_resolved"


@dataclass(frozen=True, slots=True)
class _TickChange:
    """A parsed `tick_size_change` for one of our markets."""

    market: Market
    tick: TickSize


@dataclass(frozen=True, slots=True)
class Prepared:
    """A signed order ready to send: its POST wrapper and its hash (the venue's id)."""

    payload: dict
    order_id: str


GTD_THRESHOLD_S = 60
"""Polymarket cancels a GTD order one minute before its `expiration` (facts A7)."""
_ORDER_TYPES = {
    execution_pb2.TIME_IN_FORCE_GTC: OrderType.GTC,
    execution_pb2.TIME_IN_FORCE_GTD: OrderType.GTD,
    execution_pb2.TIME_IN_FORCE_IOC: OrderType.FAK,
    execution_pb2.TIME_IN_FORCE_FOK: OrderType.FOK,
}


def market_subscription(tokens: list[str]) -> bytes:
    """The market-channel subscription (facts A11); the venue answers with `book` events."""
    return orjson.dumps({"assets_ids": tokens, "type": "market"})


def user_subscription(api: ApiCreds, markets: list[str]) -> bytes:
    """The user-channel subscription (facts A12): the raw API secret, not an HMAC."""
    return orjson.dumps({
        "auth": {"apiKey": api.api_key, "secret": api.secret, "passphrase": api.passphrase},
        "markets": markets,
        "type": "user",
    })


class PolymarketGateway(VenueGateway):
    venue = VENUE
    book_channel = "market"

    def __init__(
        self,
        transport: VenueTransport,
        markets: Sequence[Market],
        fees: dict[str, FeeModel],
        credentials: PolymarketCredentials,
        clock: Clock,
        on_book: BookSink,
        on_report: ReportSink,
        *,
        heartbeat_interval_s: float | None = None,
        heartbeat_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(transport, markets, clock, on_book, on_report, timer=timer)
        self.fees = fees
        self.credentials = credentials
        self.domain = ExchangeDomain.for_market(credentials.chain_id, neg_risk=False)
        # every domain we signed for, newest first: a lookup tries each order hash
        self._domains = [self.domain]
        self._sent: dict[str, str] = {}  # client order id -> order hash actually sent
        self.heartbeat_interval_s = heartbeat_interval_s
        self._heartbeat_sleep = heartbeat_sleep
        self.heartbeats_sent = 0
        self.heartbeat_failures = 0
        self._by_token = {m.yes_token: m for m in markets}
        self._resolved: dict[str, int] = {}  # condition id -> YES payout, once resolved
        self._merges: dict[str, tuple[str, int]] = {}  # merge tx -> (condition id, sets)
        self._twins = {m.no_token for m in markets}  # the NO side repeats each YES change
        # each market's current grid, and every grid it has had (see `_limit_price`)
        self._ticks = {m.market_id: _TICKS_BY_MICROS[m.tick_micros] for m in markets}
        self._grids = {m.market_id: {m.tick_micros} for m in markets}
        self._awaiting_book: set[str] = set()  # new grid, no book on it yet: deltas wait
        self._market_ws: Connection | None = None
        self._user_ws: Connection | None = None

    async def start(self) -> None:
        self._market_ws = await self.transport.connect("market", self._on_market_frame)
        self._user_ws = await self.transport.connect("user", self._on_user_frame)
        await self._user_ws.send(user_subscription(self.credentials.api, list(self.markets)))
        await self._market_ws.send(market_subscription(list(self._by_token)))
        if self.heartbeat_interval_s is not None:
            self.start_heartbeats()

    async def add_market(self, market: Market, fees: FeeModel) -> None:
        """A market listed while running: its YES token joins the market channel and its
        condition id the user channel (facts A11, A12: `operation: subscribe`); the
        transport replays both after a reconnect, after the first subscriptions."""
        self.adopt(market)
        self.fees[market.market_id] = fees
        self._by_token[market.yes_token] = market
        self._twins.add(market.no_token)
        self._ticks[market.market_id] = _TICKS_BY_MICROS[market.tick_micros]
        self._grids[market.market_id] = {market.tick_micros}
        assert self._market_ws is not None and self._user_ws is not None
        await self._user_ws.send(orjson.dumps(
            {"operation": "subscribe", "markets": [market.market_id]}))
        await self._market_ws.send(orjson.dumps(
            {"assets_ids": [market.yes_token], "operation": "subscribe"}))

    def start_heartbeats(self) -> None:
        """Arm the venue's dead-man switch; `close` stops it."""
        if self.heartbeat_interval_s is None:
            self.heartbeat_interval_s = HEARTBEAT_INTERVAL_S
        self._background.append(
            asyncio.create_task(self._heartbeats(), name="polymarket heartbeats"))

    async def _heartbeats(self) -> None:
        """The dead-man switch (POST /v1/heartbeats, chaining the previous id): while it
        runs the venue keeps our orders; if we die it cancels them. A failed beat is logged
        and counted, and the chain restarts."""
        assert self.heartbeat_interval_s is not None
        heartbeat_id = ""
        while True:
            try:
                status, raw = await self.send(
                    Priority.CANCEL, "POST", "/v1/heartbeats",
                    body=encode_body({"heartbeat_id": heartbeat_id}))
                reply = json_object(raw)
                if status != 200 or not isinstance(reply.get("heartbeat_id"), str):
                    raise ValueError(f"HTTP {status} {reply}")
                heartbeat_id = reply["heartbeat_id"]
                self.heartbeats_sent += 1
            except Exception as exc:  # noqa: BLE001 - the beat must go on whatever failed
                self.heartbeat_failures += 1
                self.metrics.heartbeat_failures.inc()
                log.error("polymarket heartbeat failed (%s); the venue cancels every order "
                          "if none gets through for 10 s", exc)
                heartbeat_id = ""
            await self._heartbeat_sleep(self.heartbeat_interval_s)

    # -- market data -----------------------------------------------------------------
    async def _on_market_frame(self, frame: bytes) -> None:
        received = wall_micros()
        if frame == b"PONG":
            return
        try:
            payload = orjson.loads(frame)
            events = payload if isinstance(payload, list) else [payload]
            parsed = [self._parse_market_event(e, received) for e in events]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.bad_message(frame, exc)
            # a lost level change leaves a book wrong with nothing to show it: the markets
            # the frame names (all, if it names none we know) rebuild from fresh books
            named = [m for token, m in self._by_token.items() if token.encode() in frame]
            await self._go_dark(named or list(self._by_token.values()), received)
            return
        for event in parsed:
            if isinstance(event, _TickChange):
                await self._adopt_tick(event, received)
            elif event is not None:
                if self._awaiting_book and event.HasField("snapshot"):
                    self._awaiting_book.discard(event.snapshot.market_id)
                await self.publish(event)

    def _parse_market_event(
        self, event: dict, received: int
    ) -> market_data_pb2.BookEvent | _TickChange | None:
        kind = parse_enum(MarketEvent, event["event_type"], "market event_type")
        ts = int(event.get("timestamp") or 0) * 1000
        if kind == "book":
            market = self._by_token.get(event["asset_id"])
            if market is None:
                return None
            return self._snapshot(market, event, ts, received)
        if kind == "tick_size_change":  # the NO token's twin event changes nothing more
            market = self._by_token.get(event["asset_id"])
            return None if market is None else _TickChange(
                market, tick_size(str(event["new_tick_size"])))
        if kind == "price_change":
            delta: market_data_pb2.BookDelta | None = None
            for item in event["price_changes"]:
                market = self._by_token.get(item["asset_id"])
                if market is None and item["asset_id"] not in self._twins:
                    raise VenueMessageError(
                        f"price_change for an asset not subscribed: {item['asset_id']!r:.80}")
                if market is None or (self._awaiting_book
                                      and market.market_id in self._awaiting_book):
                    continue
                if delta is None:
                    delta = market_data_pb2.BookDelta(
                        venue=self.venue, market_id=market.market_id,
                        seq=self.next_seq(market.market_id), ts_micros=ts,
                    )
                level = market_data_pb2.PriceLevel(
                    price_micros=parse_micros(item["price"], "price"),
                    qty_micros=parse_micros(item["size"], "size"),
                )
                side = parse_enum(TradeSide, item["side"], "price_change side")
                (delta.bid_changes if side is TradeSide.BUY else delta.ask_changes).append(level)
            return None if delta is None else market_data_pb2.BookEvent(
                delta=delta, received_micros=received)
        return None  # known, and nothing the book needs

    def _snapshot(
        self, market: Market, book: dict, ts: int, received: int
    ) -> market_data_pb2.BookEvent:
        """A `book` event or GET /book reply as a snapshot stamped with the market's grid
        (the order book service rebuilds when it differs from the grid it has)."""
        snapshot = market_data_pb2.BookSnapshot(
            venue=self.venue, market_id=market.market_id,
            seq=self.next_seq(market.market_id, reset=True), ts_micros=ts,
            bids=_levels(book["bids"]), asks=_levels(book["asks"]),
            tick_micros=self._ticks[market.market_id].tick_micros,
        )
        return market_data_pb2.BookEvent(snapshot=snapshot, received_micros=received)

    async def _adopt_tick(self, change: _TickChange, received: int) -> None:
        """facts A11: on `tick_size_change` re-read the rounding config, or orders get
        INVALID_ORDER_MIN_TICK_SIZE. Orders are built on the new grid from now on, and the
        book is re-published from GET /book (it carries `tick_size`) stamped with it; the
        market channel waits meanwhile, so no price on the new grid overtakes the snapshot.
        If GET /book fails, the market goes dark (an empty snapshot on the new grid, its
        deltas dropped) and a re-subscribe asks the venue for a fresh `book` event."""
        market_id = change.market.market_id
        log.warning("polymarket %s: tick size %s -> %s", market_id,
                    self._ticks[market_id].label, change.tick.label)
        self._set_tick(market_id, change.tick)
        try:
            event = await self._book_from_rest(change.market, received)
        except (RequestTimeout, KeyError, TypeError, ValueError) as exc:
            log.error("polymarket %s: no book after the tick change (%s); dark until the "
                      "venue sends one", market_id, exc)
            await self._go_dark([change.market], received)
            return
        await self.publish(event)

    async def _go_dark(self, markets: Sequence[Market], received: int) -> None:
        """These books cannot be trusted: publish them empty (nothing trades on them), drop
        their deltas, and re-subscribe so the venue sends each a fresh `book` event. A book
        already waiting is asked again only once its wait is overdue."""
        now = wall_micros()
        fresh = sorted({m.market_id: m for m in markets
                        if m.market_id not in self._awaiting_book
                        or self.snapshot_overdue(m.market_id, now)}.items())
        if not fresh:
            return
        self._awaiting_book.update(market_id for market_id, _ in fresh)
        for market_id, _ in fresh:
            self.snapshot_asked(market_id, now)
        await self.darken([market_id for market_id, _ in fresh], received)
        assert self._market_ws is not None
        await self._market_ws.send(orjson.dumps(
            {"assets_ids": [m.yes_token for _, m in fresh], "operation": "subscribe"}))

    async def resync_books(self, market_ids: Iterable[str] | None = None) -> None:
        """The books dark and re-subscribed: the venue answers each with a `book` event."""
        ids = self.markets if market_ids is None else market_ids
        await self._go_dark([self.markets[m] for m in ids if m in self.markets], wall_micros())

    async def books_lost(self) -> None:
        """Deltas wait for each market's `book` event, which the replayed subscribe asks for."""
        self._awaiting_book.update(self.markets)
        await super().books_lost()

    def tick_micros(self, market_id: str) -> int:
        return self._ticks[market_id].tick_micros

    def _set_tick(self, market_id: str, tick: TickSize) -> None:
        self._ticks[market_id] = tick
        self._grids[market_id].add(tick.tick_micros)

    async def _book_from_rest(self, market: Market, received: int) -> market_data_pb2.BookEvent:
        """GET /book for the market's YES token as a snapshot; its `tick_size`, the newest
        word on the grid, wins over the event that sent us here."""
        status, raw = await self.send(Priority.READ, "GET", "/book",
                                      query={"token_id": market.yes_token})
        book = json_object(raw)
        if status != 200:
            raise ValueError(f"GET /book HTTP {status}: {_reason(status, book)}")
        if book.get("hash") and book_hash(book) != book["hash"]:  # torn or tampered in transit
            raise self.bad_reply("GET /book", raw, ValueError(
                f"hash {str(book['hash'])[:40]!r} is not the book's {book_hash(book)!r}"))
        if book.get("tick_size") is not None:
            self._set_tick(market.market_id, tick_size(str(book["tick_size"])))
        return self._snapshot(market, book, int(book.get("timestamp") or 0) * 1000, received)

    # -- user channel ----------------------------------------------------------------
    async def _on_user_frame(self, frame: bytes) -> None:
        """Trades become fills (ours as taker or as maker); each event stands alone, so one
        unknown event does not cost the fills next to it."""
        if frame == b"PONG":
            return
        try:
            payload = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            self.bad_message(frame, exc)
            return
        api_key = self.credentials.api.api_key
        for event in payload if isinstance(payload, list) else [payload]:
            try:
                if parse_enum(UserEvent, event["event_type"], "user event_type") is not \
                        UserEvent.TRADE:
                    continue
                fills = _trade_fills(event, _Ours(api_key=api_key))
            except (KeyError, TypeError, ValueError) as exc:
                self.bad_message(orjson.dumps(event), exc)
                continue
            await self.emit(self.fill_reports(fills))

    # -- orders ----------------------------------------------------------------------
    def _order(self, market: Market, request: execution_pb2.OrderRequest) -> Order:
        """The V2 order for a request, a pure function of it (and of the market's grid): the
        salt comes from the client order id and the signed timestamp from the intent's
        creation time, so the order hash (the venue's order id) is known before sending and
        is the same on every resend."""
        token = market.yes_token if request.outcome == Outcome.YES else market.no_token
        tick = self._ticks[market.market_id]
        price = self._limit_price(market.market_id, request.limit_price_micros)
        amounts = limit_order_amounts(Side.BUY, price, request.qty_micros, tick)
        created_ms = (request.created_micros or self.clock.now_micros()) // 1000
        return build_order(
            token_id=int(token),
            side=Side.BUY,
            amounts=amounts,
            signer_address=self.credentials.signer.address,
            salt=_salt(request.client_order_id),
            timestamp_ms=created_ms,
            signature_type=self.credentials.signature_type,
            funder=self.credentials.funder,
        )

    def _limit_price(self, market_id: str, price: int) -> int:
        """A BUY limit price on the market's current grid. A price on a grid the market has
        had but off the current one (the tick changed under the intent) is rounded DOWN to
        it: a BUY never pays more than intended, at worst it fills less. A price on no grid
        the market ever had is left as is, and refused before sending."""
        tick = self._ticks[market_id].tick_micros
        if price % tick and any(price % grid == 0 for grid in self._grids[market_id]):
            return price - price % tick
        return price

    # -- the outbound path -------------------------------------------------------------
    max_batch = MAX_BATCH_ORDERS
    max_cancel_batch = MAX_CANCEL_IDS

    def _rate_policy(self) -> RateLimitPolicy:
        return POLYMARKET_POLICY

    def _endpoint_class(self, method: str, path: str) -> str:
        return polymarket_endpoint_class(method, path)

    async def _sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return l2_headers(self.credentials.signer.address, self.credentials.api,
                          self.clock.now_micros() // 1_000_000, method, path, body)

    async def _prepare(self, market: Market, request: execution_pb2.OrderRequest) -> Prepared:
        """Sign the order for the current exchange domain. GTD's expiration travels beside
        the signed order (V2 does not sign it) and carries the venue's one-minute security
        threshold: to die at T it is sent as T + 60 s."""
        check_order_options(request)
        order = self._order(market, request)
        expiration_s = (request.expire_micros // 1_000_000 + GTD_THRESHOLD_S
                        if request.tif == execution_pb2.TIME_IN_FORCE_GTD else 0)
        payload = order_payload(
            await sign(order, self.domain, self.credentials.signer, expiration_s=expiration_s),
            owner=self.credentials.api.api_key,
            order_type=_ORDER_TYPES[request.tif],
            post_only=request.post_only,
        )
        return Prepared(payload, "0x" + order_digest(order, self.domain).hex())

    async def _place(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck:
        prepared = await self._prepare(market, request)
        for resend in (True, False):
            self._sent[request.client_order_id] = prepared.order_id
            try:
                status, raw = await self.send(priority_of(request), "POST", "/order",
                                              body=encode_body(prepared.payload),
                                              key=request.client_order_id)
            except RequestTimeout:
                return await self._reconcile(market, request)
            reply = _json(raw)
            if resend and _version_mismatch(reply) and await self._follow_version():
                prepared = await self._prepare(market, request)  # new domain, new hash
                continue
            break
        return await self._outcome(market, request, status, reply)

    async def _post_batch(self, chunk: list[BatchItem]) -> list[execution_pb2.OrderAck]:
        """POST /orders: up to 15 orders, one reply each, in order. Orders refused for an
        old exchange version are re-signed and sent once more, together."""
        acks: dict[int, execution_pb2.OrderAck] = {}
        pending, resend = chunk, True
        while pending:
            for item in pending:
                self._sent[item.request.client_order_id] = item.payload.order_id
            body = encode_batch([item.payload.payload for item in pending])
            status, raw = await self.send(priority_of(pending[0].request), "POST", "/orders",
                                          body=body, items=len(pending))
            if status != 200:
                reply = _json(raw)
                failed = await self.batch_failed(pending, status, _reason(status, reply))
                acks |= {item.index: ack for item, ack in zip(pending, failed, strict=True)}
                break
            try:
                replies = orjson.loads(raw)
                if not isinstance(replies, list) or len(replies) != len(pending):
                    raise ValueError(f"expected {len(pending)} results, was {replies!r:.200}")
            except ValueError as exc:  # the venue acted on something: look each order up
                self.bad_message(raw, exc)
                acks |= {i.index: await self._reconcile(i.market, i.request) for i in pending}
                break
            retry = []
            for item, reply in zip(pending, replies, strict=True):
                reply = reply if isinstance(reply, dict) else {"error": repr(reply)}
                if resend and _version_mismatch(reply):
                    retry.append(item)
                else:
                    acks[item.index] = await self._outcome(
                        item.market, item.request, 200 if reply.get("success") else 400, reply)
            if retry and await self._follow_version():
                pending = [BatchItem(i.index, i.market, i.request,
                                     await self._prepare(i.market, i.request)) for i in retry]
            else:
                for item in retry:
                    acks[item.index] = await self.rejected(item.request, ORDER_VERSION_MISMATCH)
                pending = []
            resend = False
        return [acks[item.index] for item in chunk]

    async def _outcome(
        self, market: Market, request: execution_pb2.OrderRequest, status: int, reply: dict
    ) -> execution_pb2.OrderAck:
        """One order's reply (POST /order, or its item of POST /orders) as reports. A reply
        that cannot be read is looked up at the venue (it may have acted), never guessed."""
        try:
            parsed = OrderReply.model_validate(reply)
        except ValidationError as exc:
            self.bad_message(orjson.dumps(reply), exc)
            return await self._reconcile(market, request, missing=f"unreadable reply: {exc}")
        if status == 200 and parsed.accepted:
            filled = parsed.filled_shares(Side.BUY)
            if filled > request.qty_micros:
                self.bad_message(orjson.dumps(reply), ValueError(
                    f"takingAmount {filled} exceeds the order's {request.qty_micros}"))
                return await self._reconcile(market, request)
            # a delayed match has no outcome yet: the order stays open until a lookup or
            # the user channel tells; anything else marketable is over at once (IOC/FOK)
            done = None if parsed.status is not PostStatus.DELAYED else False
            return await self.accepted(request, parsed.order_id, self.fees[market.market_id],
                                       done=done, venue_filled=filled)
        reason = _reason(status, reply)
        if "INVALID_ORDER_DUPLICATED" in reason:  # an earlier send got through
            return await self._reconcile(market, request)
        if status >= 500:  # the venue may have acted before failing
            return await self._reconcile(market, request, missing=reason)
        return await self.rejected(request, reason)

    async def _follow_version(self) -> bool:
        """The venue refused an order signed for an older exchange: read GET /version and
        sign for that version's domain from now on. False if there is nothing to follow."""
        status, raw = await self.send(Priority.READ, "GET", "/version")
        try:
            version = str(json_object(raw)["version"])
        except (KeyError, ValueError) as exc:
            self.bad_message(raw, exc)
            return False
        contract = EXCHANGES_BY_VERSION.get(version)
        if status != 200 or contract is None:
            log.error("polymarket: order_version_mismatch, but GET /version says %r (HTTP %d), "
                      "which this gateway cannot sign for", version, status)
            return False
        domain = ExchangeDomain(self.credentials.chain_id, contract, version)
        if domain == self.domain:
            return False
        log.warning("polymarket: the exchange moved to protocol version %s; re-signing", version)
        self.domain = domain
        self._domains.insert(0, domain)
        return True

    # -- cancels ---------------------------------------------------------------------
    async def _cancel(self, venue_order_ids: list[str]) -> dict[str, CancelOutcome]:
        """DELETE /order for one, DELETE /orders for several."""
        if len(venue_order_ids) == 1:
            path, body = "/order", encode_body({"orderID": venue_order_ids[0]})
        else:
            path, body = "/orders", encode_body(venue_order_ids)
        status, raw = await self.send(Priority.CANCEL, "DELETE", path, body=body,
                                      items=len(venue_order_ids))
        found = self._cancel_reply(status, raw)
        return {order_id: found.get(order_id) or CancelOutcome(False, f"not in the reply (HTTP "
                                                                      f"{status})")
                for order_id in venue_order_ids}

    async def _cancel_all(self) -> dict[str, CancelOutcome]:
        status, raw = await self.send(Priority.CANCEL, "DELETE", "/cancel-all")
        return self._cancel_reply(status, raw, required=True)

    async def _cancel_market(self, market: Market) -> dict[str, CancelOutcome]:
        body = encode_body({"market": market.market_id})
        status, raw = await self.send(Priority.CANCEL, "DELETE", "/cancel-market-orders", body=body)
        return self._cancel_reply(status, raw, required=True)

    def _cancel_reply(
        self, status: int, raw: bytes, required: bool = False
    ) -> dict[str, CancelOutcome]:
        """`{"canceled": [ids], "not_canceled": {id: reason}}` as outcomes per id. Where the
        reply is the only list of what was canceled (`required`), a bad one raises."""
        reply = _json(raw)
        canceled, refused = reply.get("canceled"), reply.get("not_canceled") or {}
        if status != 200 or not isinstance(canceled, list) or not isinstance(refused, dict):
            error = ValueError(f"cancel reply HTTP {status}: {_reason(status, reply)}")
            if required:
                raise self.bad_reply("cancel", raw, error)
            return {}
        return ({str(i): CancelOutcome(True) for i in canceled}
                | {str(i): CancelOutcome(False, str(why)) for i, why in refused.items()})

    async def _venue_filled(self, venue_order_id: str) -> int | None:
        """size_matched of an order just canceled: a maker fill may still be on its way."""
        status, raw = await self.send(Priority.READ, "GET", f"/data/order/{venue_order_id}")
        try:
            return parse_micros(str(json_object(raw)["size_matched"]), "size_matched") \
                if status == 200 else None
        except (KeyError, ValueError) as exc:
            self.bad_message(raw, exc)
            return None

    async def settlements(self) -> dict[str, int]:
        """GET /markets/{condition_id} of each of our markets: those resolved, at their
        payout. (Redeeming the tokens for collateral is an on-chain CTF call the venue's
        API does not take; until it is made the tokens stay in the positions.)"""
        settled = self._resolved  # a resolution is final: never read again
        for market in self.markets.values():
            if market.market_id in settled:
                continue
            status, raw = await self.send(Priority.READ, "GET", f"/markets/{market.market_id}")
            try:
                if status != 200:
                    raise ValueError(f"HTTP {status}")
                payout = MarketRecord.model_validate_json(raw).yes_payout(market.yes_token)
            except ValueError as exc:  # ValidationError included
                raise self.bad_reply("market", raw, exc) from None
            if payout is not None:
                settled[market.market_id] = payout
        return dict(settled)

    async def merges(self) -> dict[str, tuple[str, int]]:
        """Every merge of complete sets in our markets the wallet made (by anyone: this
        engine sends no CTF call), from the Data API's activity feed: by transaction, the
        market and the sets merged. The feed pages newest first, so a read stops at the
        first page that reaches a merge already seen (a merge is final, like a settlement)."""
        query = {"type": "MERGE", "market": ",".join(sorted(self.markets))}
        merged = self._merges
        async for page in self._data_api_pages("/activity", query, MergeRow, ACTIVITY_PAGE):
            known = any(row.transactionHash in merged for row in page)
            merged.update((row.transactionHash, (row.conditionId, row.size)) for row in page
                          if row.conditionId in self.markets)
            if known:
                break
        return dict(merged)

    async def _data_api_pages(self, path: str, query: dict[str, str], model: type[R],
                              size: int) -> AsyncIterator[list[R]]:
        """The Data API host's pages of our rows at `path` (the CLOB host does not publish
        them), each read whole as `model` or refused naming the reply, until a short page;
        past the deepest `offset` it takes, a `VenueMessageError`."""
        query = {**query, "user": self.credentials.holder, "limit": str(size)}
        for offset in range(0, POSITIONS_MAX_OFFSET + 1, size):
            status, raw = await self.transport.request(
                "GET", DATA_API_PREFIX + path, query={**query, "offset": str(offset)})
            try:
                if status != 200:
                    raise ValueError(f"HTTP {status}")
                rows = orjson.loads(raw)
                if not isinstance(rows, list):
                    raise ValueError(f"expected a JSON array, was {type(rows).__name__}")
                page = [model.model_validate(row) for row in rows]
            except (orjson.JSONDecodeError, ValueError) as exc:  # ValidationError included
                raise self.bad_reply(path.strip("/"), raw, exc) from None
            yield page
            if len(page) < size:
                return
        raise VenueMessageError(f"{path.strip('/')}: more than {POSITIONS_MAX_OFFSET + size} "
                                "rows, past what the Data API pages to")

    async def balance(self) -> VenueBalance:
        """GET /balance-allowance for the collateral: the funder's (or signer's) pUSD and
        what the exchange is approved to move of it."""
        status, raw = await self.send(
            Priority.READ, "GET", "/balance-allowance",
            query={"asset_type": "COLLATERAL",
                   "signature_type": str(int(self.credentials.signature_type))})
        try:
            if status != 200:
                raise ValueError(f"HTTP {status}")
            reply = BalanceAllowance.model_validate_json(raw)
        except ValueError as exc:  # ValidationError included
            raise self.bad_reply("balance", raw, exc) from None
        return VenueBalance(reply.balance, reply.allowance)

    async def _positions(self) -> dict[tuple[str, Outcome], int]:
        """Token balances in our markets, from the Data API: every page, and no size
        threshold (the default hides holdings under one share, which reconciliation must
        see)."""
        outcomes = {token: (m.market_id, outcome) for m in self.markets.values()
                    for outcome, token in ((Outcome.YES, m.yes_token), (Outcome.NO, m.no_token))}
        query = {"sizeThreshold": "0",
                 "market": ",".join(sorted(self.markets))}  # our market ids are condition ids
        held: dict[tuple[str, Outcome], int] = {}
        async for page in self._data_api_pages("/positions", query, PositionRow,
                                               POSITIONS_PAGE):
            for row in page:
                key = outcomes.get(row.asset)
                if key is not None:
                    held[key] = held.get(key, 0) + row.size
        return held

    async def _open_orders(self, market_id: str | None = None) -> list[tuple[str, str]]:
        query = {} if market_id is None else {"market": market_id}
        return [(str(o["id"]), "") for o in await self.read_all("/data/orders", query, "data",
                                                                CURSOR)]

    async def trades(self, **query: str) -> list[dict]:
        """GET /data/trades with any of its filters, every page."""
        return await self.read_all("/data/trades", query, "data", CURSOR)

    async def _reconcile(
        self, market: Market, request: execution_pb2.OrderRequest, missing: str = NEVER_RECEIVED
    ) -> execution_pb2.OrderAck:
        """Look the order up by the hash actually sent, else by its hash under every domain
        we signed for (a restart forgets what was sent; the order itself is reproducible)."""
        order = self._order(market, request)
        candidates = dict.fromkeys(
            [self._sent.get(request.client_order_id, "")]
            + ["0x" + order_digest(order, domain).hex() for domain in self._domains])
        for order_id in filter(None, candidates):
            path = f"/data/order/{order_id}"
            status, raw = await self.send(Priority.READ, "GET", path)
            if status == 404:
                continue
            try:
                found = json_object(raw)
                if status != 200:
                    raise ValueError(f"HTTP {status}")
                state = parse_enum(OrderStatus, found.get("status"), "order status")
                venue_filled = parse_micros(str(found["size_matched"]), "size_matched")
            except (KeyError, ValueError) as exc:
                raise self.bad_reply(f"order lookup {order_id}", raw, exc) from None
            fills = []
            for trade_id in found.get("associate_trades") or []:
                for trade in await self.trades(id=str(trade_id)):
                    try:
                        fills += _trade_fills(trade, _Ours(order_id=order_id))
                    except (KeyError, TypeError, ValueError) as exc:
                        raise self.bad_reply(f"trade {trade_id}", orjson.dumps(trade),
                                             exc) from None
            return await self.accepted(request, order_id, self.fees[market.market_id], fills,
                                       done=state is not OrderStatus.LIVE,
                                       venue_filled=venue_filled)
        return await self.rejected(request, missing)


@dataclass(frozen=True)
class _Ours:
    """Which sides of a trade are ours: those of our API key (the user channel, which also
    shows others' trades on a shared key's markets), or one order's (a lookup by order id)."""

    api_key: str | None = None
    order_id: str | None = None

    def taker(self, trade: dict) -> bool:
        if self.order_id is not None:
            return str(trade["taker_order_id"]) == self.order_id
        return bool(trade.get("trade_owner", self.api_key) == self.api_key)

    def maker(self, order_id: str, owner: str) -> bool:
        if self.order_id is not None:
            return order_id == self.order_id
        return owner == self.api_key


def _trade_fills(trade: dict, ours: _Ours) -> list[VenueFill]:
    """Our fills in one trade: the taker side (top level, taker fee from the fee model)
    and any of our resting orders in `maker_orders` (makers pay no fee on Polymarket; a
    maker fill's id names its order, since a self-cross shares the trade id)."""
    trade_id = str(trade["id"])
    parse_enum(TradeSide, trade["side"], "trade side")
    status = parse_enum(TradeStatus, trade.get("status", TradeStatus.MATCHED), "trade status")
    if status is TradeStatus.FAILED:  # never settled: no position moved
        log.error("polymarket trade %s FAILED to settle; not counted as a fill", trade_id)
        return []
    fills = []
    taker_order = str(trade["taker_order_id"])
    if ours.taker(trade):
        fills.append(VenueFill(taker_order, trade_id, parse_micros(str(trade["price"]), "price"),
                               parse_micros(str(trade["size"]), "size")))
    for entry in trade.get("maker_orders") or []:
        order_id = str(entry["order_id"])
        if ours.maker(order_id, str(entry.get("owner", ""))):
            fills.append(VenueFill(order_id, f"{trade_id}:{order_id}",
                                   parse_micros(str(entry["price"]), "price"),
                                   parse_micros(str(entry["matched_amount"]), "matched_amount"),
                                   fee=0))
    return fills


def _version_mismatch(reply: dict) -> bool:
    return ORDER_VERSION_MISMATCH in f"{reply.get('error', '')} {reply.get('errorMsg', '')}"


def _reason(status: int, reply: dict) -> str:
    return str(reply.get("errorMsg") or reply.get("error") or f"HTTP {status}")


def _levels(levels: list[dict]) -> list[market_data_pb2.PriceLevel]:
    return [
        market_data_pb2.PriceLevel(
            price_micros=parse_micros(level["price"], "price"),
            qty_micros=parse_micros(level["size"], "size"),
        )
        for level in levels
    ]


def _salt(client_order_id: str) -> int:
    """Deterministic per intent, so a retried send is the same order (same hash)."""
    digest = hashlib.sha256(client_order_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % MAX_JSON_SALT


def _json(raw: bytes) -> dict:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"error": raw[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"error": f"unexpected reply {value!r:.200}"}
