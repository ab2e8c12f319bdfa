"""Kalshi gateway: the `orderbook_delta` and `fill` WebSocket channels in, V2 orders out.

Kalshi's book is bids only: YES bids and NO bids, the latter quoted in NO dollars. The
gateway keeps both ladders, applies signed `delta_fp` changes, and publishes absolute sizes
on the YES-referenced book (a NO bid at q is a YES ask at 1 - q). `seq` must grow by one per
subscription; on a gap every market on that subscription is invalid until a fresh snapshot
(requested by resubscribing). Requests are signed with RSA-PSS (see auth.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome
from arbiter.core.units import ONE_DOLLAR, parse_micros
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
    parse_enum,
    priority_of,
)
from arbiter.gateways.orders import VenueFill
from arbiter.gateways.ratelimit import RateLimitPolicy
from arbiter.gateways.scheduler import Priority, Timer
from arbiter.platform.clock import Clock, wall_micros
from arbiter.platform.transport import Connection, RequestTimeout, VenueTransport
from arbiter.v1 import execution_pb2, market_data_pb2
from arbiter.venues.kalshi.auth import RequestSigner, auth_headers, ws_auth_headers
from arbiter.venues.kalshi.constants import VENUE
from arbiter.venues.kalshi.orders import (
    LEGACY_ORDERS_PATH,
    V2_ORDERS_PATH,
    BookSide,
    KalshiOrder,
    MarketRules,
    OrderEndpoint,
    TimeInForce,
    create_order_request,
)
from arbiter.venues.kalshi.ratelimit import (
    KalshiTier,
    kalshi_cost,
    kalshi_endpoint_class,
    kalshi_policy,
)
from arbiter.venues.kalshi.schemas import Balance, Settlement

log = logging.getLogger(__name__)

API = "/trade-api/v2"
CURSOR = CursorScheme("cursor", "cursor", None, frozenset({""}))
MAX_BATCH = 20
"""Orders (or cancels) per batched request: the legacy docs' 20, which is also what the
Basic tier's write bucket holds at the default cost (the V2 limit scales with the tier)."""
NEVER_RECEIVED = "the venue never received this order"


class OrderStatus(StrEnum):
    RESTING = "resting"
    CANCELED = "canceled"
    EXECUTED = "executed"


class OutcomeSide(StrEnum):
    YES = "yes"
    NO = "no"
_TIF = {
    execution_pb2.TIME_IN_FORCE_GTC: TimeInForce.GOOD_TILL_CANCELED,
    # GTD is Kalshi's good_till_canceled with an expiration_time
    execution_pb2.TIME_IN_FORCE_GTD: TimeInForce.GOOD_TILL_CANCELED,
    execution_pb2.TIME_IN_FORCE_IOC: TimeInForce.IMMEDIATE_OR_CANCEL,
    execution_pb2.TIME_IN_FORCE_FOK: TimeInForce.FILL_OR_KILL,
}


def subscribe_command(command_id: int, channels: list[str], tickers: list[str]) -> bytes:
    """A `subscribe` command (facts B5); no tickers: every market (the fill channel)."""
    params: dict[str, object] = {"channels": channels}
    if tickers:
        params["market_tickers"] = tickers
    return orjson.dumps({"id": command_id, "cmd": "subscribe", "params": params})


