"""Emulated Kalshi trade API v2 (fixed-point era): V2 order entry and the WebSocket
`orderbook_delta` (snapshot + signed deltas with per-subscription `seq`) and `fill` channels.

Kalshi publishes bids only: YES bids are the YES book's bids and a NO bid at q is a YES ask
at 1 - q. V2 orders are `side: bid|ask` on the YES book with a dollar `price` and an fp
`count` string.
"""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal, InvalidOperation

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from arbiter.core.fees import KALSHI_TAKER
from arbiter.core.instruments import Venue
from arbiter.core.units import ONE_DOLLAR, notional, price_from_decimal, qty_from_decimal
from arbiter.emulators.matching import BookSide, Tif, Trade
from arbiter.emulators.venue import ACCOUNT, EmulatedVenue, HttpResponse, WsSession
from arbiter.emulators.wire import dollars, size_text
from arbiter.gateways.kalshi.auth import (
    KALSHI_ACCESS_KEY,
    KALSHI_ACCESS_SIGNATURE,
    KALSHI_ACCESS_TIMESTAMP,
    WS_PATH,
    signing_string,
    verify_signature,
)

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

API = "/trade-api/v2"
_TIF = {"good_till_canceled": Tif.GTC, "immediate_or_cancel": Tif.IOC, "fill_or_kill": Tif.FOK}


