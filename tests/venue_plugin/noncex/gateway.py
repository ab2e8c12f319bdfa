"""NonceX gateway: books and fills over one signed WebSocket, nonce-carrying orders out.

Every order takes the next nonce of our key from the `SequentialNonceAllocator` the plugin
contract hands this gateway (`GatewayContext.nonces`): optimistic, no round trip per order,
at most the venue's window ahead of what it confirmed. An order refused before the venue
took its nonce gives the nonce back when it is the latest, and otherwise leaves a gap the
venue skips. A `nonce_reused` / `nonce_too_far_ahead` reply (another process used the key,
or we restarted) re-reads the venue's next nonce and sends the order once more.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome
from arbiter.core.units import parse_micros
from arbiter.gateways.base import (
    BatchItem,
    BookSink,
    CancelOutcome,
    ReportSink,
    VenueBalance,
    VenueGateway,
    VenueMessageError,
    check_order_options,
    json_object,
    priority_of,
)
from arbiter.gateways.nonces import NonceError, SequentialNonceAllocator
from arbiter.gateways.orders import VenueFill
from arbiter.gateways.ratelimit import Limit, RateLimitPolicy
from arbiter.gateways.scheduler import Priority, Timer, Withdrawn
from arbiter.platform.clock import Clock, wall_micros
from arbiter.platform.transport import Connection, RequestTimeout, VenueTransport
from arbiter.v1 import execution_pb2, market_data_pb2

from .codec import (
    API,
    FILLS_SUBSCRIPTION,
    NONCE_ERRORS,
    ORDERS_PATH,
    WS_PATH,
    ErrorCode,
    FillRecord,
    OrderBody,
    OrderRecord,
    OrderStatus,
    Side,
    Tif,
    WireError,
    book_subscription,
    parse_error,
)
from .config import VENUE
from .credentials import NoncexCredentials, auth_headers

log = logging.getLogger(__name__)

NEVER_RECEIVED = "the venue never received this order"
POLICY = RateLimitPolicy(limits={"read": Limit(50, 1.0), "write": Limit(20, 1.0)},
                         classes={"read": ("read",), "write": ("write",)})
_TIF = {execution_pb2.TIME_IN_FORCE_GTC: Tif.GTC, execution_pb2.TIME_IN_FORCE_IOC: Tif.IOC,
        execution_pb2.TIME_IN_FORCE_FOK: Tif.FOK}


class NoncexGateway(VenueGateway):
    venue = VENUE
    book_channel = "ws"

    def __init__(self, transport: VenueTransport, markets: Sequence[Market],
                 fees: dict[str, FeeModel], credentials: NoncexCredentials,
                 nonces: SequentialNonceAllocator, clock: Clock, on_book: BookSink,
                 on_report: ReportSink, *, timer: Timer | None = None) -> None:
        super().__init__(transport, markets, clock, on_book, on_report, timer=timer)
        self.fees = fees
        self.credentials = credentials
        self.nonces = nonces
        self._ws: Connection | None = None
        self._venue_seq: dict[str, int] = {}  # market -> the venue's last level seq
        self._books: dict[str, dict[str, dict[int, int]]] = {}

    @property
    def key(self) -> str:
        """The nonce stream: one per API key."""
        return self.credentials.key_id

    async def add_market(self, market: Market, fees: FeeModel) -> None:
        """A market listed while running: one more book subscription (replayed on a
        reconnect like the first)."""
        self.adopt(market)
        self.fees[market.market_id] = fees
        assert self._ws is not None
        await self._ws.send(book_subscription([market.market_id]))

    async def start(self) -> None:
        await self.resync_nonce()
        self._ws = await self.transport.connect("ws", self._on_frame, self._ws_headers)
        await self._ws.send(FILLS_SUBSCRIPTION)
        await self._ws.send(book_subscription(list(self.markets)))

    async def resync_books(self, market_ids: Iterable[str] | None = None) -> None:
        """The books dark, then subscribed again: the venue answers with `book` snapshots."""
        ids = [m for m in (self.markets if market_ids is None else market_ids)
               if m in self.markets]
        if not ids:
            return
        await self.darken(ids, wall_micros())
        assert self._ws is not None
        await self._ws.send(book_subscription(ids))

    async def resync_nonce(self) -> int:
        """Seed the allocator with the venue's next nonce for our key (start, or after an
        invalid-nonce reply)."""
        reply = await self.read_object(f"{API}/nonce", {})
        next_nonce = reply.get("next_nonce")
        if not isinstance(next_nonce, int) or isinstance(next_nonce, bool):
            raise self.bad_reply("GET /v1/nonce", orjson.dumps(reply),
                                 ValueError(f"next_nonce {next_nonce!r} is not an integer"))
        self.nonces.seed(self.key, next_nonce)
        return next_nonce

    # -- signing ---------------------------------------------------------------------
    async def _sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return await auth_headers(self.credentials, self.clock.now_micros() // 1000, method,
                                  path, body)

    async def _ws_headers(self) -> dict[str, str]:
        """The WebSocket upgrade is signed like a request, afresh on every reconnect."""
        return await self._sign("GET", WS_PATH, b"")

    def _rate_policy(self) -> RateLimitPolicy:
        return POLICY

    def _endpoint_class(self, method: str, path: str) -> str:
        return "read" if method == "GET" else "write"

    # -- stream ----------------------------------------------------------------------
    async def _on_frame(self, frame: bytes) -> None:
        received = wall_micros()
        try:
            msg = json_object(frame)
            kind = msg.get("type")
            if kind == "book":
                await self.publish(self._snapshot(msg, received))
            elif kind == "level":
                await self._level(msg, received)
            elif kind == "fill":
                fill = FillRecord.from_json(msg)
                await self.emit([self.tracker.on_fill(VenueFill(
                    fill.order_id, fill.trade_id, fill.price, fill.size, fill.fee))])
            elif kind == "error":
                raise VenueMessageError(f"venue error {msg}")
            elif kind != "subscribed":
                raise VenueMessageError(f"unknown frame type {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            self.bad_message(frame, exc)

    def _market(self, msg: dict[str, Any]) -> str:
        market = msg["market"]
        if market not in self.markets:
            raise VenueMessageError(f"frame for a market we did not subscribe: {market!r}")
        return str(market)

    def _snapshot(self, msg: dict[str, Any], received: int) -> market_data_pb2.BookEvent:
        market = self._market(msg)
        book = {side: {parse_micros(p, "price"): parse_micros(q, "size") for p, q in msg[side]}
                for side in ("bids", "asks")}
        self._books[market], self._venue_seq[market] = book, int(msg["seq"])
        return market_data_pb2.BookEvent(received_micros=received,
                                         snapshot=market_data_pb2.BookSnapshot(
            venue=self.venue, market_id=market, seq=self.next_seq(market, reset=True),
            bids=[market_data_pb2.PriceLevel(price_micros=p, qty_micros=q)
                  for p, q in sorted(book["bids"].items(), reverse=True)],
            asks=[market_data_pb2.PriceLevel(price_micros=p, qty_micros=q)
                  for p, q in sorted(book["asks"].items())]))

    async def _level(self, msg: dict[str, Any], received: int) -> None:
        market, seq = self._market(msg), int(msg["seq"])
        expected = self._venue_seq.get(market, 0) + 1
        if market not in self._books or seq < expected:
            return  # before its snapshot, or replayed: nothing new
        if seq > expected:
            await self._gap(market, expected, seq)
            return
        self._venue_seq[market] = seq
        side, price, size = msg["side"], parse_micros(msg["price"], "price"), \
            parse_micros(msg["size"], "size")
        if side not in ("bid", "ask"):
            raise VenueMessageError(f"level side {side!r} is not bid or ask")
        levels = self._books[market][f"{side}s"]
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)
        change = market_data_pb2.PriceLevel(price_micros=price, qty_micros=size)
        delta = market_data_pb2.BookDelta(venue=self.venue, market_id=market,
                                          seq=self.next_seq(market))
        (delta.bid_changes if side == "bid" else delta.ask_changes).append(change)
        await self.publish(market_data_pb2.BookEvent(delta=delta, received_micros=received))

    async def books_lost(self) -> None:
        """The stream dropped: forget the ladders and sequences with the books; the
        resubscribe's snapshots start them again."""
        self._books.clear()
        self._venue_seq.clear()
        await super().books_lost()

    async def _gap(self, market: str, expected: int, got: int) -> None:
        """A lost level: the book is invalid (published empty, so nothing trades on it)
        until the snapshot a fresh subscription brings."""
        self.metrics.gaps.inc()
        log.warning("noncex %s: expected seq %d, got %d", market, expected, got)
        del self._books[market]
        await self.publish(market_data_pb2.BookEvent(snapshot=market_data_pb2.BookSnapshot(
            venue=self.venue, market_id=market, seq=self.next_seq(market, reset=True))))
        assert self._ws is not None
        await self._ws.send(book_subscription([market]))

    # -- orders ----------------------------------------------------------------------
    async def _prepare(self, market: Market, request: execution_pb2.OrderRequest) -> Tif:
        check_order_options(request)
        if request.tif not in _TIF or request.post_only:
            raise ValueError("NonceX takes GTC, IOC and FOK orders, no GTD or post-only")
        return _TIF[request.tif]

    async def _post_batch(self, chunk: list[BatchItem]) -> list[execution_pb2.OrderAck]:
        """No batch endpoint: one order per request (`max_batch` is 1)."""
        return [await self._send_order(item.market, item.request, item.payload)
                for item in chunk]

    async def _place(self, market: Market,
                     request: execution_pb2.OrderRequest) -> execution_pb2.OrderAck:
        return await self._send_order(market, request, await self._prepare(market, request))

    async def _send_order(self, market: Market, request: execution_pb2.OrderRequest,
                          tif: Tif) -> execution_pb2.OrderAck:
        buys_yes = request.outcome == Outcome.YES
        for attempt in (1, 2):
            try:
                nonce = self.nonces.allocate(self.key)
            except NonceError as exc:  # too many unconfirmed: refuse, never block
                return await self.rejected(request, str(exc))
            body = OrderBody(market.market_id, Side.BUY_YES if buys_yes else Side.BUY_NO,
                             request.limit_price_micros, request.qty_micros, tif,
                             request.client_order_id, nonce)
            try:
                status, raw = await self.send(priority_of(request), "POST", ORDERS_PATH,
                                              body=orjson.dumps(body.to_json()),
                                              key=request.client_order_id)
            except Withdrawn:
                self._give_back(nonce)
                raise
            except RequestTimeout:  # it may have landed: its nonce stays spent
                return await self._reconcile(market, request)
            reply = _json(raw)
            if status == 201:
                self.nonces.confirm(self.key, nonce)
                return await self._accepted(market, request, reply)
            code, message = parse_error(reply)
            if code in NONCE_ERRORS and attempt == 1:
                log.warning("noncex nonce %d refused (%s): resyncing", nonce, message)
                await self.resync_nonce()
                continue
            if status >= 500 or code is ErrorCode.DUPLICATE_CLIENT_ID:
                return await self._reconcile(market, request)  # it may be there
            if code is ErrorCode.INVALID_ORDER:  # the venue read the order: nonce spent
                self.nonces.confirm(self.key, nonce)
            else:
                self._give_back(nonce)
            return await self.rejected(request, f"{code or status}: {message}")
        raise AssertionError("unreachable: the second attempt always returns")

    def _give_back(self, nonce: int) -> None:
        """A nonce the venue never consumed: reuse it when it is the latest; otherwise it
        stays a gap, which the venue's window skips."""
        with contextlib.suppress(NonceError):
            self.nonces.rollback(self.key, nonce)

    async def _accepted(self, market: Market, request: execution_pb2.OrderRequest,
                        reply: dict[str, Any]) -> execution_pb2.OrderAck:
        try:
            order = OrderRecord.from_json(reply.get("order"))
            fills = [FillRecord.from_json(f) for f in reply.get("fills") or []]
        except WireError as exc:  # it was taken: find out what became of it
            self.bad_message(orjson.dumps(reply), exc)
            return await self._reconcile(market, request)
        return await self.accepted(
            request, order.order_id, self.fees[market.market_id],
            [VenueFill(f.order_id, f.trade_id, f.price, f.size, f.fee) for f in fills],
            done=order.status is not OrderStatus.OPEN, venue_filled=order.filled)

    async def _orders(self, **query: str) -> list[OrderRecord]:
        reply = await self.read_object(ORDERS_PATH, query)
        try:
            return [OrderRecord.from_json(o) for o in reply["orders"]]
        except (KeyError, TypeError, WireError) as exc:
            raise self.bad_reply("GET /v1/orders", orjson.dumps(reply), exc) from None

    async def _reconcile(self, market: Market, request: execution_pb2.OrderRequest,
                         ) -> execution_pb2.OrderAck:
        found = await self._orders(client_id=request.client_order_id)
        if not found:
            return await self.rejected(request, NEVER_RECEIVED)
        order = found[0]
        reply = await self.read_object(f"{API}/fills", {"order_id": order.order_id})
        try:
            fills = [FillRecord.from_json(f) for f in reply["fills"]]
        except (KeyError, TypeError, WireError) as exc:
            raise self.bad_reply("GET /v1/fills", orjson.dumps(reply), exc) from None
        return await self.accepted(
            request, order.order_id, self.fees[market.market_id],
            [VenueFill(f.order_id, f.trade_id, f.price, f.size, f.fee) for f in fills],
            done=order.status is not OrderStatus.OPEN, venue_filled=order.filled)

    # -- cancels and reads -------------------------------------------------------------
    async def _cancel(self, venue_order_ids: list[str]) -> dict[str, CancelOutcome]:
        (order_id,) = venue_order_ids
        status, raw = await self.send(Priority.CANCEL, "DELETE", f"{ORDERS_PATH}/{order_id}")
        reply = _json(raw)
        if status != 200:
            return {order_id: CancelOutcome(False, parse_error(reply)[1])}
        try:
            dead = parse_micros(str(reply["canceled"]), "canceled")
        except (KeyError, ValueError) as exc:
            self.bad_message(raw, exc)
            return {order_id: CancelOutcome(True)}
        return {order_id: CancelOutcome(True, dead=dead)}

    async def _open_orders(self, market_id: str | None = None) -> list[tuple[str, str]]:
        query = {"status": OrderStatus.OPEN.value}
        if market_id is not None:
            query["market"] = market_id
        return [(o.order_id, o.client_id) for o in await self._orders(**query)
                if o.market in self.markets]

    async def balance(self) -> VenueBalance:
        """``GET /v1/balance``: the venue holds the cash, so there is no allowance."""
        return VenueBalance(cash_of(await self.read_object(f"{API}/balance", {})))

    async def settlements(self) -> dict[str, int]:
        """``GET /v1/settlements``: each settled market at what its YES contract paid."""
        rows = (await self.read_object(f"{API}/settlements", {})).get("settlements")
        if not isinstance(rows, list):
            raise VenueMessageError(f"'settlements' must be a list, was {rows!r:.60}")
        settled = {}
        for row in rows:
            if not isinstance(row, dict):
                raise VenueMessageError(f"a settlement must be an object, was {row!r:.60}")
            market, pays = row.get("market"), row.get("yes_payout")
            if not isinstance(market, str) or not isinstance(pays, str):
                raise VenueMessageError(f"bad settlement row {row!r:.80}")
            if market in self.markets:
                settled[market] = parse_micros(pays, "yes_payout")
        return settled

    async def _positions(self) -> dict[tuple[str, Outcome], int]:
        reply = await self.read_object(f"{API}/positions", {})
        held: dict[tuple[str, Outcome], int] = {}
        try:
            for row in reply["positions"]:
                if row["market"] in self.markets:
                    outcome = {"yes": Outcome.YES, "no": Outcome.NO}[row["outcome"]]
                    held[(row["market"], outcome)] = parse_micros(row["size"], "size")
        except (KeyError, TypeError, ValueError) as exc:
            raise self.bad_reply("GET /v1/positions", orjson.dumps(reply), exc) from None
        return held


def cash_of(reply: dict[str, Any]) -> int:
    """The free cash of a `GET /v1/balance` reply, in micro-dollars."""
    cash = reply.get("cash")
    if not isinstance(cash, str):
        raise VenueMessageError(f"balance 'cash' must be a decimal string, was {cash!r:.60}")
    return parse_micros(cash, "cash")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        return json_object(raw) if raw else {}
    except ValueError:
        return {"error": {"code": None, "message": raw[:200].decode(errors="replace")}}
