"""Polymarket CLOB V2 gateway: market/user WebSocket channels in, signed V2 orders out.

Books: the YES token of every market is subscribed; `book` events become snapshots and
`price_change` items (new total size per level) become deltas on the YES-referenced book.
Orders: buying an outcome is a BUY of that outcome's token, signed as an EIP-712 V2 order
and posted with L2 HMAC headers over the exact body bytes. Fills come from the user
channel's `trade` events and are attributed through the `OrderTracker`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome, Venue
from arbiter.gateways.base import BookSink, ReportSink, VenueGateway, VenueMessageError
from arbiter.gateways.orders import VenueFill
from arbiter.gateways.polymarket.amounts import (
    TICK_SIZES,
    Side,
    limit_order_amounts,
    parse_micros,
)
from arbiter.gateways.polymarket.auth import ApiCreds, l2_headers
from arbiter.gateways.polymarket.order_builder import (
    MAX_JSON_SALT,
    OrderType,
    build_order,
    encode_body,
    order_payload,
    sign,
)
from arbiter.gateways.polymarket.signing import (
    POLYGON_CHAIN_ID,
    ExchangeDomain,
    Order,
    Signer,
    order_digest,
)
from arbiter.gateways.transport import Connection, RequestTimeout, VenueTransport
from arbiter.platform.clock import Clock, wall_micros
from arbiter.v1 import execution_pb2, market_data_pb2

_TICKS_BY_MICROS = {tick.tick_micros: tick for tick in TICK_SIZES.values()}
_ORDER_TYPES = {
    execution_pb2.TIME_IN_FORCE_GTC: OrderType.GTC,
    execution_pb2.TIME_IN_FORCE_IOC: OrderType.FAK,
    execution_pb2.TIME_IN_FORCE_FOK: OrderType.FOK,
}


@dataclass(frozen=True)
class PolymarketCredentials:
    signer: Signer
    api: ApiCreds
    chain_id: int = POLYGON_CHAIN_ID


class PolymarketGateway(VenueGateway):
    venue = Venue.POLYMARKET

    def __init__(
        self,
        transport: VenueTransport,
        markets: Sequence[Market],
        fees: dict[str, FeeModel],
        credentials: PolymarketCredentials,
        clock: Clock,
        on_book: BookSink,
        on_report: ReportSink,
    ) -> None:
        super().__init__(transport, markets, clock, on_book, on_report)
        self.fees = fees
        self.credentials = credentials
        self.domain = ExchangeDomain.for_market(credentials.chain_id, neg_risk=False)
        self._by_token = {m.yes_token: m for m in markets}
        self._market_ws: Connection | None = None
        self._user_ws: Connection | None = None

    async def start(self) -> None:
        self._market_ws = await self.transport.connect("market", self._on_market_frame)
        self._user_ws = await self.transport.connect("user", self._on_user_frame)
        api = self.credentials.api
        await self._user_ws.send(orjson.dumps({
            "auth": {"apiKey": api.api_key, "secret": api.secret, "passphrase": api.passphrase},
            "markets": list(self.markets),
            "type": "user",
        }))
        await self._market_ws.send(
            orjson.dumps({"assets_ids": list(self._by_token), "type": "market"})
        )

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
            return
        for event in parsed:
            if event is not None:
                await self.on_book(event)

    def _parse_market_event(self, event: dict, received: int) -> market_data_pb2.BookEvent | None:
        kind = event["event_type"]
        ts = int(event.get("timestamp") or 0) * 1000
        if kind == "book":
            market = self._by_token.get(event["asset_id"])
            if market is None:
                return None
            snapshot = market_data_pb2.BookSnapshot(
                venue=self.venue, market_id=market.market_id,
                seq=self.next_seq(market.market_id, reset=True), ts_micros=ts,
                bids=_levels(event["bids"]), asks=_levels(event["asks"]),
            )
            return market_data_pb2.BookEvent(snapshot=snapshot, received_micros=received)
        if kind == "price_change":
            delta: market_data_pb2.BookDelta | None = None
            for item in event["price_changes"]:
                market = self._by_token.get(item["asset_id"])
                if market is None:
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
                side = item["side"]
                if side == "BUY":
                    delta.bid_changes.append(level)
                elif side == "SELL":
                    delta.ask_changes.append(level)
                else:
                    raise VenueMessageError(f"price_change side {side!r} is not BUY or SELL")
            return None if delta is None else market_data_pb2.BookEvent(
                delta=delta, received_micros=received)
        if kind in ("last_trade_price", "tick_size_change", "best_bid_ask"):
            return None
        raise VenueMessageError(f"unknown market event_type {kind!r}")

    # -- user channel ----------------------------------------------------------------
    async def _on_user_frame(self, frame: bytes) -> None:
        if frame == b"PONG":
            return
        try:
            payload = orjson.loads(frame)
            events = payload if isinstance(payload, list) else [payload]
            fills = [
                VenueFill(
                    venue_order_id=e["taker_order_id"],
                    trade_id=e["id"],
                    price=parse_micros(e["price"], "price"),
                    qty=parse_micros(e["size"], "size"),
                )
                for e in events
                if e.get("event_type") == "trade"
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self.bad_message(frame, exc)
            return
        await self.emit([self.tracker.on_fill(f) for f in fills])

    # -- orders ----------------------------------------------------------------------
    def _order(self, market: Market, request: execution_pb2.OrderRequest) -> Order:
        """The V2 order for a request, a pure function of it: the salt comes from the client
        order id and the signed timestamp from the intent's creation time, so the order hash
        (the venue's order id) is known before sending and is the same on every resend."""
        token = market.yes_token if request.outcome == Outcome.YES else market.no_token
        tick = _TICKS_BY_MICROS[market.tick_micros]
        amounts = limit_order_amounts(Side.BUY, request.limit_price_micros, request.qty_micros, tick)
        created_ms = (request.created_micros or self.clock.now_micros()) // 1000
        return build_order(
            token_id=int(token),
            side=Side.BUY,
            amounts=amounts,
            signer_address=self.credentials.signer.address,
            salt=_salt(request.client_order_id),
            timestamp_ms=created_ms,
        )

    def _headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        return l2_headers(self.credentials.signer.address, self.credentials.api,
                          self.clock.now_micros() // 1_000_000, method, path, body)

    async def _place(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck:
        order = self._order(market, request)
        payload = order_payload(
            await sign(order, self.domain, self.credentials.signer),
            owner=self.credentials.api.api_key,
            order_type=_ORDER_TYPES[request.tif],
        )
        body = encode_body(payload)
        try:
            status, raw = await self.transport.request(
                "POST", "/order", headers=self._headers("POST", "/order", body), body=body)
        except RequestTimeout:
            return await self._reconcile(market, request)
        reply = _json(raw)
        if status != 200 or not reply.get("success"):
            reason = str(reply.get("errorMsg") or reply.get("error") or f"HTTP {status}")
            if "INVALID_ORDER_DUPLICATED" in reason:  # an earlier send got through
                return await self._reconcile(market, request)
            return await self.rejected(request, reason)
        return await self.accepted(request, str(reply["orderID"]), self.fees[market.market_id],
                                   venue_filled=int(reply.get("takingAmount") or 0))

    async def _cancel(self, venue_order_id: str) -> tuple[bool, str]:
        body = encode_body({"orderID": venue_order_id})
        status, raw = await self.transport.request(
            "DELETE", "/order", headers=self._headers("DELETE", "/order", body), body=body)
        reply = _json(raw)
        if status == 200 and venue_order_id in reply.get("canceled", []):
            return True, ""
        return False, str(reply.get("not_canceled", {}).get(venue_order_id)
                          or reply.get("error") or f"HTTP {status}")

    async def _positions(self) -> dict[tuple[str, Outcome], int]:
        """Data API ``GET /positions?user=``: token balances, mapped to our markets."""
        status, raw = await self.transport.request(
            "GET", "/positions", query={"user": self.credentials.signer.address})
        if status != 200:
            raise VenueMessageError(f"positions: HTTP {status} {raw[:200]!r}")
        outcomes = {token: (m.market_id, outcome) for m in self.markets.values()
                    for outcome, token in ((Outcome.YES, m.yes_token), (Outcome.NO, m.no_token))}
        held: dict[tuple[str, Outcome], int] = {}
        for row in orjson.loads(raw):
            key = outcomes.get(str(row["asset"]))
            if key is not None:
                held[key] = held.get(key, 0) + parse_micros(str(row["size"]), "size")
        return held

    async def _open_orders(self) -> list[tuple[str, str]]:
        found, cursor = [], "MA=="
        while cursor != "LTE=":
            status, raw = await self.transport.request(
                "GET", "/data/orders", query={"next_cursor": cursor},
                headers=self._headers("GET", "/data/orders"))
            page = _json(raw)
            if status != 200:
                raise VenueMessageError(f"open orders: HTTP {status} {page}")
            found += [(str(o["id"]), "") for o in page.get("data", [])]
            cursor = page.get("next_cursor") or "LTE="
        return found

    async def _reconcile(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck:
        order_id = "0x" + order_digest(self._order(market, request), self.domain).hex()
        path = f"/data/order/{order_id}"
        status, raw = await self.transport.request("GET", path, headers=self._headers("GET", path))
        if status == 404:
            return await self.rejected(request, "the venue never received this order")
        found = _json(raw)
        if status != 200:
            raise VenueMessageError(f"order lookup {order_id} failed: HTTP {status} {found}")
        fills = []
        for trade_id in found.get("associate_trades", []):
            trades = await self.transport.request(
                "GET", "/data/trades", query={"id": trade_id},
                headers=self._headers("GET", "/data/trades"))
            for trade in _json(trades[1]).get("data", []):
                fills.append(VenueFill(order_id, trade["id"], parse_micros(trade["price"], "price"),
                                       parse_micros(trade["size"], "size")))
        return await self.accepted(request, order_id, self.fees[market.market_id], fills,
                                   done=found.get("status") != "LIVE",
                                   venue_filled=parse_micros(found["size_matched"], "size_matched"))


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
