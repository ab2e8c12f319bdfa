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
from collections.abc import Sequence

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome, Venue
from arbiter.core.units import ONE_DOLLAR
from arbiter.gateways.base import BookSink, ReportSink, VenueGateway, VenueMessageError
from arbiter.gateways.kalshi.auth import RequestSigner, auth_headers
from arbiter.gateways.kalshi.orders import (
    BookSide,
    KalshiOrder,
    MarketRules,
    TimeInForce,
    create_order_request,
)
from arbiter.gateways.orders import VenueFill
from arbiter.gateways.polymarket.amounts import parse_micros
from arbiter.gateways.transport import Connection, RequestTimeout, VenueTransport
from arbiter.platform.clock import Clock, wall_micros
from arbiter.v1 import execution_pb2, market_data_pb2

log = logging.getLogger(__name__)

API = "/trade-api/v2"
_TIF = {
    execution_pb2.TIME_IN_FORCE_GTC: TimeInForce.GOOD_TILL_CANCELED,
    execution_pb2.TIME_IN_FORCE_IOC: TimeInForce.IMMEDIATE_OR_CANCEL,
    execution_pb2.TIME_IN_FORCE_FOK: TimeInForce.FILL_OR_KILL,
}


class KalshiGateway(VenueGateway):
    venue = Venue.KALSHI
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
    ) -> None:
        super().__init__(transport, markets, clock, on_book, on_report)
        self.fees = fees
        self.rules = rules
        self.key_id = key_id
        self.signer = signer
        self._ws: Connection | None = None
        self._channel: dict[int, str] = {}
        self._last_seq: dict[int, int] = {}
        self._awaiting_snapshot: set[int] = set()
        # market -> side ("yes"/"no") -> price in that side's dollars -> contracts
        self._ladders: dict[str, dict[str, dict[int, int]]] = defaultdict(
            lambda: {"yes": {}, "no": {}}
        )
        self._cmd_id = 0

    async def start(self) -> None:
        self._ws = await self.transport.connect("ws", self._on_frame)
        await self._subscribe(["orderbook_delta"], list(self.markets))
        await self._subscribe(["fill"], [])

    async def _subscribe(self, channels: list[str], tickers: list[str]) -> None:
        assert self._ws is not None
        self._cmd_id += 1
        params: dict[str, object] = {"channels": channels}
        if tickers:
            params["market_tickers"] = tickers
        await self._ws.send(orjson.dumps({"id": self._cmd_id, "cmd": "subscribe", "params": params}))

    # -- stream ----------------------------------------------------------------------
    async def _on_frame(self, frame: bytes) -> None:
        received = wall_micros()
        try:
            msg = orjson.loads(frame)
            kind = msg["type"]
            if kind == "subscribed":
                sid = msg["msg"]["sid"]
                self._channel[sid] = msg["msg"]["channel"]
                # sids may be reused on a new connection: start its sequence afresh
                self._last_seq.pop(sid, None)
                self._awaiting_snapshot.discard(sid)
                return
            if kind == "error":
                raise VenueMessageError(f"venue error {msg['msg']}")
            sid = msg["sid"]
            seq = msg["seq"] if kind.startswith("orderbook") else msg.get("seq")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.bad_message(frame, exc)
            return
        expected = self._last_seq.get(sid, 0) + 1
        if seq is None:  # the fill channel's envelope may carry no seq: nothing to check
            seq = expected
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
                await self.on_book(self._snapshot(msg["msg"], received))
            elif kind == "orderbook_delta":
                await self.on_book(self._delta(msg["msg"], received))
            elif kind == "fill":
                await self.emit([self.tracker.on_fill(_fill(msg["msg"]))])
            else:
                raise VenueMessageError(f"unknown message type {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            self.bad_message(frame, exc)

    async def _gap(self, sid: int, expected: int, got: int) -> None:
        """Sequence broken. A book subscription's books are invalid: publish them empty (so
        nothing trades on them) and ask for fresh snapshots on the same sid. A fill-channel gap
        loses fills, which the saga's overdue-order lookup recovers from the REST API."""
        self.metrics.gaps.inc()
        log.warning("kalshi sid %d: expected seq %d, got %d", sid, expected, got)
        if self._channel.get(sid) != "orderbook_delta" or sid in self._awaiting_snapshot:
            return
        self._awaiting_snapshot.add(sid)
        for ticker in self.markets:
            self._ladders.pop(ticker, None)
            await self.on_book(market_data_pb2.BookEvent(snapshot=market_data_pb2.BookSnapshot(
                venue=self.venue, market_id=ticker, seq=self.next_seq(ticker, reset=True))))
        assert self._ws is not None
        self._cmd_id += 1
        await self._ws.send(orjson.dumps({"id": self._cmd_id, "cmd": "update_subscription",
                                          "params": {"sids": [sid], "action": "get_snapshot",
                                                     "market_tickers": list(self.markets)}}))

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
    async def _place(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck:
        buys_yes = request.outcome == Outcome.YES
        order = KalshiOrder(
            ticker=market.market_id,
            side=BookSide.BID if buys_yes else BookSide.ASK,
            price_micros=request.limit_price_micros if buys_yes
            else ONE_DOLLAR - request.limit_price_micros,
            count_micros=request.qty_micros,
            time_in_force=_TIF[request.tif],
            client_order_id=request.client_order_id,
        )
        method, path, body = create_order_request(order, self.rules[market.market_id])
        try:
            status, raw = await self.transport.request(
                method, path, headers=await self._headers(method, path), body=orjson.dumps(body))
        except RequestTimeout:
            return await self._reconcile(market, request)
        reply = orjson.loads(raw) if raw else {}
        if status == 409:  # our client order id is already there: an earlier send got through
            return await self._reconcile(market, request)
        if status not in (200, 201):
            error = reply.get("error", {}) if isinstance(reply, dict) else {}
            reason = error.get("message", f"HTTP {status}") if isinstance(error, dict) else str(error)
            return await self.rejected(request, reason)
        return await self.accepted(request, str(reply["order_id"]), self.fees[market.market_id],
                                   venue_filled=parse_micros(reply["fill_count"], "fill_count"))


    async def _headers(self, method: str, path: str) -> dict[str, str]:
        return await auth_headers(self.key_id, self.signer, self.clock.now_micros() // 1000,
                                  method, path)

    async def _get(self, path: str, query: dict[str, str]) -> dict:
        status, raw = await self.transport.request("GET", path, query=query,
                                                   headers=await self._headers("GET", path))
        if status != 200:
            raise VenueMessageError(f"GET {path} {query} failed: HTTP {status} {raw[:200]!r}")
        return orjson.loads(raw)

    async def _cancel(self, venue_order_id: str) -> tuple[bool, str]:
        path = f"{API}/portfolio/events/orders/{venue_order_id}"
        status, raw = await self.transport.request("DELETE", path,
                                                   headers=await self._headers("DELETE", path))
        if status == 200:
            return True, ""
        reply = orjson.loads(raw) if raw else {}
        error = reply.get("error", {}) if isinstance(reply, dict) else {}
        return False, error.get("message", f"HTTP {status}") if isinstance(error, dict) else str(error)

    async def _positions(self) -> dict[tuple[str, Outcome], int]:
        """``GET /portfolio/positions``: Kalshi nets each market, + YES and - NO contracts."""
        held: dict[tuple[str, Outcome], int] = {}
        query = {"limit": "1000"}
        while True:
            page = await self._get(f"{API}/portfolio/positions", query)
            for row in page["market_positions"]:
                if row["ticker"] not in self.markets:
                    continue
                net = parse_micros(str(row["position_fp"]), "position_fp")
                held[(row["ticker"], Outcome.YES if net > 0 else Outcome.NO)] = abs(net)
            if not page.get("cursor"):
                return held
            query = {**query, "cursor": str(page["cursor"])}

    async def _open_orders(self) -> list[tuple[str, str]]:
        found = []
        for ticker in self.markets:
            orders = await self._get(f"{API}/portfolio/orders",
                                     {"ticker": ticker, "status": "resting"})
            found += [(str(o["order_id"]), str(o.get("client_order_id") or ""))
                      for o in orders["orders"] if o.get("status") == "resting"]
        return found

    async def _reconcile(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck:
        orders = await self._get(f"{API}/portfolio/orders", {"ticker": market.market_id})
        found = next((o for o in orders["orders"]
                      if o.get("client_order_id") == request.client_order_id), None)
        if found is None:
            return await self.rejected(request, "the venue never received this order")
        order_id = str(found["order_id"])
        fills = await self._get(f"{API}/portfolio/fills", {"order_id": order_id})
        return await self.accepted(
            request, order_id, self.fees[market.market_id],
            [_fill(f) for f in fills["fills"]], done=found.get("status") != "resting",
            venue_filled=parse_micros(found["fill_count_fp"], "fill_count_fp"))


def _signed_micros(text: str) -> int:
    negative = text.startswith("-")
    value = parse_micros(text.lstrip("-+"), "delta_fp")
    return -value if negative else value


def _fill(msg: dict) -> VenueFill:
    """A fill from the `fill` channel or GET /portfolio/fills (same fields we use)."""
    yes_price = parse_micros(msg["yes_price_dollars"], "yes_price_dollars")
    side = msg.get("outcome_side") or msg["side"]
    if side not in ("yes", "no"):
        raise VenueMessageError(f"fill side {side!r} is not yes or no")
    return VenueFill(
        venue_order_id=msg["order_id"],
        trade_id=msg.get("trade_id") or msg["fill_id"],
        price=yes_price if side == "yes" else ONE_DOLLAR - yes_price,
        qty=parse_micros(msg["count_fp"], "count_fp"),
        fee=parse_micros(msg["fee_cost"], "fee_cost"),
    )