class KalshiEmulator(EmulatedVenue):
    venue = Venue.KALSHI
    open_registration = False
    """Paper mode only: POST /api_keys without an existing key's signature. The venue signs
    key creation with a key made in its web UI; a standalone emulator has no UI, so a run
    that wants out-of-process gateways to onboard sets this on the instance."""

    def __init__(self) -> None:
        super().__init__()
        self._sid = 0
        self.keys: dict[str, PublicKey] = {}
        self.orders: dict[str, dict[str, object]] = {}  # our orders by order id
        self._by_client_id: dict[str, str] = {}
        self.fills: list[dict[str, object]] = []  # our fills, oldest first

    def register_key(self, key_id: str, public_key: PublicKey) -> None:
        """An API key as created in the Kalshi UI: its id and public key."""
        self.keys[key_id] = public_key

    def ws_authorized(self, headers: dict[str, str]) -> bool:
        """The WebSocket upgrade is signed like a request: `GET` + `/trade-api/ws/v2`."""
        return self._authenticated("GET", WS_PATH, headers)

    def _create_api_key(self, method: str, path: str, headers: dict[str, str],
                        body: bytes) -> HttpResponse:
        """POST /api_keys {"name", "public_key": PEM} -> {"api_key_id"}; the id is derived
        from the public key, so registering the same key again returns the same id."""
        if not (self.open_registration or self._authenticated(method, path, headers)):
            return _error(401, "unauthorized", "invalid or missing KALSHI-ACCESS signature")
        try:
            request = orjson.loads(body)
            if not request.get("name"):
                raise ValueError("name is required")
            key = serialization.load_pem_public_key(request["public_key"].encode())
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            return _error(400, "invalid_parameters", f"invalid api key request: {exc}")
        if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
            return _error(400, "invalid_parameters",
                          f"public_key is {type(key).__name__}; use RSA or Ed25519")
        der = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        key_id = str(uuid.UUID(bytes=hashlib.sha256(der).digest()[:16], version=4))
        self.register_key(key_id, key)
        return HttpResponse.json(201, {"api_key_id": key_id})

    def _authenticated(self, method: str, path: str, headers: dict[str, str]) -> bool:
        key = self.keys.get(headers.get(KALSHI_ACCESS_KEY, ""))
        timestamp = headers.get(KALSHI_ACCESS_TIMESTAMP, "")
        if key is None or not timestamp.isdigit():
            return False
        message = signing_string(int(timestamp), method, path).encode()
        return verify_signature(key, message, headers.get(KALSHI_ACCESS_SIGNATURE, ""))

    # -- WebSocket -------------------------------------------------------------------
    async def on_ws_frame(self, session: WsSession, frame: bytes) -> None:
        msg = orjson.loads(frame)
        if msg.get("cmd") == "update_subscription":
            await self._update_subscription(session, msg)
            return
        if msg.get("cmd") != "subscribe":
            await session.push({"id": msg.get("id"), "type": "error",
                                "msg": {"code": 5, "msg": "Unknown command"}})
            return
        params = msg.get("params", {})
        tickers = params.get("market_tickers") or [params.get("market_ticker")]
        for channel in params.get("channels", []):
            self._sid += 1
            sid = self._sid
            markets = {t for t in tickers if t in self.engines} if channel == "orderbook_delta" \
                else set(self.engines)
            session.subscriptions[sid] = markets
            session.channels[sid] = channel
            await session.push({"id": msg.get("id"), "type": "subscribed",
                                "msg": {"channel": channel, "sid": sid}})
            if channel == "orderbook_delta":
                for ticker in sorted(markets):
                    await self._send_snapshot(session, sid, ticker)

    async def _update_subscription(self, session: WsSession, msg: dict) -> None:
        """Only `get_snapshot` is emulated: fresh snapshots on the same sid, seq continuing."""
        params = msg.get("params", {})
        sids = params.get("sids") or []
        if len(sids) != 1:
            await session.push({"id": msg.get("id"), "type": "error", "msg": {
                "code": 12, "msg": "Exactly one subscription ID is required"}})
            return
        sid = sids[0]
        if sid not in session.subscriptions:
            await session.push({"id": msg.get("id"), "type": "error",
                                "msg": {"code": 7, "msg": "Unknown subscription ID"}})
            return
        if params.get("action") != "get_snapshot":
            await session.push({"id": msg.get("id"), "type": "error",
                                "msg": {"code": 13, "msg": "Unsupported action"}})
            return
        for ticker in sorted(session.subscriptions[sid]):
            await self._send_snapshot(session, sid, ticker)

    async def _send_snapshot(self, session: WsSession, sid: int, ticker: str) -> None:
        bids, asks = self.engines[ticker].snapshot()
        known = session.levels[(sid, ticker)]
        known.clear()
        known.update({(BookSide.BID, p): q for p, q in bids})
        known.update({(BookSide.ASK, p): q for p, q in asks})
        await self._push_seq(session, sid, "orderbook_snapshot", self._snapshot(ticker))

    async def _push_seq(self, session: WsSession, sid: int, kind: str, msg: dict) -> None:
        session.seq[sid] += 1
        await session.push({"type": kind, "sid": sid, "seq": session.seq[sid], "msg": msg})

    def _snapshot(self, ticker: str) -> dict[str, object]:
        bids, asks = self.engines[ticker].snapshot()
        msg: dict[str, object] = {"market_ticker": ticker, "market_id": ticker}
        if bids:
            msg["yes_dollars_fp"] = [[dollars(p, 4), size_text(q, 2)] for p, q in reversed(bids)]
        if asks:
            msg["no_dollars_fp"] = [
                [dollars(ONE_DOLLAR - p, 4), size_text(q, 2)] for p, q in asks
            ]
        return msg

    async def push_book_changes(
        self, market_id: str, changes: list[tuple[BookSide, int, int]]
    ) -> None:
        for session in list(self.sessions):
            for sid, markets in list(session.subscriptions.items()):
                if market_id not in markets or session.channels[sid] != "orderbook_delta":
                    continue
                previous = session.levels[(sid, market_id)]
                for side, price, total in changes:
                    key = (side, price)
                    delta = total - previous.get(key, 0)
                    previous[key] = total
                    if not delta:
                        continue
                    kalshi_price = price if side is BookSide.BID else ONE_DOLLAR - price
                    await self._push_seq(session, sid, "orderbook_delta", {
                        "market_ticker": market_id,
                        "market_id": market_id,
                        "price_dollars": dollars(kalshi_price, 4),
                        "delta_fp": size_text(delta, 2),
                        "side": "yes" if side is BookSide.BID else "no",
                        "ts_ms": self.now_ms,
                    })

    # -- REST ------------------------------------------------------------------------
    async def handle_http(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> HttpResponse:
        if method == "POST" and path == f"{API}/api_keys":
            return self._create_api_key(method, path, headers, body)
        if method == "POST" and path == f"{API}/portfolio/events/orders":
            if not self._authenticated(method, path, headers):
                return _error(401, "unauthorized", "invalid or missing KALSHI-ACCESS signature")
            return await self._create_order(body)
        if method == "GET" and path in (f"{API}/portfolio/orders", f"{API}/portfolio/fills",
                                        f"{API}/portfolio/positions"):
            if not self._authenticated(method, path, headers):
                return _error(401, "unauthorized", "invalid or missing KALSHI-ACCESS signature")
            return self._portfolio(path, query)
        if method == "DELETE" and path.startswith(f"{API}/portfolio/events/orders/"):
            if not self._authenticated(method, path, headers):
                return _error(401, "unauthorized", "invalid or missing KALSHI-ACCESS signature")
            return self._cancel(path.rsplit("/", 1)[1])
        if method == "GET" and path == f"{API}/exchange/status":  # public health check
            return HttpResponse.json(200, {"exchange_active": True, "trading_active": True})
        if method == "GET" and path.startswith(f"{API}/markets/") and path.endswith("/orderbook"):
            ticker = path[len(f"{API}/markets/"):-len("/orderbook")]
            if ticker not in self.engines:
                return HttpResponse.json(404, {"error": {"code": "not_found",
                                                         "message": f"market {ticker} not found"}})
            snap = self._snapshot(ticker)
            return HttpResponse.json(200, {"orderbook_fp": {
                "yes_dollars": snap.get("yes_dollars_fp", []),
                "no_dollars": snap.get("no_dollars_fp", [])}})
        return HttpResponse.json(404, {"error": {"code": "not_found",
                                                 "message": f"no route {method} {path}"}})

    async def _create_order(self, body: bytes) -> HttpResponse:
        try:
            req = orjson.loads(body)
            ticker = req["ticker"]
            side = req["side"]
            price = price_from_decimal(Decimal(req["price"]))
            count = qty_from_decimal(Decimal(req["count"]))
            tif = _TIF[req["time_in_force"]]
            client_order_id = req.get("client_order_id", "")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
            return _error(400, "invalid_parameters", f"invalid order: {exc}")
        if ticker not in self.engines:
            return _error(404, "market_not_found", f"market {ticker} not found")
        if side not in ("bid", "ask"):
            return _error(400, "invalid_parameters", f"side {side!r} must be bid or ask")
        if count % 1_000_000:
            return _error(400, "invalid_parameters", "fractional counts are not enabled")
        if client_order_id and client_order_id in self._by_client_id:
            return _error(409, "order_already_exists",
                          f"client_order_id {client_order_id} was already used")
        book_side = BookSide.BID if side == "bid" else BookSide.ASK
        result = self.engines[ticker].submit(ACCOUNT, book_side, price, count, tif, client_order_id)
        if result.rejected:
            return _error(400, "invalid_order", result.rejected)
        fills = [(t.price if side == "bid" else ONE_DOLLAR - t.price, t.qty) for t in result.trades]
        fee = KALSHI_TAKER.fee(fills) if fills else 0
        sign = 1 if side == "bid" else -1
        for price_paid, qty in fills:
            self.account.positions[ticker] += sign * qty
            self.account.cash -= notional(price_paid, qty)
        self.account.cash -= fee
        self.account.fees += fee
        filled = result.filled
        self.orders[result.order_id] = {
            "order_id": result.order_id, "client_order_id": client_order_id, "ticker": ticker,
            "status": "resting" if result.resting else ("executed" if not result.canceled
                                                         else "canceled"),
            "book_side": side, "outcome_side": "yes" if side == "bid" else "no",
            "yes_price_dollars": dollars(price, 4), "initial_count_fp": size_text(count, 2),
            "fill_count_fp": size_text(filled, 2), "remaining_count_fp": size_text(result.resting, 2),
        }
        if client_order_id:
            self._by_client_id[client_order_id] = result.order_id
        remaining_fee = fee
        for index, trade in enumerate(result.trades):
            trade_fee = remaining_fee if index == len(result.trades) - 1 else 0
            remaining_fee -= trade_fee
            await self._push_fill(ticker, result.order_id, client_order_id, side, trade, trade_fee)
        avg = (sum(t.price * t.qty for t in result.trades) // filled) if filled else 0
        return HttpResponse.json(201, {
            "order_id": result.order_id,
            "client_order_id": client_order_id,
            "fill_count": size_text(filled, 2),
            "remaining_count": size_text(result.resting, 2),
            "average_fill_price": dollars(avg, 4),
            "average_fee_paid": dollars(fee, 4),
            "ts_ms": self.now_ms,
        })

    def _cancel(self, order_id: str) -> HttpResponse:
        """DELETE /portfolio/events/orders/{id}: what was taken off the book."""
        order = self.orders.get(order_id)
        resting = order is not None and order["status"] == "resting"
        canceled = self.engines[str(order["ticker"])].cancel(order_id) if resting else None
        if order is None or canceled is None:
            return _error(404, "not_found", f"order {order_id} is not resting")
        order["status"], order["remaining_count_fp"] = "canceled", size_text(0, 2)
        return HttpResponse.json(200, {"order_id": order_id,
                                       "client_order_id": order["client_order_id"],
                                       "reduced_by": size_text(canceled.qty, 2),
                                       "ts_ms": self.now_ms})

    def _portfolio(self, path: str, query: dict[str, str]) -> HttpResponse:
        """GET /portfolio/orders?ticker=, /portfolio/fills?order_id=, /portfolio/positions
        (one page each)."""
        if path.endswith("/positions"):
            held = [{"ticker": t, "position_fp": size_text(q, 2)}
                    for t, q in sorted(self.account.positions.items()) if q]
            return HttpResponse.json(200, {"market_positions": held, "event_positions": [],
                                           "cursor": ""})
        if path.endswith("/orders"):
            ticker = query.get("ticker")
            orders = [o for o in self.orders.values() if ticker in (None, o["ticker"])]
            return HttpResponse.json(200, {"orders": orders, "cursor": ""})
        order_id = query.get("order_id")
        fills = [f for f in self.fills if order_id in (None, f["order_id"])]
        return HttpResponse.json(200, {"fills": fills, "cursor": ""})

    async def _push_fill(self, ticker: str, order_id: str, client_order_id: str, side: str,
                         trade: Trade, fee: int) -> None:
        self.fills.append({
            "fill_id": trade.trade_id, "trade_id": trade.trade_id, "order_id": order_id,
            "ticker": ticker, "book_side": side, "outcome_side": "yes" if side == "bid" else "no",
            "side": "yes" if side == "bid" else "no",
            "yes_price_dollars": dollars(trade.price, 4), "count_fp": size_text(trade.qty, 2),
            "fee_cost": dollars(fee, 4), "is_taker": True, "ts": self.now_ms // 1000,
        })
        for session in list(self.sessions):
            for sid in list(session.subscriptions):
                if session.channels[sid] != "fill":
                    continue
                await self._push_seq(session, sid, "fill", {
                    "trade_id": trade.trade_id,
                    "order_id": order_id,
                    "client_order_id": client_order_id,
                    "market_ticker": ticker,
                    "is_taker": True,
                    "side": "yes" if side == "bid" else "no",
                    "outcome_side": "yes" if side == "bid" else "no",
                    "book_side": side,
                    "yes_price_dollars": dollars(trade.price, 4),
                    "count_fp": size_text(trade.qty, 2),
                    "fee_cost": dollars(fee, 4),
                    "action": "buy",
                    "ts_ms": self.now_ms,
                })


def _error(status: int, code: str, message: str) -> HttpResponse:
    return HttpResponse.json(status, {"error": {"code": code, "message": message}})