class KalshiGateway(VenueGateway):
    venue = VENUE
    book_channel = "ws"
    nets_positions = True

    def __init__(
        self,
        transport: VenueTransport,
        markets: Sequence[Market],
        fees: dict[str, FeeModel],
        rules: dict[str, MarketRules],
        key_id: str,
        signer: RequestSigner,
        clock: Clock,
        on_book: BookSink,
        on_report: ReportSink,
        *,
        tier: KalshiTier = KalshiTier.BASIC,
        legacy_order_entry: bool = False,
        timer: Timer | None = None,
    ) -> None:
        self.tier = tier
        super().__init__(transport, markets, clock, on_book, on_report, timer=timer)
        # legacy POST /portfolio/orders while it still exists; the V2 routes by default
        self.endpoint = OrderEndpoint.LEGACY if legacy_order_entry else OrderEndpoint.V2
        self.fees = fees
        self.rules = rules
        self.key_id = key_id
        self.signer = signer
        self._ws: Connection | None = None
        self._channel: dict[int, str] = {}
        self._asked: dict[int, list[str]] = {}  # subscribe command id -> its tickers
        self._tickers: dict[int, list[str]] = {}  # book sid -> the tickers it carries
        self._last_seq: dict[int, int] = {}
        self._awaiting_snapshot: set[int] = set()
        # market -> side ("yes"/"no") -> price in that side's dollars -> contracts
        self._ladders: dict[str, dict[str, dict[int, int]]] = defaultdict(
            lambda: {"yes": {}, "no": {}}
        )
        self._cmd_id = 0

    async def start(self) -> None:
        self._ws = await self.transport.connect("ws", self._on_frame, self._ws_headers)
        await self._subscribe(["orderbook_delta"], list(self.markets))
        await self._subscribe(["ticker"], list(self.markets))
        await self._subscribe(["fill"], [])

    async def add_market(self, market: Market, fees: FeeModel, rules: MarketRules) -> None:
        """A market listed while running, on book and ticker subscriptions of its own: a
        `subscribe` is what the transport replays after a reconnect (an `add_markets`
        update would be lost with its sid). The fill channel already covers every market."""
        self.adopt(market)
        self.fees[market.market_id] = fees
        self.rules[market.market_id] = rules
        await self._subscribe(["orderbook_delta"], [market.market_id])
        await self._subscribe(["ticker"], [market.market_id])

    async def _subscribe(self, channels: list[str], tickers: list[str]) -> None:
        assert self._ws is not None
        self._cmd_id += 1
        self._asked[self._cmd_id] = tickers
        await self._ws.send(subscribe_command(self._cmd_id, channels, tickers))

    # -- stream ----------------------------------------------------------------------
    async def _on_frame(self, frame: bytes) -> None:
        received = wall_micros()
        try:
            msg = orjson.loads(frame)
            kind = msg["type"]
            if not isinstance(kind, str):
                raise VenueMessageError(f"message type {kind!r:.40} is not a string")
            if kind == "subscribed":
                sid, channel = msg["msg"]["sid"], msg["msg"]["channel"]
                if not _counter(sid) or not isinstance(channel, str):
                    raise VenueMessageError(f"subscribed sid {sid!r:.40} / channel "
                                            f"{channel!r:.40} unreadable")
                self._channel[sid] = channel
                # the reply names its command (a replayed one too): the sid's own tickers
                self._tickers[sid] = self._asked.get(msg.get("id"), []) or list(self.markets)
                # sids may be reused on a new connection: start its sequence afresh
                self._last_seq.pop(sid, None)
                self._awaiting_snapshot.discard(sid)
                return
            if kind == "error":
                raise VenueMessageError(f"venue error {msg['msg']}")
            if kind not in _STREAMED:  # before its sid and seq can touch any state
                raise VenueMessageError(f"unknown message type {kind!r:.40}")
            ticker = self._ticker(msg["msg"]) if kind == "ticker" else None
            sid = msg["sid"]
            book = kind.startswith("orderbook")  # a book frame must carry its seq
            seq = msg["seq"] if book else msg.get("seq")
            if not _counter(sid) or not (_counter(seq) or (seq is None and not book)):
                raise VenueMessageError(f"sid {sid!r} / seq {seq!r} are not counters")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.bad_message(frame, exc)
            return
        if ticker is not None:  # no sequence: each is a complete summary of its market
            await self.publish(market_data_pb2.BookEvent(ticker=ticker, received_micros=received))
            return
        expected = self._last_seq.get(sid, 0) + 1
        if kind == "fill":
            # Never dropped by sequence: a late or replayed fill is still a fill, and the
            # tracker counts each trade id once. A skipped seq means a lost fill, which the
            # saga's overdue-order lookup recovers from the REST API.
            if seq is not None and seq > expected:
                self.metrics.gaps.inc()
                log.warning("kalshi fill sid %d: expected seq %d, got %d", sid, expected, seq)
            seq = max(seq or 0, expected - 1)
        elif kind != "orderbook_snapshot":
            if seq < expected:
                return  # a replayed frame, already applied
            if seq > expected:
                await self._gap(sid, expected, seq)
            if sid in self._awaiting_snapshot:
                self._last_seq[sid] = seq
                return  # the book is invalid until the fresh snapshot arrives
        else:
            self._awaiting_snapshot.discard(sid)
        self._last_seq[sid] = seq
        try:
            if kind == "orderbook_snapshot":
                await self.publish(self._snapshot(msg["msg"], received))
            elif kind == "orderbook_delta":
                await self.publish(self._delta(msg["msg"], received))
            else:  # fill
                await self.emit(self.fill_reports([_fill(msg["msg"])]))
        except (KeyError, TypeError, ValueError) as exc:
            self.bad_message(frame, exc)
            if kind == "orderbook_delta":  # its seq is spent: the relative book is unknowable
                await self._resync(sid)

    def _ticker(self, msg: dict) -> market_data_pb2.Ticker:
        ticker = msg["market_ticker"]
        if ticker not in self.markets:
            raise VenueMessageError(f"ticker for a market we did not subscribe: {ticker!r}")
        return market_data_pb2.Ticker(
            venue=self.venue, market_id=ticker, ts_micros=int(msg["ts_ms"]) * 1000,
            yes_bid_micros=parse_micros(str(msg["yes_bid_dollars"]), "yes_bid_dollars"),
            yes_ask_micros=parse_micros(str(msg["yes_ask_dollars"]), "yes_ask_dollars"),
            last_price_micros=parse_micros(str(msg["price_dollars"]), "price_dollars"),
            volume_micros=parse_micros(str(msg["volume_fp"]), "volume_fp"))

    async def _gap(self, sid: int, expected: int, got: int) -> None:
        """Sequence broken. A book subscription's books are invalid: publish them empty (so
        nothing trades on them) and ask for fresh snapshots on the same sid. A fill-channel gap
        loses fills, which the saga's overdue-order lookup recovers from the REST API."""
        self.metrics.gaps.inc()
        log.warning("kalshi sid %d: expected seq %d, got %d", sid, expected, got)
        await self._resync(sid)

    async def _resync(self, sid: int) -> None:
        """Books of an orderbook subscription cannot be trusted: publish them empty and ask
        the venue for fresh snapshots (once, until they arrive or the wait is overdue)."""
        now = wall_micros()
        if self._channel.get(sid) != "orderbook_delta" or (
                sid in self._awaiting_snapshot and not self.snapshot_overdue(sid, now)):
            return
        self._awaiting_snapshot.add(sid)
        self.snapshot_asked(sid, now)
        tickers = self._tickers.get(sid) or list(self.markets)
        await self.darken(tickers, wall_micros())
        assert self._ws is not None
        self._cmd_id += 1
        await self._ws.send(orjson.dumps({"id": self._cmd_id, "cmd": "update_subscription",
                                          "params": {"sids": [sid], "action": "get_snapshot",
                                                     "market_tickers": tickers}}))

    async def resync_books(self, market_ids: Iterable[str] | None = None) -> None:
        """`get_snapshot` on the orderbook subscriptions carrying these markets, as after a
        sequence gap (a subscription's books are re-snapshot together)."""
        wanted = None if market_ids is None else set(market_ids)
        for sid in sorted(s for s, channel in self._channel.items()
                          if channel == "orderbook_delta"):
            if wanted is None or wanted & set(self._tickers.get(sid) or self.markets):
                await self._resync(sid)

    async def darken(self, market_ids: Iterable[str], received: int) -> None:
        """The relative ladders are forgotten with the books: only a snapshot restarts them."""
        market_ids = list(market_ids)
        for ticker in market_ids:
            self._ladders.pop(ticker, None)
        await super().darken(market_ids, received)

    def _snapshot(self, msg: dict, received: int) -> market_data_pb2.BookEvent:
        ticker = msg["market_ticker"]
        if ticker not in self.markets:
            raise VenueMessageError(f"snapshot for unsubscribed market {ticker!r}")
        ladders = {
            side: {parse_micros(p, "price"): parse_micros(q, "count")
                   for p, q in msg.get(f"{side}_dollars_fp", [])}
            for side in ("yes", "no")
        }
        self._ladders[ticker] = ladders
        snapshot = market_data_pb2.BookSnapshot(
            venue=self.venue, market_id=ticker, seq=self.next_seq(ticker, reset=True),
            bids=[market_data_pb2.PriceLevel(price_micros=p, qty_micros=q)
                  for p, q in sorted(ladders["yes"].items(), reverse=True)],
            asks=[market_data_pb2.PriceLevel(price_micros=ONE_DOLLAR - p, qty_micros=q)
                  for p, q in sorted(ladders["no"].items(), reverse=True)],
        )
        return market_data_pb2.BookEvent(snapshot=snapshot, received_micros=received)

    def _delta(self, msg: dict, received: int) -> market_data_pb2.BookEvent:
        ticker, side = msg["market_ticker"], msg["side"]
        if side not in ("yes", "no"):
            raise VenueMessageError(f"orderbook_delta side {side!r} is not yes or no")
        price = parse_micros(msg["price_dollars"], "price_dollars")
        change = _signed_micros(msg["delta_fp"])
        ladder = self._ladders[ticker][side]
        total = max(0, ladder.get(price, 0) + change)
        if total:
            ladder[price] = total
        else:
            ladder.pop(price, None)
        delta = market_data_pb2.BookDelta(
            venue=self.venue, market_id=ticker, seq=self.next_seq(ticker),
            ts_micros=int(msg.get("ts_ms", 0)) * 1000,
        )
        if side == "yes":
            delta.bid_changes.append(market_data_pb2.PriceLevel(price_micros=price, qty_micros=total))
        else:
            delta.ask_changes.append(
                market_data_pb2.PriceLevel(price_micros=ONE_DOLLAR - price, qty_micros=total))
        return market_data_pb2.BookEvent(delta=delta, received_micros=received)

    # -- orders ----------------------------------------------------------------------
    # -- the outbound path -------------------------------------------------------------
    max_batch = MAX_BATCH
    max_cancel_batch = MAX_BATCH

    def _rate_policy(self) -> RateLimitPolicy:
        return kalshi_policy(self.tier)

    def _endpoint_class(self, method: str, path: str) -> str:
        return kalshi_endpoint_class(method)

    def _cost(self, method: str, path: str, items: int) -> float:
        return kalshi_cost(method, path, items)

    async def _sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return await auth_headers(self.key_id, self.signer, self.clock.now_micros() // 1000,
                                  method, path)

    async def _ws_headers(self) -> dict[str, str]:
        """The WebSocket upgrade is signed like a request, afresh on every reconnect."""
        return await ws_auth_headers(self.key_id, self.signer, self.clock.now_micros() // 1000)

    @property
    def _orders_path(self) -> str:
        return LEGACY_ORDERS_PATH if self.endpoint is OrderEndpoint.LEGACY else V2_ORDERS_PATH

    async def _prepare(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> dict[str, Any]:
        """The create-order body for the selected endpoint, validated against the market."""
        buys_yes = request.outcome == Outcome.YES
        check_order_options(request)
        order = KalshiOrder(
            ticker=market.market_id,
            side=BookSide.BID if buys_yes else BookSide.ASK,
            price_micros=request.limit_price_micros if buys_yes
            else ONE_DOLLAR - request.limit_price_micros,
            count_micros=request.qty_micros,
            time_in_force=_TIF[request.tif],
            client_order_id=request.client_order_id,
            # the venue enforces it only with IOC; elsewhere it orders our own queue
            reduce_only=request.reduce_only and request.tif == execution_pb2.TIME_IN_FORCE_IOC,
            post_only=request.post_only,
            expiration_time_s=(request.expire_micros // 1_000_000
                               if request.tif == execution_pb2.TIME_IN_FORCE_GTD else None),
        )
        return create_order_request(order, self.rules[market.market_id], self.endpoint)[2]

    async def _place(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck:
        body = await self._prepare(market, request)
        try:
            status, raw = await self.send(priority_of(request), "POST", self._orders_path,
                                          body=orjson.dumps(body), key=request.client_order_id)
        except RequestTimeout:
            return await self._reconcile(market, request)
        return await self._outcome(market, request, status, _json(raw))

    async def _post_batch(self, chunk: list[BatchItem]) -> list[execution_pb2.OrderAck]:
        """POST .../batched {"orders": [...]}: one result per order, in order; each
        carries the order or an error."""
        body = orjson.dumps({"orders": [item.payload for item in chunk]})
        status, raw = await self.send(priority_of(chunk[0].request), "POST",
                                      f"{self._orders_path}/batched", body=body,
                                      items=len(chunk))
        reply = _json(raw)
        if status not in (200, 201):
            return await self.batch_failed(chunk, status, _reason(status, reply))
        results = reply.get("orders")
        if not isinstance(results, list) or len(results) != len(chunk):
            self.bad_message(raw, ValueError(f"expected {len(chunk)} batch results"))
            return [await self._reconcile(i.market, i.request) for i in chunk]
        return [await self._outcome(item.market, item.request, status,
                                    result if isinstance(result, dict) else {"error": result})
                for item, result in zip(chunk, results, strict=True)]

    async def _outcome(
        self, market: Market, request: execution_pb2.OrderRequest, status: int, reply: dict
    ) -> execution_pb2.OrderAck:
        """One create reply (single, or an item of a batch; V2 or legacy shape) as reports."""
        error = reply.get("error")
        if status in (200, 201) and not error:
            order = reply["order"] if isinstance(reply.get("order"), dict) else reply
            try:
                order_id = str(order["order_id"])
                filled = parse_micros(str(order.get("fill_count") or order["fill_count_fp"]),
                                      "fill_count")
                state = order.get("status")
                done = None if state is None else \
                    parse_enum(OrderStatus, state, "order status") is not OrderStatus.RESTING
            except (KeyError, ValueError) as exc:  # it was taken: find out what became of it
                self.bad_message(orjson.dumps(reply), exc)
                return await self._reconcile(market, request)
            return await self.accepted(request, order_id, self.fees[market.market_id],
                                       done=done, venue_filled=filled)
        code = error.get("code") if isinstance(error, dict) else None
        if status == 409 or code == "order_already_exists":  # an earlier send got through
            return await self._reconcile(market, request)
        if status >= 500:  # the venue may have acted before failing
            return await self._reconcile(market, request, missing=_reason(status, reply))
        return await self.rejected(request, _reason(status, reply))

    # -- cancels ---------------------------------------------------------------------
    async def _cancel(self, venue_order_ids: list[str]) -> dict[str, CancelOutcome]:
        """DELETE .../orders/{id} for one, DELETE .../orders/batched for several."""
        if len(venue_order_ids) == 1:
            order_id = venue_order_ids[0]
            status, raw = await self.send(Priority.CANCEL, "DELETE",
                                          f"{self._orders_path}/{order_id}")
            return {order_id: _cancel_outcome(status, _json(raw))}
        body: dict[str, object]
        if self.endpoint is OrderEndpoint.LEGACY:
            body = {"ids": venue_order_ids}
        else:
            body = {"orders": [{"order_id": order_id} for order_id in venue_order_ids]}
        status, raw = await self.send(Priority.CANCEL, "DELETE", f"{self._orders_path}/batched",
                                      body=orjson.dumps(body), items=len(venue_order_ids))
        reply = _json(raw)
        results = {str(r.get("order_id")): _cancel_outcome(200, r)
                   for r in reply.get("orders") or [] if isinstance(r, dict)}
        failed = CancelOutcome(False, _reason(status, reply))
        return {order_id: results.get(order_id, failed) for order_id in venue_order_ids}

    async def _cancel_all(self) -> dict[str, CancelOutcome]:
        """V2: DELETE /portfolio/events/orders answers 204 without ids, so our resting
        orders are listed first; each one's fate is then looked up (`_venue_filled`)."""
        if self.endpoint is OrderEndpoint.LEGACY:  # no cancel-all on the legacy path
            return await super()._cancel_all()
        resting = await self._open_orders()
        status, raw = await self.send(Priority.CANCEL, "DELETE", V2_ORDERS_PATH)
        if status not in (200, 204):
            raise self.bad_reply("cancel all", raw, ValueError(f"HTTP {status}"))
        return {order_id: CancelOutcome(True) for order_id, _ in resting}

    async def _venue_filled(self, venue_order_id: str) -> int | None:
        order = (await self.read_object(f"{API}/portfolio/orders/{venue_order_id}", {}))["order"]
        return parse_micros(str(order["fill_count_fp"]), "fill_count_fp")

    async def _positions(self) -> dict[tuple[str, Outcome], int]:
        """``GET /portfolio/positions``: Kalshi nets each market, + YES and - NO contracts."""
        held: dict[tuple[str, Outcome], int] = {}
        for row in await self.read_all(f"{API}/portfolio/positions", {"limit": "1000"},
                                       "market_positions", CURSOR):
            if row["ticker"] not in self.markets:
                continue
            net = parse_micros(str(row["position_fp"]), "position_fp")
            held[(row["ticker"], Outcome.YES if net > 0 else Outcome.NO)] = abs(net)
        return held

    async def settlements(self) -> dict[str, int]:
        """``GET /portfolio/settlements``: every market we held at its settlement."""
        settled = {}
        for row in await self.read_all(f"{API}/portfolio/settlements", {"limit": "1000"},
                                       "settlements", CURSOR):
            try:
                settlement = Settlement.model_validate(row)
                if settlement.ticker in self.markets:
                    settled[settlement.ticker] = settlement.yes_payout
            except ValueError as exc:  # ValidationError included
                raise self.bad_reply("settlement", orjson.dumps(row), exc) from None
        return settled

    async def balance(self) -> VenueBalance:
        """``GET /portfolio/balance``: Kalshi holds the cash, so there is no allowance."""
        path = f"{API}/portfolio/balance"
        status, raw = await self.send(Priority.READ, "GET", path)
        try:
            if status != 200:
                raise ValueError(f"HTTP {status}")
            return VenueBalance(Balance.model_validate_json(raw).micros)
        except ValueError as exc:  # ValidationError included
            raise self.bad_reply("balance", raw, exc) from None

    async def _open_orders(self, market_id: str | None = None) -> list[tuple[str, str]]:
        found = []
        for ticker in [market_id] if market_id is not None else list(self.markets):
            for order in await self.orders(ticker=ticker, status=OrderStatus.RESTING):
                parse_enum(OrderStatus, order.get("status"), "order status")
                found.append((str(order["order_id"]), str(order.get("client_order_id") or "")))
        return found

    async def orders(self, **query: str) -> list[dict]:
        """GET /portfolio/orders with any of its filters, every page."""
        return await self.read_all(f"{API}/portfolio/orders", query, "orders", CURSOR)

    async def fills(self, **query: str) -> list[dict]:
        """GET /portfolio/fills with any of its filters, every page."""
        return await self.read_all(f"{API}/portfolio/fills", query, "fills", CURSOR)

    async def _reconcile(
        self, market: Market, request: execution_pb2.OrderRequest, missing: str = NEVER_RECEIVED
    ) -> execution_pb2.OrderAck:
        found = next((o for o in await self.orders(ticker=market.market_id)
                      if o.get("client_order_id") == request.client_order_id), None)
        if found is None:
            return await self.rejected(request, missing)
        order_id = str(found["order_id"])
        try:
            state = parse_enum(OrderStatus, found.get("status"), "order status")
            fills = [_fill(f) for f in await self.fills(order_id=order_id)]
            venue_filled = parse_micros(str(found["fill_count_fp"]), "fill_count_fp")
        except (KeyError, TypeError, ValueError) as exc:
            raise self.bad_reply(f"order lookup {order_id}", orjson.dumps(found), exc) from None
        return await self.accepted(request, order_id, self.fees[market.market_id], fills,
                                   done=state is not OrderStatus.RESTING,
                                   venue_filled=venue_filled)


def _signed_micros(text: str) -> int:
    negative = text.startswith("-")
    value = parse_micros(text.lstrip("-+"), "delta_fp")
    return -value if negative else value


def _fill(msg: dict) -> VenueFill:
    """A fill from the `fill` channel or GET /portfolio/fills (same fields we use). A maker
    fill's id also names its order: when we cross our own resting order, both fills share
    the venue's trade id."""
    yes_price = parse_micros(msg["yes_price_dollars"], "yes_price_dollars")
    side = parse_enum(OutcomeSide, msg.get("outcome_side") or msg["side"], "fill side")
    trade_id = str(msg.get("trade_id") or msg["fill_id"])
    if msg.get("is_taker") is False:
        trade_id = f"{trade_id}:{msg['order_id']}"
    return VenueFill(
        venue_order_id=msg["order_id"],
        trade_id=trade_id,
        price=yes_price if side is OutcomeSide.YES else ONE_DOLLAR - yes_price,
        qty=parse_micros(msg["count_fp"], "count_fp"),
        fee=parse_micros(msg["fee_cost"], "fee_cost"),
    )


_STREAMED = frozenset({"ticker", "orderbook_snapshot", "orderbook_delta", "fill"})
"""The data messages the gateway subscribes to (besides `subscribed` and `error`)."""


def _counter(value: object) -> bool:
    """A subscription id or sequence number: a non-negative int (JSON `true` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _json(raw: bytes) -> dict:
    try:
        value = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {"error": raw[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"error": f"unexpected reply {value!r:.200}"}


def _reason(status: int, reply: dict) -> str:
    """Kalshi errors are `{"error": {"code", "message"}}`; a 429 is `{"error": "..."}`."""
    error = reply.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or f"HTTP {status}")
    return str(error or f"HTTP {status}")


def _cancel_outcome(status: int, reply: dict) -> CancelOutcome:
    """A cancel reply (V2 `reduced_by`, legacy `reduced_by_fp`) or batch item."""
    if status != 200 or reply.get("error"):
        return CancelOutcome(False, _reason(status, reply))
    reduced = reply.get("reduced_by") or reply.get("reduced_by_fp")
    return CancelOutcome(True, dead=None if reduced is None else
                         parse_micros(str(reduced), "reduced_by"))
