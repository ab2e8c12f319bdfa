"""Emulated NonceX: HMAC-signed REST order entry with per-key nonces, and one WebSocket
(`/v1/ws`) carrying book snapshots, per-market sequenced level updates and our fills.

Nonce rule (`NonceLedger`): a key's nonce is accepted once, if it is not older than the
oldest of the last `NONCES_KEPT` accepted and less than `NONCE_AHEAD` past the highest; so
requests may arrive out of order and a nonce that never arrives is skipped, but a reused or
runaway nonce gets a typed error (`nonce_reused`, `nonce_too_far_ahead`).
"""

from __future__ import annotations

import base64
import bisect
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market
from arbiter.core.units import ONE_DOLLAR, notional
from arbiter.emulators.matching import BookSide, Tif, Trade
from arbiter.emulators.venue import (
    ACCOUNT,
    EmulatedVenue,
    EmulatorSurface,
    HttpResponse,
    WsSession,
)
from arbiter.emulators.wire import dollars, size_text

from .codec import (
    API,
    NONCE_AHEAD,
    NONCES_KEPT,
    NX_KEY,
    NX_SIGN,
    NX_TS,
    ORDERS_PATH,
    WS_PATH,
    ErrorCode,
    FillRecord,
    OrderBody,
    OrderRecord,
    OrderStatus,
    Side,
    WireError,
    error_body,
    hmac_verify,
    signing_string,
)
from .config import VENUE

_TIF = {"gtc": Tif.GTC, "ioc": Tif.IOC, "fok": Tif.FOK}
BOOKS, FILLS = 0, -1
"""`WsSession.subscriptions` slots: the book markets, and (any entry) the fill stream."""


class NonceLedger:
    """One key's accepted nonces (the newest `kept`), and the rule for the next one."""

    def __init__(self, kept: int = NONCES_KEPT, ahead: int = NONCE_AHEAD) -> None:
        self.kept, self.ahead = kept, ahead
        self._used: list[int] = []  # ascending

    @property
    def next_nonce(self) -> int:
        return self._used[-1] + 1 if self._used else 0

    def refusal(self, nonce: int) -> tuple[ErrorCode, str] | None:
        full = len(self._used) == self.kept
        index = bisect.bisect_left(self._used, nonce)
        if (index < len(self._used) and self._used[index] == nonce) or (
                full and nonce < self._used[0]):
            return ErrorCode.NONCE_REUSED, f"nonce {nonce} was already used"
        if nonce >= self.next_nonce + self.ahead:
            return ErrorCode.NONCE_TOO_FAR_AHEAD, (
                f"nonce {nonce} is more than {self.ahead} ahead of {self.next_nonce}")
        return None

    def accept(self, nonce: int) -> None:
        bisect.insort(self._used, nonce)
        del self._used[:-self.kept]


@dataclass(slots=True)
class _Order:
    order_id: str
    body: OrderBody
    filled: int = 0
    status: OrderStatus = OrderStatus.OPEN

    def record(self) -> OrderRecord:
        b = self.body
        return OrderRecord(self.order_id, b.client_id, b.market, b.side, b.price, b.size,
                           self.filled, self.status, b.nonce)


