"""Emulated Polymarket CLOB V2: REST order entry and the market/user WebSocket channels.

Each market (condition id) has a YES and a NO token on one book: buying NO at q is an ask
on the YES book at 1 - q, which is how the real CLOB mirrors complementary tokens.
Order bodies are the V2 JSON (`makerAmount`/`takerAmount` in 6-decimal base units, side
"BUY"/"SELL"); price and size are recovered from the amounts exactly as the venue does.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass

import orjson
from eth_utils import to_checksum_address

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, notional
from arbiter.emulators.matching import BookSide, SubmitResult, Tif
from arbiter.emulators.venue import ACCOUNT, EmulatedVenue, HttpResponse, WsSession
from arbiter.emulators.wire import dollars, size_text
from arbiter.gateways.polymarket.amounts import Side
from arbiter.gateways.polymarket.auth import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    ApiCreds,
    clob_auth_digest,
    hmac_signature,
)
from arbiter.gateways.polymarket.signing import (
    POLYGON_CHAIN_ID,
    ExchangeDomain,
    Order,
    SignatureType,
    order_digest,
    recover_digest_signer,
    recover_order_signer,
)

# Polymarket has no subscription ids; these key the two channels in WsSession.subscriptions.
MARKET_SID, USER_SID = 0, 1
_TIF = {"GTC": Tif.GTC, "GTD": Tif.GTC, "FAK": Tif.IOC, "FOK": Tif.FOK}


@dataclass(frozen=True, slots=True)
class TokenRef:
    condition_id: str
    outcome: Outcome


class PolymarketEmulator(EmulatedVenue):
    venue = Venue.POLYMARKET

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, TokenRef] = {}
        self.token_ids: dict[str, tuple[str, str]] = {}  # condition -> (yes, no)
        self.fees: dict[str, FeeModel] = {}
        self.api_keys: dict[str, tuple[ApiCreds, str]] = {}  # api key -> (creds, signer address)
        self.domain = ExchangeDomain.for_market(POLYGON_CHAIN_ID, neg_risk=False)
        self.orders: dict[str, dict[str, object]] = {}  # our orders by order hash
        self.trades: dict[str, dict[str, object]] = {}  # our trades by trade id
        self._resting: dict[str, tuple[str, str]] = {}  # order hash -> (market, engine id)

    def register_api_key(self, creds: ApiCreds, address: str) -> None:
        """What POST /auth/api-key would have created for `address`."""
        self.api_keys[creds.api_key] = (creds, address)

    def add_binary_market(
        self, condition_id: str, yes_token: str, no_token: str, tick: int, fee: FeeModel
    ) -> None:
        self.add_market(condition_id, tick)
        self.tokens[yes_token] = TokenRef(condition_id, Outcome.YES)
        self.tokens[no_token] = TokenRef(condition_id, Outcome.NO)
        self.token_ids[condition_id] = (yes_token, no_token)
        self.fees[condition_id] = fee

    # -- WebSocket -------------------------------------------------------------------
    async def on_ws_frame(self, session: WsSession, frame: bytes) -> None:
        if frame == b"PING":
            await session.sink(b"PONG")
            return
        msg = orjson.loads(frame)
        if msg.get("type") == "market" or "assets_ids" in msg:
            assets = [a for a in msg.get("assets_ids", []) if a in self.tokens]
            session.subscriptions[MARKET_SID] = session.subscriptions.get(MARKET_SID, set()) | set(assets)
            session.channels[MARKET_SID] = "market"
            for asset in assets:
                await session.push([self._book_event(asset)])
        elif msg.get("type") == "user":
            session.subscriptions[USER_SID] = set(msg.get("markets") or self.engines)
            session.channels[USER_SID] = "user"

    def _book_event(self, asset: str) -> dict[str, object]:
        ref = self.tokens[asset]
        bids, asks = self.engines[ref.condition_id].snapshot()
        if ref.outcome is Outcome.NO:
            bids, asks = _mirror(asks), _mirror(bids)
        return {
            "event_type": "book",
            "asset_id": asset,
            "market": ref.condition_id,
            "bids": [{"price": dollars(p), "size": size_text(q)} for p, q in reversed(bids)],
            "asks": [{"price": dollars(p), "size": size_text(q)} for p, q in reversed(asks)],
            "timestamp": str(self.now_ms),
            "hash": "",
        }

    async def push_book_changes(
        self, market_id: str, changes: list[tuple[BookSide, int, int]]
    ) -> None:
        yes, no = self.token_ids[market_id]
        items = []
        for side, price, total in changes:
            items.append((yes, "BUY" if side is BookSide.BID else "SELL", price, total))
            items.append((no, "SELL" if side is BookSide.BID else "BUY", ONE_DOLLAR - price, total))
        for session in list(self.sessions):
            assets = session.subscriptions.get(MARKET_SID, set())
            price_changes = [
                {"asset_id": a, "price": dollars(p), "size": size_text(q), "side": s, "hash": ""}
                for a, s, p, q in items
                if a in assets
            ]
            if price_changes:
                await session.push(
                    {
                        "event_type": "price_change",
                        "market": market_id,
                        "timestamp": str(self.now_ms),
                        "price_changes": price_changes,
                    }
                )

    # -- REST ------------------------------------------------------------------------
    async def handle_http(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> HttpResponse:
        if method == "POST" and path == "/order":
            denied = self._check_l2(method, path, headers, body)
            return denied or await self._post_order(body)
        if method == "GET" and (path.startswith("/data/order/") or path == "/data/trades"):
            return self._check_l2(method, path, headers, body) or self._lookup(path, query)
        if (method, path) in (("POST", "/auth/api-key"), ("GET", "/auth/derive-api-key")):
            return self._l1_api_key(headers)
        if method == "GET" and path == "/positions":
            return self._positions(query)
        if method == "GET" and path == "/book":
            token = query.get("token_id", "")
            if token not in self.tokens:
                return HttpResponse.json(404, {"error": "No orderbook exists for the requested token id"})
            event = self._book_event(token)
            return HttpResponse.json(200, {k: v for k, v in event.items() if k != "event_type"})
        if method == "GET" and path == "/time":
            return HttpResponse(200, str(self.now_ms // 1000).encode())
        if method == "GET" and path == "/version":
            return HttpResponse.json(200, {"version": 2})
        if method == "DELETE" and path == "/order":
            return self._check_l2(method, path, headers, body) or self._cancel(body)
        if method == "GET" and path == "/data/orders":  # open orders, one page
            return self._check_l2(method, path, headers, body) or HttpResponse.json(200, {
                "data": [o for o in self.orders.values() if o["status"] == "LIVE"],
                "next_cursor": "LTE="})
        return HttpResponse.json(404, {"error": f"no route {method} {path}"})

    async def _post_order(self, body: bytes) -> HttpResponse:
        try:
            payload = orjson.loads(body)
            order = payload["order"]
            token = str(order["tokenId"])
            maker, taker = int(order["makerAmount"]), int(order["takerAmount"])
            side = order["side"]
            tif = _TIF[payload["orderType"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return HttpResponse.json(400, {"error": "Invalid payload"})
        ref = self.tokens.get(token)
        if ref is None:
            return HttpResponse.json(400, {"error": "Invalid token id"})
        signed = self._verified_order(payload)
        if signed is None:
            return HttpResponse.json(400, {"error": "invalid order signature"})
        order_id = "0x" + order_digest(signed, self.domain).hex()
        if order_id in self.orders:
            return _insert_error("INVALID_ORDER_DUPLICATED", "order is invalid. Duplicated. Same "
                                 "order has already been placed, can't be placed again")
        if side not in ("BUY", "SELL") or maker <= 0 or taker <= 0:
            return HttpResponse.json(400, {"error": "Invalid side"})
        collateral, shares = (maker, taker) if side == "BUY" else (taker, maker)
        price, rem = divmod(collateral * ONE_DOLLAR, shares)
        engine = self.engines[ref.condition_id]
        if rem or price % engine.tick:
            return _insert_error("INVALID_ORDER_MIN_TICK_SIZE",
                                 "order is invalid. Price breaks minimum tick size rules")
        buys_yes = (side == "BUY") == (ref.outcome is Outcome.YES)
        book_side = BookSide.BID if buys_yes else BookSide.ASK
        book_price = price if ref.outcome is Outcome.YES else ONE_DOLLAR - price
        result = engine.submit(ACCOUNT, book_side, book_price, shares, tif)
        if result.rejected:
            return _insert_error("INVALID_ORDER_ERROR", result.rejected)
        if tif is Tif.FOK and not result.trades:
            return _insert_error("FOK_ORDER_NOT_FILLED_ERROR",
                                 "order couldn't be fully filled, FOK orders are fully filled/killed")
        filled = result.filled
        status = "live" if result.resting else ("matched" if filled else "unmatched")
        self.orders[order_id] = {
            "id": order_id, "status": status.upper(), "market": ref.condition_id,
            "asset_id": token, "side": side, "price": dollars(price),
            "original_size": size_text(shares), "size_matched": size_text(filled),
            "associate_trades": [t.trade_id for t in result.trades],
        }
        if result.resting:
            self._resting[order_id] = (ref.condition_id, result.order_id)
        await self._settle(ref, token, side, order_id, result)
        return HttpResponse.json(200, {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": status,
            "makingAmount": str(notional(price, filled) if side == "BUY" else filled),
            "takingAmount": str(filled if side == "BUY" else notional(price, filled)),
            "tradeIDs": [t.trade_id for t in result.trades],
            "transactionsHashes": [],
        })

    def _check_l2(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> HttpResponse | None:
        """L2 auth as the CLOB does it: known API key and passphrase, HMAC over the body."""
        known = self.api_keys.get(headers.get(POLY_API_KEY, ""))
        if known is None or headers.get(POLY_PASSPHRASE) != known[0].passphrase:
            return HttpResponse.json(401, {"error": "Unauthorized/Invalid api key"})
        creds, address = known
        expected = hmac_signature(creds.secret, headers.get(POLY_TIMESTAMP, ""), method, path, body)
        if headers.get(POLY_SIGNATURE) != expected or headers.get(POLY_ADDRESS) != address:
            return HttpResponse.json(401, {"error": "Unauthorized/Invalid api key"})
        return None

    def _l1_api_key(self, headers: dict[str, str]) -> HttpResponse:
        """POST /auth/api-key and GET /auth/derive-api-key: a ClobAuth (L1) signature that
        recovers to POLY_ADDRESS earns that address's key for POLY_NONCE, registered for L2.
        Creds are a pure function of (address, nonce), so create and derive agree and an
        out-of-process gateway onboards itself exactly as against the venue."""
        try:
            address = to_checksum_address(headers[POLY_ADDRESS])
            nonce = int(headers.get(POLY_NONCE) or 0)
            digest = clob_auth_digest(address, int(headers[POLY_TIMESTAMP]), nonce,
                                      self.domain.chain_id)
            signature = bytes.fromhex(headers[POLY_SIGNATURE].removeprefix("0x"))
            valid = recover_digest_signer(digest, signature) == address
        except (KeyError, ValueError):
            valid = False
        if not valid:
            return HttpResponse.json(401, {"error": "Invalid L1 Request headers"})
        creds = _derived_creds(address, nonce)
        self.register_api_key(creds, address)
        return HttpResponse.json(200, {"apiKey": creds.api_key, "secret": creds.secret,
                                       "passphrase": creds.passphrase})

    def _cancel(self, body: bytes) -> HttpResponse:
        """DELETE /order {"orderID"}: canceled ids, or why not, as the CLOB answers."""
        try:
            order_id = str(orjson.loads(body)["orderID"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return HttpResponse.json(400, {"error": "Invalid payload"})
        where = self._resting.pop(order_id, None)
        if where is None or self.engines[where[0]].cancel(where[1]) is None:
            return HttpResponse.json(200, {"canceled": [], "not_canceled": {
                order_id: "order not found or already matched/canceled"}})
        self.orders[order_id]["status"] = "CANCELED"
        return HttpResponse.json(200, {"canceled": [order_id], "not_canceled": {}})

    def _positions(self, query: dict[str, str]) -> HttpResponse:
        """The Data API's GET /positions?user=: our token balances (one account here)."""
        if not query.get("user"):
            return HttpResponse.json(400, {"error": "user is required"})
        held = [{"asset": token, "size": size_text(qty)}
                for token, qty in sorted(self.account.positions.items()) if qty]
        return HttpResponse.json(200, held)

    def _lookup(self, path: str, query: dict[str, str]) -> HttpResponse:
        """GET /data/order/{id} and GET /data/trades?id= for our own account."""
        if path == "/data/trades":
            trade = self.trades.get(query.get("id", ""))
            return HttpResponse.json(200, {"data": [trade] if trade else [], "next_cursor": "LTE="})
        order = self.orders.get(path.removeprefix("/data/order/"))
        if order is None:
            return HttpResponse.json(404, {"error": "order not found"})
        return HttpResponse.json(200, order)

    def _verified_order(self, payload: dict) -> Order | None:
        """The order, if its EIP-712 signature recovers to its signer, who owns the API key."""
        raw = payload["order"]
        known = self.api_keys.get(payload.get("owner", ""))
        try:
            order = Order(
                salt=int(raw["salt"]), maker=raw["maker"], signer=raw["signer"],
                token_id=int(raw["tokenId"]), maker_amount=int(raw["makerAmount"]),
                taker_amount=int(raw["takerAmount"]), side=Side[raw["side"]],
                signature_type=SignatureType(int(raw["signatureType"])),
                timestamp_ms=int(raw["timestamp"]),
                metadata=bytes.fromhex(raw["metadata"].removeprefix("0x")),
                builder=bytes.fromhex(raw["builder"].removeprefix("0x")),
            )
            signer = recover_order_signer(order, raw["signature"], self.domain)
        except (KeyError, ValueError):
            return None
        return order if known is not None and signer == order.signer == known[1] else None

    async def _settle(
        self, ref: TokenRef, token: str, side: str, order_id: str, result: SubmitResult
    ) -> None:
        """Book our fills (positions, cash, taker fee) and push them on the user channel."""
        fills = []
        for trade in result.trades:
            price = trade.price if ref.outcome is Outcome.YES else ONE_DOLLAR - trade.price
            fills.append((price, trade.qty))
            sign = 1 if side == "BUY" else -1
            self.account.positions[token] += sign * trade.qty
            self.account.cash -= sign * notional(price, trade.qty)
        fee = self.fees[ref.condition_id].fee(fills) if fills else 0
        self.account.fees += fee
        self.account.cash -= fee
        for trade, (price, qty) in zip(result.trades, fills, strict=True):
            event = {
                "event_type": "trade",
                "type": "TRADE",
                "id": trade.trade_id,
                "taker_order_id": order_id,
                "market": ref.condition_id,
                "asset_id": token,
                "side": side,
                "size": size_text(qty),
                "price": dollars(price),
                "status": "MATCHED",
                "owner": ACCOUNT,
                "timestamp": str(self.now_ms),
                "maker_orders": [{"order_id": trade.maker_order_id, "asset_id": token,
                                  "matched_amount": size_text(qty), "price": dollars(price)}],
            }
            self.trades[trade.trade_id] = event
            for session in list(self.sessions):
                if ref.condition_id in session.subscriptions.get(USER_SID, set()):
                    await session.push([event])


def _derived_creds(address: str, nonce: int) -> ApiCreds:
    """Emulator API creds: deterministic, and not secret (anyone can recompute them)."""
    def part(label: str) -> bytes:
        return hashlib.sha256(f"arbiter-emulator:{label}:{address.lower()}:{nonce}".encode()).digest()

    return ApiCreds(
        api_key=str(uuid.UUID(bytes=part("key")[:16], version=4)),
        secret=base64.urlsafe_b64encode(part("secret")).decode(),
        passphrase=part("passphrase").hex(),
    )


def _mirror(levels: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(ONE_DOLLAR - p, q) for p, q in levels]


def _insert_error(code: str, message: str) -> HttpResponse:
    return HttpResponse.json(400, {"success": False, "errorMsg": f"{code}: {message}", "error": message})
