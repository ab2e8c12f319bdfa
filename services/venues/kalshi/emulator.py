"""Emulated Kalshi trade API v2 (fixed-point era): order entry (the V2 `/portfolio/events/orders`
routes and the legacy `/portfolio/orders` write path, single and batched), cursor-paged
portfolio reads, and the WebSocket `orderbook_delta` (snapshot + signed deltas with
per-subscription `seq`) and `fill` channels.

Kalshi publishes bids only: YES bids are the YES book's bids and a NO bid at q is a YES ask
at 1 - q. V2 orders are `side: bid|ask` on the YES book with a dollar `price` and an fp
`count` string; legacy orders (`side` yes|no + `action` buy|sell) are translated onto the
same book. Every authenticated key trades for the one emulated account. Markets are listed
(GET /markets, /markets/{ticker}) and settle when a test says so (`settle_market`); orders can
be amended and decreased (V2 and legacy paths) with the venue's queue rules, and their queue
position read. Not emulated: self-trade prevention, subaccount balances, order groups,
open interest and previous-day prices in market records (always zero).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from arbiter.core.fees import KALSHI_TAKER, FeeModel
from arbiter.core.instruments import Market
from arbiter.core.units import (
    CENT,
    ONE_DOLLAR,
    QTY_SCALE,
    notional,
    price_from_decimal,
    qty_from_decimal,
)
from arbiter.emulators.matching import BookSide, Tif, Trade
from arbiter.emulators.venue import (
    ACCOUNT,
    CursorError,
    EmulatedVenue,
    EmulatorSurface,
    HttpResponse,
    WireRecord,
    WsSession,
    decode_cursor,
    encode_cursor,
    page,
)
from arbiter.emulators.wire import dollars, size_text
from arbiter.venues.kalshi.auth import (
    KALSHI_ACCESS_KEY,
    KALSHI_ACCESS_SIGNATURE,
    KALSHI_ACCESS_TIMESTAMP,
    WS_PATH,
    signing_string,
    verify_signature,
)
from arbiter.venues.kalshi.constants import VENUE

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

API = "/trade-api/v2"
_TIF = {"good_till_canceled": Tif.GTC, "immediate_or_cancel": Tif.IOC, "fill_or_kill": Tif.FOK}
DEFAULT_PAGE_LIMIT = 100  # SDK 3.34 get_orders: "Number of results per page. Defaults to 100."
MAX_PAGE_LIMIT = 1000  # SDK 3.34 get_orders: limit le=1000
LEGACY_BATCH_LIMIT = 20  # facts B3.2: "up to 20 orders per batch" on the legacy path
MARKET_LIFETIME_MS = 30 * 24 * 3600 * 1000  # our choice: a listed market closes in 30 days
_PRICE_LEVELS = {CENT: "linear_cent", CENT // 10: "deci_cent"}  # facts B4: tick -> structure
_STATUS_FILTERS = {"unopened": "initialized", "open": "active", "closed": "closed",
                   "settled": "finalized"}  # GET /markets ?status= -> the record's status


class OrderError(ValueError):
    """A request the venue refuses: HTTP status, Kalshi error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def response(self) -> HttpResponse:
        return HttpResponse.json(self.status, {"error": self.body()})


@dataclass(frozen=True, slots=True)
class _Intent:
    """An order request in YES-book terms, whichever endpoint it came through."""

    ticker: str
    book_side: str  # bid | ask
    price: int  # YES price
    count: int
    tif: Tif
    client_order_id: str
    subaccount: int
    post_only: bool = False
    expiration_s: int = 0  # good_till_canceled only: the venue cancels it then


@dataclass(slots=True)
class _KalshiOrder(WireRecord):
    """One of our orders as the exchange tracks it: integer micro-units, JSON on the way out."""

    order_id: str
    client_order_id: str
    ticker: str
    book_side: str
    price: int
    initial: int
    subaccount: int
    created_ms: int
    status: str = "resting"
    filled: int = 0
    remaining: int = 0
    taker_cost: int = 0
    maker_cost: int = 0
    taker_fees: int = 0
    maker_fees: int = 0
    updated_ms: int = 0

    @property
    def outcome_side(self) -> str:
        return "yes" if self.book_side == "bid" else "no"

    def to_json(self) -> dict[str, object]:
        return {
            "order_id": self.order_id, "user_id": ACCOUNT, "client_order_id": self.client_order_id,
            "ticker": self.ticker, "side": self.outcome_side, "action": "buy",
            "outcome_side": self.outcome_side, "book_side": self.book_side, "type": "limit",
            "status": self.status, "yes_price_dollars": dollars(self.price, 4),
            "no_price_dollars": dollars(ONE_DOLLAR - self.price, 4),
            "fill_count_fp": size_text(self.filled, 2),
            "remaining_count_fp": size_text(self.remaining, 2),
            "initial_count_fp": size_text(self.initial, 2),
            "taker_fill_cost_dollars": dollars(self.taker_cost, 4),
            "maker_fill_cost_dollars": dollars(self.maker_cost, 4),
            "taker_fees_dollars": dollars(self.taker_fees, 4),
            "maker_fees_dollars": dollars(self.maker_fees, 4),
            "created_time": _iso(self.created_ms),
            "last_update_time": _iso(self.updated_ms or self.created_ms),
            "subaccount_number": self.subaccount, "exchange_index": 0,
        }


@dataclass(slots=True)
class _Listing:
    """A market's lifecycle as GET /markets reports it."""

    ticker: str
    event_ticker: str
    listed_ms: int
    status: str = "active"  # the Market model's lifecycle values: active, then finalized
    result: str = ""  # yes | no | scalar once settled
    settled_ms: int = 0

    @property
    def series_ticker(self) -> str:
        return self.event_ticker.split("-", 1)[0]


@dataclass(slots=True)
class _PositionStats:
    traded: int = 0  # notional of every fill
    cost: int = 0  # cash paid for contracts (no netting of YES against NO)
    fees: int = 0
    updated_ms: int = 0


Route = Callable[[str, dict[str, str], bytes], Awaitable[HttpResponse]]