class NoncexError(Exception):
    """A request the venue refuses, with its HTTP status and typed code."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code

    def response(self) -> HttpResponse:
        return HttpResponse.json(self.status, error_body(self.code, str(self)))


class NoncexEmulator(EmulatedVenue):
    venue = VENUE
    surface = EmulatorSurface(
        ws_routes={WS_PATH: "ws"}, book_channel="ws", order_paths=frozenset({ORDERS_PATH}),
        error_bodies={
            400: error_body(ErrorCode.INSUFFICIENT_BALANCE, "insufficient balance"),
            401: error_body(ErrorCode.UNAUTHORIZED, "bad or missing NX signature"),
            429: error_body(ErrorCode.RATE_LIMITED, "too many requests"),
            500: error_body(ErrorCode.INTERNAL, "internal error"),
            503: error_body(ErrorCode.UNAVAILABLE, "unavailable"),
        },
        default_port=8603,
    )

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, bytes] = {}
        self.nonces: dict[str, NonceLedger] = {}
        self.fees: dict[str, FeeModel] = {}
        self.orders: dict[str, _Order] = {}
        self._by_client: dict[str, str] = {}
        self.fills: list[FillRecord] = []
        self._index: dict[str, int] = {}  # market -> its `WsSession.seq` slot
        self.settled: dict[str, int] = {}  # market -> what one YES contract paid

    def list_market(self, market: Market, fees: FeeModel) -> None:
        self.add_market(market.market_id, market.tick_micros)
        self.fees[market.market_id] = fees
        self._index[market.market_id] = len(self._index) + 1

    async def resolve(self, market_id: str, yes_payout: int) -> None:
        """Settle at once: every contract pays its side's value and the position closes."""
        self.settled[market_id] = yes_payout
        for outcome, pays in (("yes", yes_payout), ("no", ONE_DOLLAR - yes_payout)):
            self.account.cash += notional(pays, self.account.positions.pop(
                f"{market_id}:{outcome}", 0))

    def intent_key(self, method: str, path: str, body: bytes) -> str | None:
        if method != "POST" or path != ORDERS_PATH:
            return None
        client_id = orjson.loads(body).get("client_id")
        return None if client_id is None else f"{VENUE}:{client_id}"

    # -- auth --------------------------------------------------------------------------
    def _key(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> str:
        key_id = headers.get(NX_KEY, "")
        secret, ts = self.secrets.get(key_id), headers.get(NX_TS, "")
        if secret is None or not ts.isdigit() or not hmac_verify(
                secret, signing_string(int(ts), method, path, body), headers.get(NX_SIGN, "")):
            raise NoncexError(401, ErrorCode.UNAUTHORIZED, "bad or missing NX signature")
        return key_id

    def ws_authorized(self, headers: Mapping[str, str]) -> bool:
        try:
            self._key("GET", WS_PATH, headers, b"")
        except NoncexError:
            return False
        return True

    # -- REST --------------------------------------------------------------------------
    async def handle_http(self, method: str, path: str, query: dict[str, str],
                          headers: dict[str, str], body: bytes) -> HttpResponse:
        try:
            if (method, path) == ("GET", f"{API}/time"):
                return HttpResponse.json(200, {"server_ms": time.time_ns() // 1_000_000})
            if (method, path) == ("POST", f"{API}/keys"):
                return self._new_key()
            key_id = self._key(method, path, headers, body)
            if (method, path) == ("GET", f"{API}/nonce"):
                return HttpResponse.json(200, {"next_nonce": self._ledger(key_id).next_nonce})
            if (method, path) == ("POST", ORDERS_PATH):
                return await self._place(key_id, body)
            if method == "DELETE" and path.startswith(f"{ORDERS_PATH}/"):
                return self._cancel(path.removeprefix(f"{ORDERS_PATH}/"))
            if (method, path) == ("GET", ORDERS_PATH):
                return HttpResponse.json(200, {"orders": [
                    o.record().to_json() for o in self.orders.values()
                    if query.get("status") in (None, o.status.value)
                    and query.get("client_id") in (None, o.body.client_id)
                    and query.get("market") in (None, o.body.market)]})
            if (method, path) == ("GET", f"{API}/fills"):
                return HttpResponse.json(200, {"fills": [
                    f.to_json() for f in self.fills
                    if query.get("order_id") in (None, f.order_id)]})
            if (method, path) == ("GET", f"{API}/balance"):
                return HttpResponse.json(200, {"cash": dollars(self.account.balance)})
            if (method, path) == ("GET", f"{API}/settlements"):
                return HttpResponse.json(200, {"settlements": [
                    {"market": market, "yes_payout": dollars(pays)}
                    for market, pays in sorted(self.settled.items())]})
            if (method, path) == ("GET", f"{API}/positions"):
                return HttpResponse.json(200, {"positions": [
                    {"market": key.rsplit(":", 1)[0], "outcome": key.rsplit(":", 1)[1],
                     "size": size_text(qty)}
                    for key, qty in sorted(self.account.positions.items()) if qty]})
            raise NoncexError(404, ErrorCode.NOT_FOUND, f"no route {method} {path}")
        except NoncexError as exc:
            return exc.response()

    def _new_key(self) -> HttpResponse:
        """Paper onboarding: the venue issues a key id and its HMAC secret."""
        if not self.open_registration:
            raise NoncexError(401, ErrorCode.UNAUTHORIZED, "key registration is closed")
        key_id = f"nx-{len(self.secrets) + 1}"
        self.secrets[key_id] = os.urandom(32)
        return HttpResponse.json(201, {"key_id": key_id,
                                       "secret": base64.b64encode(self.secrets[key_id]).decode()})

    def _ledger(self, key_id: str) -> NonceLedger:
        return self.nonces.setdefault(key_id, NonceLedger())

    async def _place(self, key_id: str, raw: bytes) -> HttpResponse:
        try:
            order = OrderBody.from_json(orjson.loads(raw))
        except (orjson.JSONDecodeError, WireError) as exc:
            raise NoncexError(400, ErrorCode.BAD_REQUEST, str(exc)) from None
        engine = self.engines.get(order.market)
        if engine is None:
            raise NoncexError(404, ErrorCode.UNKNOWN_MARKET, f"no market {order.market!r}")
        ledger = self._ledger(key_id)
        refusal = ledger.refusal(order.nonce)
        if refusal is not None:
            raise NoncexError(409 if refusal[0] is ErrorCode.NONCE_REUSED else 400, *refusal)
        if order.client_id in self._by_client:
            raise NoncexError(409, ErrorCode.DUPLICATE_CLIENT_ID,
                              f"client_id {order.client_id!r} was already used")
        ledger.accept(order.nonce)
        buys_yes = order.side is Side.BUY_YES
        result = engine.submit(ACCOUNT, BookSide.BID if buys_yes else BookSide.ASK,
                               order.price if buys_yes else ONE_DOLLAR - order.price,
                               order.size, _TIF[order.tif.value], order.client_id)
        if result.rejected:
            raise NoncexError(400, ErrorCode.INVALID_ORDER, result.rejected)
        placed = self.orders[result.order_id] = _Order(result.order_id, order)
        self._by_client[order.client_id] = result.order_id
        fills = [await self._fill(placed, trade) for trade in result.trades]
        placed.status = OrderStatus.OPEN if result.resting else (
            OrderStatus.FILLED if placed.filled == order.size else OrderStatus.CANCELED)
        return HttpResponse.json(201, {"order": placed.record().to_json(),
                                       "fills": [f.to_json() for f in fills]})

    async def _fill(self, order: _Order, trade: Trade) -> FillRecord:
        """Book one trade of our order and tell the fill stream."""
        body = order.body
        price = trade.price if body.side is Side.BUY_YES else ONE_DOLLAR - trade.price
        fee = self.fees[body.market].fee([(price, trade.qty)])
        order.filled += trade.qty
        outcome = "yes" if body.side is Side.BUY_YES else "no"
        self.account.positions[f"{body.market}:{outcome}"] += trade.qty
        self.account.cash -= notional(price, trade.qty) + fee
        self.account.fees += fee
        fill = FillRecord(f"{trade.trade_id}:{order.order_id}", order.order_id, price,
                          trade.qty, fee)
        self.fills.append(fill)
        for session in self.sessions:
            if FILLS in session.subscriptions:
                await session.push({"type": "fill", **fill.to_json()})
        return fill

    def _cancel(self, order_id: str) -> HttpResponse:
        order = self.orders.get(order_id)
        if order is None or order.status is not OrderStatus.OPEN:
            raise NoncexError(404, ErrorCode.NOT_FOUND, f"no open order {order_id!r}")
        resting = self.engines[order.body.market].cancel(order_id)
        order.status = OrderStatus.CANCELED
        return HttpResponse.json(200, {"order": order.record().to_json(),
                                       "canceled": size_text(resting.qty if resting else 0)})

    def expire(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is not None and order.status is OrderStatus.OPEN:
            self.engines[order.body.market].cancel(order_id)
            order.status = OrderStatus.CANCELED

    async def settle_maker_fill(self, market_id: str, trade: Trade) -> None:
        order = self.orders[trade.maker_order_id]
        await self._fill(order, trade)
        if order.filled == order.body.size:
            order.status = OrderStatus.FILLED

    # -- WebSocket ---------------------------------------------------------------------
    async def on_ws_frame(self, session: WsSession, frame: bytes) -> None:
        msg = orjson.loads(frame)
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "fills":
            session.subscriptions[FILLS] = set()
            await session.push({"type": "subscribed", "channel": "fills"})
        elif op == "subscribe" and isinstance(msg.get("markets"), list):
            markets = [m for m in msg["markets"] if m in self.engines]
            session.subscriptions.setdefault(BOOKS, set()).update(markets)
            await session.push({"type": "subscribed", "channel": "books", "markets": markets})
            for market in markets:
                await self._snapshot(session, market)
        else:
            await session.push({"type": "error", "code": ErrorCode.BAD_REQUEST.value,
                                "message": f"unknown op {op!r}"})

    async def _snapshot(self, session: WsSession, market: str) -> None:
        slot = self._index[market]
        session.seq[slot] = 1
        bids, asks = self.engines[market].snapshot()
        await session.push({"type": "book", "market": market, "seq": 1,
                            "bids": [[dollars(p), size_text(q)] for p, q in bids],
                            "asks": [[dollars(p), size_text(q)] for p, q in asks]})

    async def push_book_changes(self, market_id: str,
                                changes: list[tuple[BookSide, int, int]]) -> None:
        slot = self._index[market_id]
        for session in list(self.sessions):
            if market_id not in session.subscriptions.get(BOOKS, ()):
                continue
            for side, price, total in changes:
                session.seq[slot] += 1
                await session.push({"type": "level", "market": market_id,
                                    "seq": session.seq[slot],
                                    "side": "bid" if side is BookSide.BID else "ask",
                                    "price": dollars(price), "size": size_text(total)})