class KalshiEmulator(EmulatedVenue):
    venue = VENUE
    surface = EmulatorSurface(
        ws_routes={WS_PATH: "ws"}, book_channel="ws",
        order_paths=frozenset({f"{API}/portfolio/events/orders",
                               f"{API}/portfolio/events/orders/batched",
                               f"{API}/portfolio/orders", f"{API}/portfolio/orders/batched"}),
        error_bodies={
            # not documented: Kalshi's ErrorResponse shape with a balance code
            400: {"error": {"code": "insufficient_balance", "message": "insufficient balance"}},
            401: {"error": {"code": "unauthorized",
                            "message": "invalid or missing KALSHI-ACCESS signature"}},
            429: {"error": "too many requests"},
            500: {"error": {"code": "internal_server_error", "message": "internal server error"}},
            503: {"error": {"code": "service_unavailable", "message": "service unavailable"}},
        },
        default_port=8602,
    )
    # Paper mode only (`open_registration`): POST /api_keys without an existing key's
    # signature. The venue signs key creation with a key made in its web UI; a standalone
    # emulator has no UI, so a run whose gateways onboard themselves turns it on.

    def __init__(self, *, page_limit: int = DEFAULT_PAGE_LIMIT) -> None:
        super().__init__()
        if not 1 <= page_limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"page_limit must be 1..{MAX_PAGE_LIMIT}, was {page_limit}")
        self.page_limit = page_limit
        self._sid = 0
        self.keys: dict[str, PublicKey] = {}
        self.orders: dict[str, _KalshiOrder] = {}  # our orders by order id
        self._by_client_id: dict[str, str] = {}
        self.fills: list[dict[str, object]] = []  # our fills, oldest first
        self._stats: dict[str, _PositionStats] = {}
        self.listings: dict[str, _Listing] = {}
        self.settlements: list[dict[str, object]] = []  # ours, oldest first
        # (method, path below /portfolio) -> handler(sub-path, query, body)
        self._routes: dict[tuple[str, str], Route] = {
            ("POST", "/events/orders"): self._create_v2,
            ("POST", "/events/orders/batched"): self._batch_create_v2,
            ("DELETE", "/events/orders/batched"): self._batch_cancel_v2,
            ("DELETE", "/events/orders"): self._cancel_all,
            ("POST", "/orders"): self._create_legacy,
            ("POST", "/orders/batched"): self._batch_create_legacy,
            ("DELETE", "/orders/batched"): self._batch_cancel_legacy,
            ("GET", "/orders"): self._orders_page,
            ("GET", "/fills"): self._fills_page,
            ("GET", "/positions"): self._positions_page,
            ("GET", "/balance"): self._balance,
            ("GET", "/orders/queue_positions"): self._queue_positions,
            ("GET", "/settlements"): self._settlements_page,
        }
        # (method, prefix, suffix) around one order id -> handler(order id, query, body)
        self._order_routes: dict[tuple[str, str, str], Route] = {
            ("DELETE", "/events/orders/", ""): self._cancel_v2,
            ("DELETE", "/orders/", ""): self._cancel_legacy,
            ("GET", "/orders/", ""): self._get_order,
            ("GET", "/orders/", "/queue_position"): self._queue_position,
            ("POST", "/events/orders/", "/amend"): self._amend_v2,
            ("POST", "/orders/", "/amend"): self._amend_legacy,
            ("POST", "/events/orders/", "/decrease"): self._decrease_v2,
            ("POST", "/orders/", "/decrease"): self._decrease_legacy,
        }

    def list_market(self, market: Market, fees: FeeModel) -> None:
        self.add_market(market.market_id, market.tick_micros)

    def add_market(self, market_id: str, tick: int, *, event_ticker: str = "") -> None:
        """A market opens now. Its event defaults to the ticker less its last `-` part, as
        Kalshi names markets (event KXHIGHNY-25JAN01, market KXHIGHNY-25JAN01-T40)."""
        if tick not in _PRICE_LEVELS:
            raise ValueError(f"tick {tick} has no Kalshi price level structure "
                             f"(known: {sorted(_PRICE_LEVELS)})")
        super().add_market(market_id, tick)
        self.listings[market_id] = _Listing(
            market_id, event_ticker or market_id.rsplit("-", 1)[0], self.now_ms)

    def settle_market(self, ticker: str, result: str) -> None:
        """Scripted venue event: the market determines `result` (yes | no) and settles."""
        if result not in ("yes", "no"):
            raise ValueError(f"result must be yes or no, was {result!r}")
        self._settle(ticker, ONE_DOLLAR if result == "yes" else 0)

    async def resolve(self, market_id: str, yes_payout: int) -> None:
        self._settle(market_id, yes_payout)

    def _settle(self, market_id: str, yes_payout: int) -> None:
        """The market determines and settles at once: $1 or $0 a YES contract is a `yes` or
        `no` result, anything between a `scalar` one at that `value` (how Kalshi settles a
        market at a fair price instead of voiding it). Our resting orders in it are
        canceled, each contract pays its side's value, the position closes (GET
        /portfolio/positions no longer lists it) and GET /portfolio/settlements reports it.
        The market's cost is booked to the side held."""
        if not 0 <= yes_payout <= ONE_DOLLAR or yes_payout % CENT:
            raise ValueError(f"a Kalshi settlement pays whole cents of $1, not {yes_payout}")
        listing = self.listings[market_id]
        if listing.status != "active":
            raise ValueError(f"market {market_id} is already {listing.status}")
        result = {ONE_DOLLAR: "yes", 0: "no"}.get(yes_payout, "scalar")
        for order in list(self.orders.values()):
            if order.ticker == market_id and order.status == "resting":
                self._take_off_book(order.order_id)
        position = self.account.positions.pop(market_id, 0)
        stats = self._stats.pop(market_id, _PositionStats())
        yes_count, no_count = max(position, 0), max(-position, 0)
        payout = (notional(yes_payout, yes_count)
                  + notional(ONE_DOLLAR - yes_payout, no_count))
        self.account.cash += payout
        listing.status, listing.result, listing.settled_ms = "finalized", result, self.now_ms
        self.settlements.append({
            "ticker": market_id, "exchange_index": 0, "event_ticker": listing.event_ticker,
            "market_result": result, "yes_count_fp": size_text(yes_count, 2),
            "yes_total_cost_dollars": dollars(stats.cost if position > 0 else 0, 4),
            "no_count_fp": size_text(no_count, 2),
            "no_total_cost_dollars": dollars(stats.cost if position < 0 else 0, 4),
            "revenue": payout // CENT, "settled_time": _iso(self.now_ms),
            "fee_cost": dollars(stats.fees, 4), "value": yes_payout // CENT,
        })

    def intent_key(self, method: str, path: str, body: bytes) -> str | None:
        """An order's intent is its client order id."""
        if method != "POST" or path not in self.surface.order_paths:
            return None
        client_order_id = orjson.loads(body).get("client_order_id")
        return None if client_order_id is None else f"{VENUE}:{client_order_id}"

    def register_key(self, key_id: str, public_key: PublicKey) -> None:
        """An API key as created in the Kalshi UI: its id and public key."""
        self.keys[key_id] = public_key

    def ws_authorized(self, headers: Mapping[str, str]) -> bool:
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

    def _authenticated(self, method: str, path: str, headers: Mapping[str, str]) -> bool:
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
            named = {t for t in tickers if t in self.engines}
            # the book channel needs its markets named; ticker without any means all markets
            markets = named if channel == "orderbook_delta" or (
                channel == "ticker" and tickers != [None]) else set(self.engines)
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

    def _ticker(self, ticker: str) -> dict[str, object]:
        """The `ticker` message (facts B5.2): top of book, last trade, volume; no seq."""
        engine = self.engines[ticker]
        bids, asks = engine.snapshot()
        return {"market_ticker": ticker, "market_id": ticker,
                "yes_bid_dollars": dollars(bids[0][0] if bids else 0, 4),
                "yes_ask_dollars": dollars(asks[0][0] if asks else 0, 4),
                "price_dollars": dollars(engine.last_price, 4),
                "volume_fp": size_text(engine.volume, 2), "ts_ms": self.now_ms}

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
                if market_id in markets and session.channels[sid] == "ticker":
                    await session.push({"type": "ticker", "sid": sid,
                                        "msg": self._ticker(market_id)})
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
        if method == "GET" and path == f"{API}/exchange/status":  # public health check
            return HttpResponse.json(200, {"exchange_active": True, "trading_active": True})
        markets = f"{API}/markets"
        if method == "GET" and (path == markets or path.startswith(markets + "/")):
            ticker, _, tail = path[len(markets) + 1:].partition("/")
            try:
                if not ticker:
                    return self._markets_page(query)
                if tail == "orderbook":
                    return self._orderbook(ticker)
                if not tail:
                    return self._market_reply(ticker)
            except OrderError as exc:
                return exc.response()
        portfolio = f"{API}/portfolio"
        if path.startswith(portfolio + "/"):
            if not self._authenticated(method, path, headers):
                return _error(401, "unauthorized", "invalid or missing KALSHI-ACCESS signature")
            sub = path[len(portfolio):]
            route, arg = self._routes.get((method, sub)), sub
            for (m, prefix, suffix), candidate in self._order_routes.items():
                order_id = sub[len(prefix):len(sub) - len(suffix)]
                if (route is None and m == method and sub.startswith(prefix)
                        and sub.endswith(suffix) and order_id and "/" not in order_id):
                    route, arg = candidate, order_id
            if route is not None:
                try:
                    return await route(arg, query, body)
                except OrderError as exc:
                    return exc.response()
        return HttpResponse.json(404, {"error": {"code": "not_found",
                                                 "message": f"no route {method} {path}"}})

    def _orderbook(self, ticker: str) -> HttpResponse:
        if ticker not in self.engines:
            return HttpResponse.json(404, {"error": {"code": "not_found",
                                                     "message": f"market {ticker} not found"}})
        snap = self._snapshot(ticker)
        return HttpResponse.json(200, {"orderbook_fp": {
            "yes_dollars": snap.get("yes_dollars_fp", []),
            "no_dollars": snap.get("no_dollars_fp", [])}})

    def _market(self, ticker: str) -> dict[str, object]:
        """One Market record (the SDK's `Market` model lists every field and its type)."""
        listing = self.listings[ticker]
        engine = self.engines[ticker]
        bids, asks = engine.snapshot()
        yes_bid, bid_size = bids[0] if bids else (0, 0)
        yes_ask, ask_size = asks[0] if asks else (0, 0)
        closes = _iso(listing.listed_ms + MARKET_LIFETIME_MS)
        settled = listing.status == "finalized"
        structure, step = _PRICE_LEVELS[engine.tick], dollars(engine.tick, 4)
        return {
            "ticker": ticker, "event_ticker": listing.event_ticker, "market_type": "binary",
            "title": f"Emulated market {ticker}", "yes_sub_title": "Yes", "no_sub_title": "No",
            "created_time": _iso(listing.listed_ms), "updated_time": _iso(listing.listed_ms),
            "open_time": _iso(listing.listed_ms), "close_time": closes,
            "expected_expiration_time": closes, "latest_expiration_time": closes,
            "settlement_timer_seconds": 0, "status": listing.status,
            "yes_bid_dollars": dollars(yes_bid, 4), "yes_bid_size_fp": size_text(bid_size, 2),
            "yes_ask_dollars": dollars(yes_ask, 4), "yes_ask_size_fp": size_text(ask_size, 2),
            "no_bid_dollars": dollars(ONE_DOLLAR - yes_ask if asks else 0, 4),
            "no_ask_dollars": dollars(ONE_DOLLAR - yes_bid if bids else 0, 4),
            "last_price_dollars": dollars(engine.last_price, 4),
            "volume_fp": size_text(engine.volume, 2), "volume_24h_fp": size_text(engine.volume, 2),
            "result": listing.result, "can_close_early": False, "open_interest_fp": "0.00",
            "notional_value_dollars": dollars(ONE_DOLLAR, 4),
            "previous_yes_bid_dollars": dollars(0, 4), "previous_yes_ask_dollars": dollars(0, 4),
            "previous_price_dollars": dollars(0, 4),
            "settlement_value_dollars": dollars(ONE_DOLLAR if listing.result == "yes" else 0, 4)
            if settled else None,
            "settlement_ts": _iso(listing.settled_ms) if settled else None,
            "settlement_bounds_type": "default", "expiration_value": "",
            "rules_primary": f"Pays $1 a contract if {ticker} resolves Yes.",
            "rules_secondary": "", "price_level_structure": structure,
            "price_ranges": [{"start": dollars(0, 4), "end": dollars(ONE_DOLLAR, 4),
                              "step": step}],
            "exchange_index": 0,
        }

    def _market_reply(self, ticker: str) -> HttpResponse:
        if ticker not in self.listings:
            raise OrderError(404, "not_found", f"market {ticker} not found")
        return HttpResponse.json(200, {"market": self._market(ticker)})

    def _markets_page(self, query: dict[str, str]) -> HttpResponse:
        """GET /markets?event_ticker=&series_ticker=&status=&tickers=&cursor=&limit=."""
        status = query.get("status")
        if status is not None and status not in _STATUS_FILTERS:
            raise OrderError(400, "invalid_parameters",
                             f"status must be one of {sorted(_STATUS_FILTERS)}, was {status!r}")
        tickers = set(filter(None, query.get("tickers", "").split(",")))
        found = [self._market(t) for t, listing in self.listings.items()
                 if query.get("event_ticker", listing.event_ticker) == listing.event_ticker
                 and query.get("series_ticker", listing.series_ticker) == listing.series_ticker
                 and (status is None or _STATUS_FILTERS[status] == listing.status)
                 and (not tickers or t in tickers)]
        return self._paged("markets", found, query)

    # -- order entry -----------------------------------------------------------------
    async def _create_v2(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """POST /portfolio/events/orders -> 201 CreateOrderV2Response."""
        return HttpResponse.json(201, await self._place_v2(_json_object(body)))

    async def _batch_create_v2(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """POST /portfolio/events/orders/batched {"orders": [...]}: each order on its own."""
        results: list[dict[str, object]] = []
        for request in _batch(_json_object(body), "orders"):
            try:
                results.append(await self._place_v2(request))
            except OrderError as exc:
                results.append({"client_order_id": _client_id(request), "error": exc.body()})
        return HttpResponse.json(201, {"orders": results})

    async def _place_v2(self, request: object) -> dict[str, object]:
        req = _require_object(request)
        try:
            side = str(req["side"])
            intent = _Intent(
                ticker=str(req["ticker"]), book_side=side,
                price=price_from_decimal(Decimal(req["price"])),
                count=qty_from_decimal(Decimal(req["count"])),
                tif=_TIF[req["time_in_force"]], client_order_id=_client_id(req),
                subaccount=int(req.get("subaccount") or 0),
                post_only=req.get("post_only", False) is True,
                expiration_s=int(req.get("expiration_time") or 0),
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise OrderError(400, "invalid_parameters", f"invalid order: {exc!r}") from None
        if side not in ("bid", "ask"):
            raise OrderError(400, "invalid_parameters", f"side {side!r} must be bid or ask")
        order, fee = await self._submit(intent)
        return self._fill_summary(order, fee)

    def _fill_summary(self, order: _KalshiOrder, fee: int) -> dict[str, object]:
        """What the V2 create and amend replies say of an order's fills so far (`fee`: paid
        by this request)."""
        cost = order.taker_cost + order.maker_cost
        avg = (cost * ONE_DOLLAR // order.filled) if order.filled else 0
        if order.filled and order.book_side == "ask":  # in YES terms, as the price was given
            avg = ONE_DOLLAR - avg
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "fill_count": size_text(order.filled, 2),
            "remaining_count": size_text(order.remaining, 2),
            "average_fill_price": dollars(avg, 4),
            "average_fee_paid": dollars(fee, 4),
            "ts_ms": self.now_ms,
        }

    async def _create_legacy(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """POST /portfolio/orders (the legacy write path) -> 201 {"order": Order}."""
        order, _ = await self._submit(_legacy_intent(_json_object(body)))
        return HttpResponse.json(201, {"order": order.to_json()})

    async def _batch_create_legacy(
        self, sub: str, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """POST /portfolio/orders/batched -> 201 {"orders": [{client_order_id, order, error}]}."""
        requests = _batch(_json_object(body), "orders")
        if len(requests) > LEGACY_BATCH_LIMIT:
            raise OrderError(400, "invalid_parameters", f"a batch holds at most "
                             f"{LEGACY_BATCH_LIMIT} orders, was {len(requests)}")
        results: list[dict[str, object]] = []
        for request in requests:
            try:
                order, _ = await self._submit(_legacy_intent(request))
                results.append({"client_order_id": order.client_order_id,
                                "order": order.to_json(), "error": None})
            except OrderError as exc:
                results.append({"client_order_id": _client_id(request), "order": None,
                                "error": exc.body()})
        return HttpResponse.json(201, {"orders": results})

    async def _submit(self, intent: _Intent) -> tuple[_KalshiOrder, int]:
        """Match one order for our account; the order and the taker fee it paid."""
        if intent.ticker not in self.engines:
            raise OrderError(404, "market_not_found", f"market {intent.ticker} not found")
        if self.listings[intent.ticker].status != "active":  # the code is our choice
            raise OrderError(400, "market_closed", f"market {intent.ticker} is not open")
        if intent.count % QTY_SCALE:
            raise OrderError(400, "invalid_parameters", "fractional counts are not enabled")
        if not 0 <= intent.subaccount <= 63:
            raise OrderError(400, "invalid_parameters",
                             f"subaccount must be 0..63, was {intent.subaccount}")
        cid = intent.client_order_id
        if cid and cid in self._by_client_id:
            raise OrderError(409, "order_already_exists", f"client_order_id {cid} was already used")
        if intent.expiration_s and (intent.tif is not Tif.GTC
                                    or intent.expiration_s <= self.now_ms // 1000):
            raise OrderError(400, "invalid_parameters", "expiration_time must be in the future "
                             "and is only accepted with good_till_canceled")
        book_side = BookSide.BID if intent.book_side == "bid" else BookSide.ASK
        result = self.engines[intent.ticker].submit(
            ACCOUNT, book_side, intent.price, intent.count, intent.tif, cid, intent.post_only)
        if result.would_cross:  # the error code is not in the facts: our choice
            raise OrderError(400, "post_only_cross", "post only order would cross the book")
        if result.rejected:
            raise OrderError(400, "invalid_order", result.rejected)
        order = _KalshiOrder(
            order_id=result.order_id, client_order_id=cid, ticker=intent.ticker,
            book_side=intent.book_side, price=intent.price, initial=intent.count,
            subaccount=intent.subaccount, created_ms=self.now_ms, remaining=intent.count)
        self.orders[order.order_id] = order
        if cid:
            self._by_client_id[cid] = order.order_id
        if result.resting and intent.expiration_s:
            self.expire_at(order.order_id, intent.expiration_s * 1000)
        fee = await self._taker_fills(order, result.trades)
        order.remaining = result.resting
        order.status = "resting" if result.resting else (
            "canceled" if result.canceled else "executed")
        return order, fee

    async def _taker_fills(self, order: _KalshiOrder, trades: list[Trade]) -> int:
        """Book `order`'s taker fills (and the maker side of any of our own orders it hit);
        the taker fee, charged once on the last fill."""
        fee = KALSHI_TAKER.fee([(_paid(order, t), t.qty) for t in trades]) if trades else 0
        for index, trade in enumerate(trades):
            last = index == len(trades) - 1
            await self._fill(order, trade, is_taker=True, fee=fee if last else 0)
            maker = self.orders.get(trade.maker_order_id) if trade.maker_owner == ACCOUNT else None
            if maker is not None:
                await self._fill(maker, trade, is_taker=False, fee=0)
        return fee

    async def settle_maker_fill(self, market_id: str, trade: Trade) -> None:
        maker = self.orders.get(trade.maker_order_id)
        if maker is None:
            raise KeyError(f"trade {trade.trade_id} names maker order {trade.maker_order_id}, "
                           "which is not one of our orders")
        await self._fill(maker, trade, is_taker=False, fee=0)

    async def _fill(self, order: _KalshiOrder, trade: Trade, *, is_taker: bool, fee: int) -> None:
        """Book one fill of our order (position, cash, fees, the order's counts), record it
        for GET /portfolio/fills and push it on the `fill` channel. Makers pay no fee under
        the default `quadratic` fee type (facts B6)."""
        cost = notional(_paid(order, trade), trade.qty)
        position = self.account.positions
        before = position[order.ticker]
        position[order.ticker] += trade.qty if order.book_side == "bid" else -trade.qty
        # contracts that closed an opposite position: each YES + NO pair pays out $1 at
        # once, so selling held YES receives p instead of paying 1 - p for NO
        closed = (abs(before) - abs(position[order.ticker]) + trade.qty) // 2
        self.account.cash += notional(ONE_DOLLAR, closed) - cost - fee
        self.account.fees += fee
        stats = self._stats.setdefault(order.ticker, _PositionStats())
        stats.traded += notional(trade.price, trade.qty)
        stats.cost += cost
        stats.fees += fee
        stats.updated_ms = order.updated_ms = self.now_ms
        order.filled += trade.qty
        order.remaining -= trade.qty
        if is_taker:
            order.taker_cost += cost
            order.taker_fees += fee
        else:
            order.maker_cost += cost
            order.maker_fees += fee
            if not order.remaining and order.status == "resting":
                order.status = "executed"
        common = {
            "trade_id": trade.trade_id, "order_id": order.order_id,
            "outcome_side": order.outcome_side, "book_side": order.book_side,
            "side": order.outcome_side, "action": "buy", "is_taker": is_taker,
            "yes_price_dollars": dollars(trade.price, 4), "count_fp": size_text(trade.qty, 2),
            "fee_cost": dollars(fee, 4), "exchange_index": 0,
        }
        self.fills.append({
            **common, "fill_id": f"{trade.trade_id}-{'T' if is_taker else 'M'}",
            "ticker": order.ticker, "market_ticker": order.ticker,
            "no_price_dollars": dollars(ONE_DOLLAR - trade.price, 4),
            "created_time": _iso(self.now_ms), "ts": self.now_ms // 1000,
            "subaccount_number": order.subaccount,
        })
        message = {**common, "client_order_id": order.client_order_id,
                   "market_ticker": order.ticker, "purchased_side": order.outcome_side,
                   "post_position_fp": size_text(position[order.ticker], 2),
                   "subaccount": order.subaccount, "ts_ms": self.now_ms,
                   "ts": self.now_ms // 1000}
        for session in list(self.sessions):
            for sid in list(session.subscriptions):
                if session.channels[sid] == "fill":
                    await self._push_seq(session, sid, "fill", message)

    # -- cancels ---------------------------------------------------------------------
    def _take_off_book(self, order_id: str) -> tuple[_KalshiOrder, int]:
        """Cancel one resting order: the order and how much was taken off the book."""
        order = self.orders.get(order_id)
        canceled = self.engines[order.ticker].cancel(order_id) \
            if order is not None and order.status == "resting" else None
        if order is None or canceled is None:
            raise OrderError(404, "not_found", f"order {order_id} is not resting")
        order.status, order.remaining, order.updated_ms = "canceled", 0, self.now_ms
        return order, canceled.qty

    def expire(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is not None and order.status == "resting":
            self._take_off_book(order_id)

    def _canceled_v2(self, order_id: str) -> dict[str, object]:
        order, reduced = self._take_off_book(order_id)
        return {"order_id": order_id, "client_order_id": order.client_order_id,
                "reduced_by": size_text(reduced, 2), "ts_ms": self.now_ms}

    def _canceled_legacy(self, order_id: str) -> dict[str, object]:
        order, reduced = self._take_off_book(order_id)
        return {"order": order.to_json(), "reduced_by_fp": size_text(reduced, 2)}

    async def _cancel_v2(self, order_id: str, query: dict[str, str],
                         body: bytes) -> HttpResponse:
        """DELETE /portfolio/events/orders/{id}: what was taken off the book."""
        return HttpResponse.json(200, self._canceled_v2(order_id))

    async def _cancel_legacy(self, order_id: str, query: dict[str, str],
                             body: bytes) -> HttpResponse:
        """DELETE /portfolio/orders/{id}: the zeroed order."""
        return HttpResponse.json(200, self._canceled_legacy(order_id))

    # -- amend and decrease ------------------------------------------------------------
    def _resting(self, order_id: str) -> _KalshiOrder:
        order = self.orders.get(order_id)
        if order is None or order.status != "resting":
            raise OrderError(404, "not_found", f"order {order_id} is not resting")
        return order

    async def _amend(self, order_id: str, intent: _Intent, updated_client_order_id: str,
                     expiration_s: int | None) -> tuple[_KalshiOrder, int]:
        """Amend a resting order to `intent.price` and a total of `intent.count` (filled +
        the remaining wanted). As the venue documents, only a size decrease at the same
        price keeps the order's place in the queue; any other change sends it to the back,
        and at a crossing price it trades first. The order keeps its id. `expiration_s`:
        None keeps the expiry, 0 removes it. The taker fee of any fills comes back."""
        order = self._resting(order_id)
        engine = self.engines[order.ticker]
        if (intent.ticker, intent.book_side) != (order.ticker, order.book_side):
            raise OrderError(400, "invalid_parameters", "an amend keeps the order's market "
                             f"and side ({order.ticker} {order.book_side})")
        if intent.client_order_id not in ("", order.client_order_id):
            raise OrderError(400, "invalid_parameters",
                             f"client_order_id {intent.client_order_id} is not this order's")
        remaining = intent.count - order.filled
        if remaining <= 0 or intent.count % QTY_SCALE:
            raise OrderError(400, "invalid_parameters", f"count must be a whole number above "
                             f"the {size_text(order.filled, 2)} already filled")
        if intent.price % engine.tick or not 0 < intent.price < ONE_DOLLAR:
            raise OrderError(400, "invalid_order", f"price {dollars(intent.price, 4)} is off "
                             f"the {dollars(engine.tick, 4)} grid")
        if expiration_s and expiration_s <= self.now_ms // 1000:
            raise OrderError(400, "invalid_parameters", "expiration_time must be in the future")
        cid = updated_client_order_id
        if cid and self._by_client_id.get(cid, order_id) != order_id:
            raise OrderError(409, "order_already_exists", f"client_order_id {cid} was already used")
        fee = 0
        if intent.price == order.price and remaining <= order.remaining:
            engine.reduce(order_id, remaining)
            order.remaining = remaining
        else:
            engine.cancel(order_id)
            side = BookSide.BID if order.book_side == "bid" else BookSide.ASK
            result = engine.submit(ACCOUNT, side, intent.price, remaining,
                                   order_id=order_id)
            order.price, order.remaining = intent.price, remaining
            fee = await self._taker_fills(order, result.trades)
            order.remaining = result.resting
            if not result.resting:
                order.status = "executed"
        if cid:
            self._by_client_id.pop(order.client_order_id, None)
            order.client_order_id, self._by_client_id[cid] = cid, order_id
        if expiration_s == 0:
            self.clear_expiry(order_id)
        elif expiration_s is not None:
            self.expire_at(order_id, expiration_s * 1000)
        order.updated_ms = self.now_ms
        return order, fee

    async def _amend_v2(self, order_id: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """POST /portfolio/events/orders/{id}/amend -> AmendOrderV2Response."""
        req = _json_object(body)
        try:
            intent = _Intent(
                ticker=str(req["ticker"]), book_side=str(req["side"]),
                price=price_from_decimal(Decimal(req["price"])),
                count=qty_from_decimal(Decimal(req["count"])), tif=Tif.GTC,
                client_order_id=_client_id(req), subaccount=0)
            expiration = req.get("expiration_time")
            expiration_s = None if expiration is None else int(expiration)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise OrderError(400, "invalid_parameters", f"invalid amend: {exc!r}") from None
        order, fee = await self._amend(order_id, intent,
                                       str(req.get("updated_client_order_id") or ""),
                                       expiration_s)
        return HttpResponse.json(200, self._fill_summary(order, fee))

    async def _amend_legacy(self, order_id: str, query: dict[str, str],
                            body: bytes) -> HttpResponse:
        """POST /portfolio/orders/{id}/amend (side yes|no + action, cents or dollar prices,
        count or count_fp) -> {"old_order", "order"}."""
        req = _json_object(body)
        old = self._resting(order_id).to_json()
        order, _ = await self._amend(order_id, _legacy_intent(req),
                                     str(req.get("updated_client_order_id") or ""), None)
        return HttpResponse.json(200, {"old_order": old, "order": order.to_json()})

    def _decrease(self, order_id: str, reduce_by: int | None,
                  reduce_to: int | None) -> _KalshiOrder:
        """Cut a resting order's remaining count in place (it keeps its queue position);
        down to nothing it is canceled. Exactly one of `reduce_by` / `reduce_to`."""
        if (reduce_by is None) == (reduce_to is None):
            raise OrderError(400, "invalid_parameters",
                             "give exactly one of reduce_by or reduce_to")
        order = self._resting(order_id)
        target = order.remaining - reduce_by if reduce_by is not None else reduce_to
        assert target is not None
        if not 0 <= target < order.remaining:
            raise OrderError(400, "invalid_parameters", f"cannot decrease "
                             f"{size_text(order.remaining, 2)} remaining to {size_text(target, 2)}")
        if target:
            self.engines[order.ticker].reduce(order_id, target)
            order.remaining, order.updated_ms = target, self.now_ms
        else:
            self._take_off_book(order_id)
        return order

    async def _decrease_v2(self, order_id: str, query: dict[str, str],
                           body: bytes) -> HttpResponse:
        """POST /portfolio/events/orders/{id}/decrease {reduce_by | reduce_to} (fp strings)."""
        req = _json_object(body)
        try:
            by, to = (None if req.get(k) is None else qty_from_decimal(Decimal(str(req[k])))
                      for k in ("reduce_by", "reduce_to"))
        except (ValueError, InvalidOperation) as exc:
            raise OrderError(400, "invalid_parameters", f"invalid decrease: {exc}") from None
        order = self._decrease(order_id, by, to)
        return HttpResponse.json(200, {
            "order_id": order_id, "client_order_id": order.client_order_id,
            "remaining_count": size_text(order.remaining, 2), "ts_ms": self.now_ms})

    async def _decrease_legacy(self, order_id: str, query: dict[str, str],
                               body: bytes) -> HttpResponse:
        """POST /portfolio/orders/{id}/decrease {reduce_by(_fp) | reduce_to(_fp)} -> {"order"}."""
        req = _json_object(body)
        by, to = (_legacy_amount(req, key, f"{key}_fp", QTY_SCALE, qty_from_decimal)
                  if req.get(key) is not None or req.get(f"{key}_fp") is not None else None
                  for key in ("reduce_by", "reduce_to"))
        return HttpResponse.json(200, {"order": self._decrease(order_id, by, to).to_json()})

    # -- queue positions ---------------------------------------------------------------
    def _queue_entry(self, order: _KalshiOrder) -> dict[str, object]:
        ahead = self.engines[order.ticker].queue_ahead(order.order_id)
        return {"order_id": order.order_id, "market_ticker": order.ticker,
                "queue_position_fp": size_text(ahead, 2)}

    async def _queue_position(self, order_id: str, query: dict[str, str],
                              body: bytes) -> HttpResponse:
        """GET /portfolio/orders/{id}/queue_position: contracts ahead of it at its price."""
        entry = self._queue_entry(self._resting(order_id))
        return HttpResponse.json(200, {"queue_position_fp": entry["queue_position_fp"]})

    async def _queue_positions(self, sub: str, query: dict[str, str],
                               body: bytes) -> HttpResponse:
        """GET /portfolio/orders/queue_positions?market_tickers=&event_ticker=&subaccount=."""
        tickers = set(filter(None, query.get("market_tickers", "").split(",")))
        subaccount = _int_param(query, "subaccount") or 0
        entries = [self._queue_entry(o) for o in self.orders.values()
                   if o.status == "resting" and o.subaccount == subaccount
                   and (not tickers or o.ticker in tickers)
                   and query.get("event_ticker", self.listings[o.ticker].event_ticker)
                   == self.listings[o.ticker].event_ticker]
        return HttpResponse.json(200, {"queue_positions": entries})

    async def _batch_cancel_v2(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """DELETE /portfolio/events/orders/batched {"orders": [{"order_id", ...}]}."""
        results: list[dict[str, object]] = []
        for item in _batch(_json_object(body), "orders"):
            order_id = str(_require_object(item).get("order_id", ""))
            try:
                results.append(self._canceled_v2(order_id))
            except OrderError as exc:
                results.append({"order_id": order_id, "reduced_by": size_text(0, 2),
                                "ts_ms": self.now_ms, "error": exc.body()})
        return HttpResponse.json(200, {"orders": results})

    async def _batch_cancel_legacy(
        self, sub: str, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """DELETE /portfolio/orders/batched {"ids": [...]} (or {"orders": [{"order_id"}]})."""
        request = _json_object(body)
        if "ids" in request:
            ids = [str(i) for i in _batch(request, "ids")]
        else:
            ids = [str(_require_object(o).get("order_id", "")) for o in _batch(request, "orders")]
        results: list[dict[str, object]] = []
        for order_id in ids:
            try:
                results.append({"order_id": order_id, **self._canceled_legacy(order_id),
                                "error": None})
            except OrderError as exc:
                results.append({"order_id": order_id, "order": None,
                                "reduced_by_fp": size_text(0, 2), "error": exc.body()})
        return HttpResponse.json(200, {"orders": results})

    async def _cancel_all(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """DELETE /portfolio/events/orders?subaccount=: every resting order (of that
        subaccount, if given) -> 204 with no body."""
        subaccount = _int_param(query, "subaccount")
        for order in list(self.orders.values()):
            if order.status == "resting" and subaccount in (None, order.subaccount):
                self._take_off_book(order.order_id)
        return HttpResponse(204, b"")

    # -- reads -----------------------------------------------------------------------
    async def _get_order(self, order_id: str, query: dict[str, str],
                         body: bytes) -> HttpResponse:
        order = self.orders.get(order_id)
        if order is None:
            raise OrderError(404, "not_found", f"order {order_id} not found")
        return HttpResponse.json(200, {"order": order.to_json()})

    async def _orders_page(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """GET /portfolio/orders?ticker=&event_ticker=&status=&min_ts=&max_ts=&subaccount=
        &cursor=&limit=; the times bound the order's creation (Unix seconds, inclusive)."""
        subaccount = _int_param(query, "subaccount")
        in_time = _time_filter(query)
        events = set(filter(None, query.get("event_ticker", "").split(",")))
        orders = [o.to_json() for o in self.orders.values()
                  if query.get("ticker", o.ticker) == o.ticker
                  and (not events or self.listings[o.ticker].event_ticker in events)
                  and query.get("status", o.status) == o.status
                  and subaccount in (None, o.subaccount) and in_time(o.created_ms // 1000)]
        return self._paged("orders", orders, query)

    async def _fills_page(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """GET /portfolio/fills?ticker=(comma list)&order_id=&min_ts=&max_ts=&cursor=&limit=."""
        in_time = _time_filter(query)
        tickers = set(filter(None, query.get("ticker", "").split(",")))
        fills = [f for f in self.fills
                 if (not tickers or f["ticker"] in tickers)
                 and query.get("order_id", f["order_id"]) == f["order_id"]
                 and in_time(int(str(f["ts"])))]
        return self._paged("fills", fills, query)

    async def _settlements_page(self, sub: str, query: dict[str, str],
                                body: bytes) -> HttpResponse:
        """GET /portfolio/settlements?ticker=&event_ticker=&min_ts=&max_ts=&cursor=&limit=."""
        in_time = _time_filter(query)
        found = [s for s in self.settlements
                 if query.get("ticker", s["ticker"]) == s["ticker"]
                 and query.get("event_ticker", s["event_ticker"]) == s["event_ticker"]
                 and in_time(self.listings[str(s["ticker"])].settled_ms // 1000)]
        return self._paged("settlements", found, query)

    async def _balance(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """GET /portfolio/balance: free cash as integer cents (kept for old clients) and
        dollars; open positions are valued at cost (the emulator keeps no marks)."""
        balance = max(0, self.account.balance)
        held = sum(stats.cost for stats in self._stats.values())
        return HttpResponse.json(200, {
            "balance": balance // CENT, "balance_dollars": dollars(balance, 4),
            "portfolio_value": (balance + held) // CENT, "updated_ts": self.now_ms // 1000})

    async def _positions_page(self, sub: str, query: dict[str, str], body: bytes) -> HttpResponse:
        """GET /portfolio/positions?ticker=&cursor=&limit=: market positions, paged (no
        events are modelled, so `event_positions` is empty)."""
        held = []
        for ticker, stats in sorted(self._stats.items()):
            if query.get("ticker", ticker) != ticker:
                continue
            held.append({
                "ticker": ticker, "exchange_index": 0,
                "position_fp": size_text(self.account.positions.get(ticker, 0), 2),
                "total_traded_dollars": dollars(stats.traded, 4),
                "market_exposure_dollars": dollars(stats.cost, 4),
                "realized_pnl_dollars": dollars(0, 4),
                "fees_paid_dollars": dollars(stats.fees, 4),
                "last_updated_ts": _iso(stats.updated_ms),
            })
        return self._paged("market_positions", held, query, event_positions=[])

    def _paged(self, key: str, items: list[dict[str, object]], query: dict[str, str],
               **extra: object) -> HttpResponse:
        """Kalshi cursor paging: `limit` (1..1000) per page, `cursor` from the previous page,
        an empty cursor after the last page."""
        limit = _int_param(query, "limit")
        if limit is None:
            limit = self.page_limit
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise OrderError(400, "invalid_parameters", f"limit must be 1..{MAX_PAGE_LIMIT}, "
                             f"was {limit}")
        try:
            offset = decode_cursor(query["cursor"]) if query.get("cursor") else 0
        except CursorError as exc:
            raise OrderError(400, "invalid_parameters", str(exc)) from None
        chunk, following = page(items, offset, limit)
        return HttpResponse.json(200, {key: chunk, **extra, "cursor": (
            "" if following is None else encode_cursor(following))})


def _paid(order: _KalshiOrder, trade: Trade) -> int:
    """What our side of `trade` cost per contract: the YES price for a bid, 1 - it for an ask."""
    return trade.price if order.book_side == "bid" else ONE_DOLLAR - trade.price


def _legacy_intent(request: object) -> _Intent:
    """A legacy CreateOrderRequest (`side` yes|no, `action` buy|sell, cents or dollar
    prices, `count` and/or `count_fp`) as an order on the YES book."""
    req = _require_object(request)
    side, action = req.get("side"), req.get("action")
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise OrderError(400, "invalid_parameters",
                         f"side must be yes|no and action buy|sell, was {side!r}/{action!r}")
    if req.get("buy_max_cost") is not None:
        raise OrderError(400, "invalid_parameters", "buy_max_cost is not emulated")
    count = _legacy_amount(req, "count", "count_fp", QTY_SCALE, qty_from_decimal)
    priced = [s for s in ("yes", "no") if f"{s}_price" in req or f"{s}_price_dollars" in req]
    if len(priced) != 1:
        raise OrderError(400, "invalid_parameters",
                         "give exactly one of yes_price(_dollars) or no_price(_dollars)")
    price = _legacy_amount(req, f"{priced[0]}_price", f"{priced[0]}_price_dollars", CENT,
                           price_from_decimal)
    yes_price = price if priced[0] == "yes" else ONE_DOLLAR - price
    buys_yes = (side == "yes") == (action == "buy")
    try:
        tif = _TIF[req.get("time_in_force") or "good_till_canceled"]
        subaccount = int(req.get("subaccount") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise OrderError(400, "invalid_parameters", f"invalid order: {exc!r}") from None
    return _Intent(ticker=str(req.get("ticker", "")), book_side="bid" if buys_yes else "ask",
                   price=yes_price, count=count, tif=tif, client_order_id=_client_id(req),
                   subaccount=subaccount)


def _legacy_amount(req: dict, int_key: str, text_key: str, unit: int,
                   parse: Callable[[Decimal], int]) -> int:
    """An amount given as an integer (`count`, cents) and/or a fixed-point string; when both
    are sent they must agree."""
    values = []
    try:
        if req.get(int_key) is not None:
            if not isinstance(req[int_key], int):
                raise ValueError(f"{int_key} must be an integer")
            values.append(req[int_key] * unit)
        if req.get(text_key) is not None:
            values.append(parse(Decimal(str(req[text_key]))))
    except (ValueError, InvalidOperation) as exc:
        raise OrderError(400, "invalid_parameters", f"invalid {int_key}: {exc}") from None
    if not values:
        raise OrderError(400, "invalid_parameters", f"{int_key} or {text_key} is required")
    if len(set(values)) > 1:
        raise OrderError(400, "invalid_parameters", f"{int_key} and {text_key} disagree")
    return values[0]


def _json_object(body: bytes) -> dict:
    try:
        return _require_object(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise OrderError(400, "invalid_parameters", f"body is not JSON: {exc}") from None


def _require_object(value: object) -> dict:
    if not isinstance(value, dict):
        raise OrderError(400, "invalid_parameters", f"expected a JSON object, was {value!r:.80}")
    return value


def _batch(request: dict, key: str) -> list:
    items = request.get(key)
    if not isinstance(items, list) or not items:
        raise OrderError(400, "invalid_parameters", f"{key} must be a non-empty list")
    return items


def _client_id(request: object) -> str:
    return str(request.get("client_order_id") or "") if isinstance(request, dict) else ""


def _int_param(query: dict[str, str], name: str) -> int | None:
    if not query.get(name):
        return None
    try:
        return int(query[name])
    except ValueError:
        raise OrderError(400, "invalid_parameters",
                         f"{name} must be an integer, was {query[name]!r}") from None


def _time_filter(query: dict[str, str]) -> Callable[[int], bool]:
    """`min_ts` / `max_ts` (Unix seconds, inclusive) as a test of one item's time."""
    min_ts, max_ts = _int_param(query, "min_ts"), _int_param(query, "max_ts")
    return lambda ts: (min_ts is None or ts >= min_ts) and (max_ts is None or ts <= max_ts)


def _iso(ms: int) -> str:
    """Unix milliseconds as the RFC 3339 UTC time Kalshi's `*_time` fields carry."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)
    return moment.isoformat().replace("+00:00", "Z")


def _error(status: int, code: str, message: str) -> HttpResponse:
    return OrderError(status, code, message).response()
