"""Emulated Polymarket CLOB V2: REST order entry and the market/user WebSocket channels.

Each market (condition id) has a YES and a NO token on one book: buying NO at q is an ask
on the YES book at 1 - q, which is how the real CLOB mirrors complementary tokens.
Order bodies are the V2 JSON (`makerAmount`/`takerAmount` in 6-decimal base units, side
"BUY"/"SELL"); price and size are recovered from the amounts exactly as the venue does.

Orders belong to the signer address of the API key that posted them: open orders, trades,
cancels and the heartbeat dead-man switch are scoped to it. Positions and cash are one
account (`EmulatedVenue.account`), the counterparty of the synthetic liquidity provider.
Trades settle at once: the REST trade record is CONFIRMED with a synthetic transaction hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple, cast

import orjson
from eth_utils import to_checksum_address

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome
from arbiter.core.units import ONE_DOLLAR, QTY_SCALE, notional, parse_amount, to_decimal
from arbiter.emulators.matching import BookSide, SubmitResult, Tif, Trade
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
from arbiter.venues.polymarket.amounts import TICK_SIZES, Side
from arbiter.venues.polymarket.auth import (
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
from arbiter.venues.polymarket.constants import DATA_API_PREFIX, VENUE
from arbiter.venues.polymarket.order_builder import MAX_BATCH_ORDERS
from arbiter.venues.polymarket.schemas import book_hash
from arbiter.venues.polymarket.signing import (
    CTF_EXCHANGE_V3,
    EXCHANGE_DOMAIN_VERSION,
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

INITIAL_CURSOR, END_CURSOR = "MA==", "LTE="
# Not in the protocol facts: docs.polymarket.com's GET /data/trades example answers "limit": 100
DEFAULT_PAGE_SIZE = 100
HEARTBEAT_TIMEOUT_MS = 10_000  # facts A13: one missed for 10 s cancels every open order
ORDER_VERSION_MISMATCH = "order_version_mismatch"  # facts A2/A9 (the V2 SDK's constant)
NOT_CANCELABLE = "order not found or already matched/canceled"
LIVE, MATCHED, CANCELED = "LIVE", "MATCHED", "CANCELED"
NO_ORDERBOOK = "No orderbook exists for the requested token id"  # facts A9
MARKET_NOT_FOUND = "market not found"  # not in the facts: our text for an unknown market
MIN_ORDER_SIZE = QTY_SCALE // 100
"""The emulator's minimum order: the 0.01-share size grid, which every market reports."""
_TICK_MICROS = frozenset(t.tick_micros for t in TICK_SIZES.values())


@dataclass(frozen=True, slots=True)
class TokenRef:
    condition_id: str
    outcome: Outcome


class _Caller(NamedTuple):
    """Who an L2-authenticated request comes from."""

    api_key: str
    address: str


@dataclass(slots=True)
class _Order(WireRecord):
    """One accepted order as the CLOB tracks it: integer micro-units, JSON on the way out."""

    id: str  # the EIP-712 order hash
    owner: str  # API key that posted it
    address: str  # signer EOA: cancels and heartbeats are scoped to it
    maker: str  # funder address
    market: str
    token: str
    outcome: Outcome
    side: str  # BUY | SELL of `token`
    price: int  # in `token` terms
    size: int
    order_type: str
    expiration: str
    created_ms: int
    engine_id: str
    status: str = LIVE
    matched: int = 0
    trades: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "status": self.status, "owner": self.owner,
            "maker_address": self.maker, "market": self.market, "asset_id": self.token,
            "side": self.side, "original_size": size_text(self.size),
            "size_matched": size_text(self.matched), "price": dollars(self.price),
            "outcome": _outcome_name(self.outcome), "expiration": self.expiration,
            "order_type": self.order_type, "associate_trades": list(self.trades),
            "created_at": self.created_ms // 1000,
        }


Handler = Callable[[_Caller, dict[str, str], bytes], Awaitable[HttpResponse]]


class PolymarketEmulator(EmulatedVenue):
    venue = VENUE
    surface = EmulatorSurface(
        ws_routes={"/ws/market": "market", "/ws/user": "user"}, book_channel="market",
        order_paths=frozenset({"/order", "/orders"}),
        error_bodies={
            # the insert error for an order the venue refuses to fund (docs/venues/polymarket.md)
            400: {"success": False, "error": "not enough balance / allowance",
                  "errorMsg": "INVALID_ORDER_NOT_ENOUGH_BALANCE: not enough balance / allowance"},
            401: {"error": "Unauthorized/Invalid api key"},
            429: {"error": "Too Many Requests"},
            500: {"error": "Internal Server Error"},  # not documented: a generic body
            503: {"error": "Trading is currently disabled. Check polymarket.com for updates"},
        },
        default_port=8601,
    )

    def __init__(
        self, *, page_size: int = DEFAULT_PAGE_SIZE,
        heartbeat_timeout_ms: int = HEARTBEAT_TIMEOUT_MS,
    ) -> None:
        super().__init__()
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, was {page_size}")
        self.page_size = page_size
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.tokens: dict[str, TokenRef] = {}
        self.token_ids: dict[str, tuple[str, str]] = {}  # condition -> (yes, no)
        self.fees: dict[str, FeeModel] = {}
        self.resolved: dict[str, int] = {}  # condition -> what one YES token pays out
        # paper: the wallet redeems each market as it resolves (what a redeeming relayer
        # does); Arbiter itself sends no CTF transaction yet
        self.auto_redeem = True
        self.activity: list[dict[str, object]] = []  # the Data API's activity rows, oldest first
        self._custom_features: set[int] = set()  # ids of sessions that asked for them
        self.api_keys: dict[str, tuple[ApiCreds, str]] = {}  # api key -> (creds, signer address)
        self.exchange_version = int(EXCHANGE_DOMAIN_VERSION)
        self._v2_domain = ExchangeDomain.for_market(POLYGON_CHAIN_ID, neg_risk=False)
        self.domain: ExchangeDomain = self._v2_domain
        self.orders: dict[str, _Order] = {}  # accepted orders by order hash
        self.trades: dict[str, dict[str, object]] = {}  # REST trade records by trade id
        self._trade_addresses: dict[str, set[str]] = {}  # trade id -> our addresses in it
        self._by_engine_id: dict[str, str] = {}  # matching-engine order id -> order hash
        self._heartbeats: dict[str, int] = {}  # signer address -> last heartbeat (ms)
        self._heartbeat_seq = 0
        self._private: dict[tuple[str, str], Handler] = {
            ("POST", "/order"): self._post_order,
            ("POST", "/orders"): self._post_orders,
            ("DELETE", "/order"): self._cancel_order,
            ("DELETE", "/orders"): self._cancel_orders,
            ("DELETE", "/cancel-all"): self._cancel_all,
            ("DELETE", "/cancel-market-orders"): self._cancel_market_orders,
            ("GET", "/data/orders"): self._open_orders,
            ("GET", "/data/trades"): self._trades_page,
            ("POST", "/v1/heartbeats"): self._heartbeat,
            ("GET", "/balance-allowance"): self._balance_allowance,
            ("GET", "/auth/api-keys"): self._api_keys,
        }

    def register_api_key(self, creds: ApiCreds, address: str) -> None:
        """What POST /auth/api-key would have created for `address`."""
        self.api_keys[creds.api_key] = (creds, address)

    def list_market(self, market: Market, fees: FeeModel) -> None:
        self.add_binary_market(market.market_id, market.yes_token, market.no_token,
                               market.tick_micros, fees)

    def intent_key(self, method: str, path: str, body: bytes) -> str | None:
        """An order's intent is its salt, which the gateway derives from the client order id."""
        if method != "POST" or path != "/order":
            return None
        return f"{VENUE}:{orjson.loads(body)['order']['salt']}"

    def add_binary_market(
        self, condition_id: str, yes_token: str, no_token: str, tick: int, fee: FeeModel
    ) -> None:
        self.add_market(condition_id, tick)
        self.tokens[yes_token] = TokenRef(condition_id, Outcome.YES)
        self.tokens[no_token] = TokenRef(condition_id, Outcome.NO)
        self.token_ids[condition_id] = (yes_token, no_token)
        self.fees[condition_id] = fee

    def upgrade_exchange(
        self, version: int = 3, verifying_contract: str = CTF_EXCHANGE_V3
    ) -> None:
        """Scripted fault: the exchange moved to `version`. GET /version reports it, orders
        must be signed for its domain, and orders still signed for the old domain get the
        venue's `order_version_mismatch` error."""
        self.exchange_version = version
        self.domain = ExchangeDomain(POLYGON_CHAIN_ID, verifying_contract, str(version))

    async def change_tick(self, condition_id: str, tick: int) -> None:
        """Scripted venue event (facts A11): the market's minimum tick becomes `tick`
        micro-dollars. Market-channel subscribers of either token get `tick_size_change`,
        GET /tick-size and GET /book report the new tick, and orders off the new grid get
        INVALID_ORDER_MIN_TICK_SIZE. What the venue does with resting orders a coarser grid
        would strand is not in the facts, so such a change is refused (cancel them first)."""
        engine = self.engines.get(condition_id)
        if engine is None:
            raise ValueError(f"unknown market {condition_id!r}")
        if tick not in _TICK_MICROS:
            raise ValueError(f"tick {tick} micro-dollars is not a Polymarket tick size "
                             f"(known: {sorted(_TICK_MICROS)})")
        stranded = sorted({o.price for o in engine.orders.values() if o.price % tick})
        if stranded:
            raise ValueError(f"market {condition_id}: resting orders at {stranded} would be "
                             f"off the {tick} grid; cancel them before the change")
        old, engine.tick = engine.tick, tick
        for session in list(self.sessions):
            subscribed = session.subscriptions.get(MARKET_SID, set())
            for asset in self.token_ids[condition_id]:
                if asset in subscribed:
                    await session.push({
                        "event_type": "tick_size_change", "asset_id": asset,
                        "market": condition_id, "old_tick_size": dollars(old),
                        "new_tick_size": dollars(tick), "timestamp": str(self.now_ms)})

    async def resolve(self, market_id: str, yes_payout: int) -> None:
        """Scripted venue event: the market closes and the oracle reports its payout (a
        YES token pays `yes_payout`, NO the rest of $1; UMA's 50-50 for an unresolvable
        question is half each). Our resting orders are canceled, new ones refused, GET
        /markets reports it `closed` with its winner and payout prices, and market-channel
        subscribers that enabled custom features get `market_resolved` (facts A11). The
        tokens stay in the wallet until redeemed (`redeem`), at once with `auto_redeem`."""
        if market_id in self.resolved:
            raise ValueError(f"market {market_id} is already resolved")
        if not 0 <= yes_payout <= ONE_DOLLAR:
            raise ValueError(f"a payout is $0 to $1 a token, not {yes_payout}")
        self.resolved[market_id] = yes_payout
        for order_id, order in list(self.orders.items()):
            if order.market == market_id and order.status == LIVE:
                self._cancel_one(order.address, order_id)
        yes, no = self.token_ids[market_id]
        winner = {ONE_DOLLAR: (yes, "Yes"), 0: (no, "No")}.get(yes_payout, ("", ""))
        event = {"event_type": "market_resolved", "id": market_id, "market": market_id,
                 "assets_ids": [yes, no], "winning_asset_id": winner[0],
                 "winning_outcome": winner[1], "timestamp": str(self.now_ms)}
        for session in list(self.sessions):
            subscribed = session.subscriptions.get(MARKET_SID, set())
            if id(session) in self._custom_features and subscribed & {yes, no}:
                await session.push(event)
        if self.auto_redeem:
            self.redeem(market_id)

    async def publish(self) -> None:
        if self.auto_merge:
            for market_id in sorted(self.token_ids):
                if market_id not in self.resolved:
                    self.merge(market_id)
        await super().publish()

    def merge(self, market_id: str, qty: int | None = None) -> int:
        """The wallet merges complete sets back to collateral (on chain, the CTF contract's
        `mergePositions`; no CLOB endpoint): `qty` (default: every complete set) of YES and
        of NO burn and $1 a set is credited, recorded as a MERGE row of the Data API's
        activity feed. Returns the sets merged."""
        yes, no = self.token_ids[market_id]
        positions = self.account.positions
        sets = min(positions.get(yes, 0), positions.get(no, 0))
        qty = sets if qty is None else min(qty, sets)
        if qty <= 0:
            return 0
        positions[yes] -= qty
        positions[no] -= qty
        credited = notional(ONE_DOLLAR, qty)
        self.account.cash += credited
        tx = hashlib.sha256(f"merge:{market_id}:{len(self.activity)}".encode()).hexdigest()
        self.activity.append({
            "proxyWallet": "", "timestamp": self.now_ms // 1000, "conditionId": market_id,
            "type": "MERGE", "size": float(Decimal(qty) / QTY_SCALE),
            "usdcSize": float(Decimal(credited) / QTY_SCALE), "transactionHash": f"0x{tx}",
            "price": 0, "asset": "", "side": "", "outcomeIndex": 999})
        return qty

    def redeem(self, market_id: str) -> int:
        """The wallet redeems a resolved market's tokens for collateral (on chain, the CTF
        contract's `redeemPositions`; no CLOB endpoint): every token held pays its payout.
        Returns the collateral credited."""
        payout = self.resolved[market_id]
        yes, no = self.token_ids[market_id]
        held = {token: self.account.positions.pop(token, 0) for token in (yes, no)}
        credited = notional(payout, held[yes]) + notional(ONE_DOLLAR - payout, held[no])
        self.account.cash += credited
        return credited

    # -- WebSocket -------------------------------------------------------------------
    async def on_ws_frame(self, session: WsSession, frame: bytes) -> None:
        if frame == b"PING":
            await session.sink(b"PONG")
            return
        msg = orjson.loads(frame)
        operation = msg.get("operation")
        if msg.get("type") == "market" or "assets_ids" in msg:
            assets = [a for a in msg.get("assets_ids", []) if a in self.tokens]
            held = session.subscriptions.get(MARKET_SID, set())
            if operation == "unsubscribe":  # facts A11: a later change of the subscription
                session.subscriptions[MARKET_SID] = held - set(assets)
                return
            session.subscriptions[MARKET_SID] = held | set(assets)
            session.channels[MARKET_SID] = "market"
            if msg.get("custom_feature_enabled") is True:
                self._custom_features.add(id(session))
            for asset in assets:
                await session.push([self._book_event(asset)])
        elif msg.get("type") == "user":
            session.subscriptions[USER_SID] = set(msg.get("markets") or self.engines)
            session.channels[USER_SID] = "user"
        elif operation in ("subscribe", "unsubscribe") and "markets" in msg:
            # facts A12: later changes of a user subscription (on the user channel only)
            if USER_SID not in session.subscriptions:
                return
            markets = {m for m in msg["markets"] if m in self.engines}
            held = session.subscriptions[USER_SID]
            session.subscriptions[USER_SID] = (held | markets if operation == "subscribe"
                                               else held - markets)

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
        await self.on_clock()  # a request may be the first thing to notice a missed heartbeat
        handler = self._private.get((method, path))
        if handler is not None or (method == "GET" and path.startswith("/data/order/")):
            caller = self._check_l2(method, path, headers, body)
            if isinstance(caller, HttpResponse):
                return caller
            if handler is None:
                return self._order_lookup(caller, path.removeprefix("/data/order/"))
            return await handler(caller, query, body)
        if (method, path) in (("POST", "/auth/api-key"), ("GET", "/auth/derive-api-key")):
            return self._l1_api_key(headers)
        if method == "GET":
            return self._public(path, query)
        return HttpResponse.json(404, {"error": f"no route {method} {path}"})

    def _public(self, path: str, query: dict[str, str]) -> HttpResponse:
        if path == DATA_API_PREFIX + "/positions":  # the Data API host, served on our port
            return self._positions(query)
        if path == DATA_API_PREFIX + "/activity":
            return self._activity(query)
        if path == "/time":
            return HttpResponse(200, str(self.now_ms // 1000).encode())
        if path == "/version":
            return HttpResponse.json(200, {"version": self.exchange_version})
        if path == "/markets":
            return self._paged([self._market(c) for c in self.token_ids], query)
        for prefix, read in (("/markets/", self._market_reply),
                             ("/clob-markets/", self._clob_market),
                             ("/markets-by-token/", self._market_by_token)):
            if path.startswith(prefix) and "/" not in path[len(prefix):]:
                return read(path[len(prefix):])
        by_token = self._token_reads.get(path)
        if by_token is None:
            return HttpResponse.json(404, {"error": f"no route GET {path}"})
        token = query.get("token_id", "")
        if token not in self.tokens:
            return HttpResponse.json(404, {"error": NO_ORDERBOOK})
        return by_token(token, query)

    @property
    def _token_reads(self) -> dict[str, Callable[[str, dict[str, str]], HttpResponse]]:
        """The public GETs keyed by `?token_id=`."""
        return {"/book": self._book, "/tick-size": self._tick_size, "/neg-risk": self._neg_risk,
                "/fee-rate": self._fee_rate, "/price": self._price, "/midpoint": self._midpoint,
                "/spread": self._spread}

    def _book(self, token: str, query: dict[str, str]) -> HttpResponse:
        """GET /book: the levels worst to best (best last, as the venue sends them), and the
        SHA-1 of the compact JSON with `hash` blank, so a client can tell books apart."""
        event = self._book_event(token)
        engine = self.engines[self.tokens[token].condition_id]
        # the venue's key order, which its hash covers (facts A10)
        book: dict[str, object] = {
            "market": event["market"], "asset_id": token, "timestamp": event["timestamp"],
            "hash": "", "bids": event["bids"], "asks": event["asks"],
            "min_order_size": size_text(MIN_ORDER_SIZE), "tick_size": dollars(engine.tick),
            "neg_risk": False, "last_trade_price": dollars(self._last_trade(token))}
        book["hash"] = book_hash(book)
        return HttpResponse.json(200, book)

    def _tick_size(self, token: str, query: dict[str, str]) -> HttpResponse:
        """GET /tick-size: a JSON number (facts A2), written from the integer tick."""
        tick = self.engines[self.tokens[token].condition_id].tick
        return HttpResponse(200, b'{"minimum_tick_size":' + dollars(tick).encode() + b"}")

    def _neg_risk(self, token: str, query: dict[str, str]) -> HttpResponse:
        return HttpResponse.json(200, {"neg_risk": False})  # all on the standard exchange

    def _fee_rate(self, token: str, query: dict[str, str]) -> HttpResponse:
        """GET /fee-rate: the V1 base fee in bps. V2 fees are not in the order (facts A14),
        so every market's base fee is 0 (the fee curve is in GET /clob-markets `fd`)."""
        return HttpResponse.json(200, {"base_fee": 0})

    def _price(self, token: str, query: dict[str, str]) -> HttpResponse:
        """GET /price?side=: the best bid for BUY, the best ask for SELL (the CLOB OpenAPI's
        wording), as a decimal string."""
        side = query.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            return HttpResponse.json(400, {"error": "Invalid side"})
        bid, ask = self._touch(token)
        best = bid if side == "BUY" else ask
        if best is None:
            return HttpResponse.json(404, {"error": NO_ORDERBOOK})
        return HttpResponse.json(200, {"price": dollars(best)})

    def _midpoint(self, token: str, query: dict[str, str]) -> HttpResponse:
        """GET /midpoint: `{"mid": "<decimal>"}` (the live key; the OpenAPI's `mid_price`
        is never sent), which needs both sides of the book."""
        bid, ask = self._touch(token)
        if bid is None or ask is None:
            return HttpResponse.json(404, {"error": NO_ORDERBOOK})
        return HttpResponse.json(200, {"mid": dollars((bid + ask) // 2)})

    def _spread(self, token: str, query: dict[str, str]) -> HttpResponse:
        bid, ask = self._touch(token)
        if bid is None or ask is None:
            return HttpResponse.json(404, {"error": NO_ORDERBOOK})
        return HttpResponse.json(200, {"spread": dollars(ask - bid)})

    def _touch(self, token: str) -> tuple[int | None, int | None]:
        """(best bid, best ask) of one token, in its own price terms."""
        ref = self.tokens[token]
        bids, asks = self.engines[ref.condition_id].snapshot()
        if ref.outcome is Outcome.NO:
            bids, asks = _mirror(asks), _mirror(bids)
        return (bids[0][0] if bids else None), (asks[0][0] if asks else None)

    def _last_trade(self, token: str) -> int:
        """The last trade's price in the token's terms; 0 before the market's first trade."""
        ref = self.tokens[token]
        engine = self.engines[ref.condition_id]
        return _token_price(ref.outcome, engine.last_price) if engine.volume else 0

    def _market(self, condition_id: str) -> dict[str, object]:
        """A CLOB market record (GET /markets, /markets/{condition_id}); ticks and sizes are
        JSON numbers there, unlike the book's strings."""
        engine = self.engines[condition_id]
        payout = self.resolved.get(condition_id)
        pays = (None if payout is None else {0: payout, 1: ONE_DOLLAR - payout})
        tokens = [{"token_id": token, "outcome": label,
                   "price": float(to_decimal(self._last_trade(token) if pays is None
                                             else pays[index])),
                   "winner": pays is not None and pays[index] == ONE_DOLLAR}
                  for index, (token, label) in enumerate(zip(
                      self.token_ids[condition_id], ("Yes", "No"), strict=True))]
        closed = payout is not None
        return {
            "enable_order_book": True, "active": True, "closed": closed, "archived": False,
            "accepting_orders": not closed, "accepting_order_timestamp": None,
            "minimum_order_size": float(to_decimal(MIN_ORDER_SIZE)),
            "minimum_tick_size": float(to_decimal(engine.tick)),
            "condition_id": condition_id, "question_id": _question_id(condition_id),
            "question": f"Emulated market {condition_id}", "description": "",
            "market_slug": f"emulated-{condition_id.lower()}", "end_date_iso": None,
            "game_start_time": None, "seconds_delay": 0, "fpmm": "",
            "maker_base_fee": 0, "taker_base_fee": 0, "notifications_enabled": False,
            "neg_risk": False, "neg_risk_market_id": "", "neg_risk_request_id": "",
            "icon": "", "image": "", "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
            "is_50_50_outcome": False, "tokens": tokens, "tags": [],
        }

    def _market_reply(self, condition_id: str) -> HttpResponse:
        if condition_id not in self.token_ids:
            return HttpResponse.json(404, {"error": MARKET_NOT_FOUND})
        return HttpResponse.json(200, self._market(condition_id))

    def _clob_market(self, condition_id: str) -> HttpResponse:
        """GET /clob-markets/{condition_id}: the compact market parameters the V2 SDK signs
        market orders with (`t` tokens, `mts` tick, `mos` minimum size, `nr` neg risk, `fd`
        the taker fee curve: rate x (p(1-p))^exponent)."""
        if condition_id not in self.token_ids:
            return HttpResponse.json(404, {"error": MARKET_NOT_FOUND})
        fee = self.fees[condition_id]
        yes, no = self.token_ids[condition_id]
        return HttpResponse.json(200, {
            "gst": None, "r": {}, "t": [{"t": yes, "o": "Yes"}, {"t": no, "o": "No"}],
            "mos": float(to_decimal(MIN_ORDER_SIZE)),
            "mts": float(to_decimal(self.engines[condition_id].tick)),
            "mbf": 0, "tbf": 0, "rfqe": False, "ibce": False, "nr": False, "oas": 0,
            "fd": {"r": float(fee.coefficient), "e": fee.exponent, "to": True}})

    def _market_by_token(self, token: str) -> HttpResponse:
        ref = self.tokens.get(token)
        if ref is None:
            return HttpResponse.json(404, {"error": MARKET_NOT_FOUND})
        yes, no = self.token_ids[ref.condition_id]
        return HttpResponse.json(200, {"condition_id": ref.condition_id,
                                       "primary_token_id": yes, "secondary_token_id": no})

    def _check_l2(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> _Caller | HttpResponse:
        """L2 auth as the CLOB does it: known API key and passphrase, HMAC over the body."""
        api_key = headers.get(POLY_API_KEY, "")
        known = self.api_keys.get(api_key)
        if known is None or headers.get(POLY_PASSPHRASE) != known[0].passphrase:
            return HttpResponse.json(401, {"error": "Unauthorized/Invalid api key"})
        creds, address = known
        expected = hmac_signature(creds.secret, headers.get(POLY_TIMESTAMP, ""), method, path, body)
        if headers.get(POLY_SIGNATURE) != expected or headers.get(POLY_ADDRESS) != address:
            return HttpResponse.json(401, {"error": "Unauthorized/Invalid api key"})
        return _Caller(api_key, address)

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

    # -- order entry -----------------------------------------------------------------
    async def _post_order(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return HttpResponse.json(400, {"error": "Invalid payload"})
        status, reply = await self._place(caller, payload)
        return HttpResponse.json(status, reply)

    async def _post_orders(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """POST /orders: 1..15 wrappers, each accepted or rejected on its own."""
        try:
            payloads = orjson.loads(body)
        except orjson.JSONDecodeError:
            return HttpResponse.json(400, {"error": "Invalid payload"})
        if not isinstance(payloads, list) or not payloads:
            return HttpResponse.json(400, {"error": "Invalid payload"})
        if len(payloads) > MAX_BATCH_ORDERS:
            return HttpResponse.json(400, {"error": "Payload exceeds the limit"})
        results = []
        for payload in payloads:
            status, reply = await self._place(caller, payload)
            results.append(reply if status == 200 else _batch_rejection(reply))
        return HttpResponse.json(200, results)

    async def _place(self, caller: _Caller, payload: object) -> tuple[int, dict[str, object]]:
        """One POST /order wrapper: (HTTP status, the venue's reply body)."""
        if not isinstance(payload, dict):
            return 400, {"error": "Invalid payload"}
        try:
            raw = payload["order"]
            token = str(raw["tokenId"])
            maker, taker = int(raw["makerAmount"]), int(raw["takerAmount"])
            side = raw["side"]
            order_type = str(payload["orderType"])
            tif = _TIF[order_type]
            post_only = payload.get("postOnly", False) is True
            expiration_s = int(raw.get("expiration") or 0)
        except (KeyError, TypeError, ValueError):
            return 400, {"error": "Invalid payload"}
        if post_only and order_type not in ("GTC", "GTD"):
            return _insert_error("INVALID_POST_ONLY_ORDER_TYPE", "invalid post-only order: only "
                                 "GTC and GTD order types are allowed")
        # GTD: the venue keeps a one-minute security threshold, so a lifetime of N seconds is
        # sent as now + 60 + N and the order dies at expiration - 60 (facts A7)
        if (order_type == "GTD") != (expiration_s > 0) or (
                order_type == "GTD" and expiration_s <= self.now_ms // 1000 + 60):
            return _insert_error("INVALID_ORDER_EXPIRATION", "invalid expiration")
        ref = self.tokens.get(token)
        if ref is None:
            return 400, {"error": "Invalid token id"}
        if ref.condition_id in self.resolved:  # not in the facts: our text for a closed market
            return _insert_error("INVALID_ORDER_ERROR", "market is closed: not accepting orders")
        signed, problem = self._verified_order(payload, caller)
        if signed is None:
            return 400, {"error": problem}
        order_id = "0x" + order_digest(signed, self.domain).hex()
        if order_id in self.orders:
            return _insert_error("INVALID_ORDER_DUPLICATED", "order is invalid. Duplicated. Same "
                                 "order has already been placed, can't be placed again")
        if side not in ("BUY", "SELL") or maker <= 0 or taker <= 0:
            return 400, {"error": "Invalid side"}
        collateral, shares = (maker, taker) if side == "BUY" else (taker, maker)
        if shares < MIN_ORDER_SIZE:
            return _insert_error("INVALID_ORDER_MIN_SIZE",
                                 "order is invalid. Size lower than the minimum")
        price, rem = divmod(collateral * ONE_DOLLAR, shares)
        engine = self.engines[ref.condition_id]
        if rem or price % engine.tick:
            return _insert_error("INVALID_ORDER_MIN_TICK_SIZE",
                                 "order is invalid. Price breaks minimum tick size rules")
        buys_yes = (side == "BUY") == (ref.outcome is Outcome.YES)
        book_side = BookSide.BID if buys_yes else BookSide.ASK
        result = engine.submit(ACCOUNT, book_side, _token_price(ref.outcome, price), shares, tif,
                               post_only=post_only)
        if result.would_cross:
            return _insert_error("INVALID_POST_ONLY_ORDER",
                                 "invalid post-only order: order crosses book")
        if result.rejected:
            return _insert_error("INVALID_ORDER_ERROR", result.rejected)
        if tif is Tif.FOK and not result.trades:
            return _insert_error("FOK_ORDER_NOT_FILLED_ERROR",
                                 "order couldn't be fully filled, FOK orders are fully filled/killed")
        order = _Order(
            id=order_id, owner=caller.api_key, address=caller.address, maker=signed.maker,
            market=ref.condition_id, token=token, outcome=ref.outcome, side=side, price=price,
            size=shares, order_type=order_type, expiration=str(raw.get("expiration", "0")),
            created_ms=self.now_ms, engine_id=result.order_id,
        )
        self.orders[order_id] = order
        self._by_engine_id[result.order_id] = order_id
        if result.resting and expiration_s:
            self.expire_at(order_id, (expiration_s - 60) * 1000)
        await self._settle_taker(order, result)
        filled = result.filled
        status = "live" if result.resting else ("matched" if filled else "unmatched")
        order.status = status.upper()
        return 200, {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": status,
            # decimal strings in whole shares and dollars, as the venue answers
            "makingAmount": _amount(notional(price, filled) if side == "BUY" else filled),
            "takingAmount": _amount(filled if side == "BUY" else notional(price, filled)),
            "tradeIDs": [t.trade_id for t in result.trades],
            "transactionsHashes": [_transaction_hash(t.trade_id) for t in result.trades],
        }

    def _verified_order(self, payload: dict, caller: _Caller) -> tuple[Order | None, str]:
        """The order if its EIP-712 signature recovers to its signer, who owns the API key in
        `owner` and made this request; otherwise None and the venue's error text."""
        raw = payload["order"]
        known = self.api_keys.get(str(payload.get("owner", "")))
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
        except (KeyError, ValueError, TypeError, AttributeError):
            return None, "invalid order signature"
        if known is None or known[1] != caller.address:
            return None, "invalid order signature"

        def signed_for(domain: ExchangeDomain) -> bool:
            try:
                signer = recover_order_signer(order, str(raw.get("signature", "")), domain)
            except ValueError:
                return False
            if order.signature_type is SignatureType.POLY_1271:
                # the deposit wallet is the signer; the venue asks it (EIP-1271) whether the
                # owner's signature is good: here, the owner is the API key's address
                return signer == caller.address and order.signer == order.maker
            return signer == order.signer == caller.address

        if signed_for(self.domain):
            return order, ""
        if self.domain != self._v2_domain and signed_for(self._v2_domain):
            return None, ORDER_VERSION_MISMATCH
        return None, "invalid order signature"

    # -- fills -----------------------------------------------------------------------
    def _book_fill(self, order: _Order, book_price: int, qty: int) -> int:
        """Move our position and cash for one fill of `order`; the price in token terms."""
        price = _token_price(order.outcome, book_price)
        sign = 1 if order.side == "BUY" else -1
        self.account.positions[order.token] += sign * qty
        self.account.cash -= sign * notional(price, qty)
        order.matched += qty
        return price

    def _our_maker(self, trade: Trade) -> _Order | None:
        if trade.maker_owner != ACCOUNT:
            return None
        return self.orders.get(self._by_engine_id.get(trade.maker_order_id, ""))

    async def _settle_taker(self, order: _Order, result: SubmitResult) -> None:
        """Book our taker fills (and the taker fee), plus the maker side of any trade against
        one of our own resting orders, and report each trade."""
        fills = [(self._book_fill(order, t.price, t.qty), t.qty) for t in result.trades]
        fee = self.fees[order.market].fee(fills) if fills else 0
        self.account.fees += fee
        self.account.cash -= fee
        for trade in result.trades:
            maker = self._our_maker(trade)
            if maker is not None:
                self._filled_as_maker(maker, trade)
            await self._report_trade(order.market, trade, order, maker)

    async def settle_maker_fill(self, market_id: str, trade: Trade) -> None:
        maker = self._our_maker(trade)
        if maker is None:
            raise KeyError(f"trade {trade.trade_id} names maker order {trade.maker_order_id}, "
                           "which is not one of our orders")
        self._filled_as_maker(maker, trade)
        await self._report_trade(market_id, trade, None, maker)

    def _filled_as_maker(self, maker: _Order, trade: Trade) -> None:
        """Makers pay no fee on Polymarket (facts A14)."""
        self._book_fill(maker, trade.price, trade.qty)
        if maker.matched == maker.size:
            maker.status = MATCHED

    async def _report_trade(
        self, market_id: str, trade: Trade, taker: _Order | None, maker: _Order | None
    ) -> None:
        """Record the trade for GET /data/trades and push it on the user channel. The top
        level is the taker's view; `maker_orders` names the resting order that was hit."""
        yes, _ = self.token_ids[market_id]
        qty = size_text(trade.qty)
        if taker is not None:
            asset, side, outcome = taker.token, taker.side, taker.outcome
            taker_id, taker_owner = taker.id, taker.owner
        else:  # someone else's order, in YES-book terms
            asset, outcome = yes, Outcome.YES
            side = "BUY" if trade.taker_side is BookSide.BID else "SELL"
            taker_id, taker_owner = trade.taker_order_id, trade.taker_owner
        if maker is not None:
            maker_entry = {"order_id": maker.id, "owner": maker.owner, "asset_id": maker.token,
                           "matched_amount": qty, "outcome": _outcome_name(maker.outcome),
                           "price": dollars(_token_price(maker.outcome, trade.price))}
        else:
            maker_entry = {"order_id": trade.maker_order_id, "owner": trade.maker_owner,
                           "asset_id": yes, "matched_amount": qty, "outcome": "YES",
                           "price": dollars(trade.price)}
        ours = taker or maker
        if ours is None:
            raise ValueError(f"trade {trade.trade_id} has none of our orders to report")
        for order in (taker, maker):
            if order is not None:
                order.trades.append(trade.trade_id)
        seconds = str(self.now_ms // 1000)
        common = {
            "id": trade.trade_id, "taker_order_id": taker_id, "market": market_id,
            "asset_id": asset, "side": side, "size": qty,
            "price": dollars(_token_price(outcome, trade.price)),
            "match_time": seconds, "last_update": seconds, "outcome": _outcome_name(outcome),
            "owner": ours.owner, "maker_orders": [maker_entry],
        }
        self.trades[trade.trade_id] = {
            **common, "status": "CONFIRMED", "bucket_index": 0, "maker_address": ours.maker,
            "transaction_hash": _transaction_hash(trade.trade_id)}
        self._trade_addresses[trade.trade_id] = {o.address for o in (taker, maker) if o}
        event = {**common, "event_type": "trade", "type": "TRADE", "status": "MATCHED",
                 "trade_owner": taker_owner, "timestamp": str(self.now_ms)}
        for session in list(self.sessions):
            if market_id in session.subscriptions.get(USER_SID, set()):
                await session.push([event])

    # -- cancels ---------------------------------------------------------------------
    def _cancel_one(self, address: str, order_id: str) -> str:
        """Take one of `address`'s live orders off the book: "" or why it was not."""
        order = self.orders.get(order_id)
        if order is None or order.address != address or order.status != LIVE:
            return NOT_CANCELABLE
        if self.engines[order.market].cancel(order.engine_id) is None:
            return NOT_CANCELABLE
        order.status = CANCELED
        return ""

    def _cancel_ids(self, address: str, order_ids: list[str]) -> HttpResponse:
        canceled, not_canceled = [], {}
        for order_id in dict.fromkeys(order_ids):
            reason = self._cancel_one(address, order_id)
            if reason:
                not_canceled[order_id] = reason
            else:
                canceled.append(order_id)
        return HttpResponse.json(200, {"canceled": canceled, "not_canceled": not_canceled})

    def _live(self, address: str, market: str = "", asset_id: str = "") -> list[str]:
        return [o.id for o in self.orders.values()
                if o.address == address and o.status == LIVE
                and market in ("", o.market) and asset_id in ("", o.token)]

    async def _cancel_order(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """DELETE /order {"orderID"}."""
        request = _json_body(body)
        if not isinstance(request, dict) or not isinstance(request.get("orderID"), str):
            return HttpResponse.json(400, {"error": "Invalid payload"})
        return self._cancel_ids(caller.address, [request["orderID"]])

    async def _cancel_orders(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """DELETE /orders [ids]."""
        ids = _json_body(body)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return HttpResponse.json(400, {"error": "Invalid payload"})
        return self._cancel_ids(caller.address, ids)

    async def _cancel_all(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        return self._cancel_ids(caller.address, self._live(caller.address))

    async def _cancel_market_orders(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """DELETE /cancel-market-orders {"market"?, "asset_id"?}: absent keys match all."""
        request = _json_body(body) if body else {}
        if not isinstance(request, dict) or not all(
                isinstance(request.get(k, ""), str) for k in ("market", "asset_id")):
            return HttpResponse.json(400, {"error": "Invalid payload"})
        return self._cancel_ids(caller.address, self._live(
            caller.address, request.get("market", ""), request.get("asset_id", "")))

    # -- heartbeats ------------------------------------------------------------------
    async def _heartbeat(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """POST /v1/heartbeats {"heartbeat_id"}: (re)arms the dead-man switch for the caller's
        address. Any id is accepted (the chaining rule is unverified); a fresh one comes back."""
        request = _json_body(body)
        if not isinstance(request, dict) or not isinstance(request.get("heartbeat_id"), str):
            return HttpResponse.json(400, {"error": "Invalid payload"})
        self._heartbeats[caller.address] = self.now_ms
        self._heartbeat_seq += 1
        return HttpResponse.json(200, {"heartbeat_id": str(uuid.UUID(int=self._heartbeat_seq))})

    def expire(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is not None:
            self._cancel_one(order.address, order_id)

    async def on_clock(self) -> None:
        """The dead-man switch: an address whose last heartbeat is older than the timeout
        loses every open order, and is disarmed until its next heartbeat."""
        for address, last in list(self._heartbeats.items()):
            if self.now_ms - last > self.heartbeat_timeout_ms:
                del self._heartbeats[address]
                for order_id in self._live(address):
                    self._cancel_one(address, order_id)

    # -- reads -----------------------------------------------------------------------
    async def _open_orders(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """GET /data/orders?market=&asset_id=&id=: the caller's live orders, paged."""
        orders = [
            o.to_json() for o in self.orders.values()
            if o.address == caller.address and o.status == LIVE
            and query.get("market", o.market) == o.market
            and query.get("asset_id", o.token) == o.token and query.get("id", o.id) == o.id
        ]
        return self._paged(orders, query)

    async def _trades_page(
        self, caller: _Caller, query: dict[str, str], body: bytes
    ) -> HttpResponse:
        """GET /data/trades?id=&maker_address=&market=&asset_id=&before=&after=, paged;
        `before`/`after` bound `match_time` (Unix seconds, inclusive)."""
        try:
            after = int(query.get("after") or 0)
            before = int(query["before"]) if query.get("before") else None
        except ValueError:
            return HttpResponse.json(400, {"error": "before and after must be Unix seconds"})
        maker_address = query.get("maker_address", "").lower()
        found = []
        for trade_id, trade in self.trades.items():
            makers = cast(list[dict[str, str]], trade["maker_orders"])
            assets = {trade["asset_id"]} | {m["asset_id"] for m in makers}
            match_time = int(str(trade["match_time"]))
            if (caller.address in self._trade_addresses[trade_id]
                    and query.get("id", trade_id) == trade_id
                    and maker_address in ("", str(trade["maker_address"]).lower())
                    and query.get("market", trade["market"]) == trade["market"]
                    and query.get("asset_id", trade["asset_id"]) in assets
                    and after <= match_time and (before is None or match_time <= before)):
                found.append(trade)
        return self._paged(found, query)

    def _paged(self, items: list[dict[str, object]], query: dict[str, str]) -> HttpResponse:
        """The CLOB's cursor paging: base64 offsets from "MA==", "LTE=" after the last page."""
        cursor = query.get("next_cursor") or INITIAL_CURSOR
        if cursor == END_CURSOR:
            chunk: list[dict[str, object]] = []
            following = None
        else:
            try:
                chunk, following = page(items, decode_cursor(cursor), self.page_size)
            except CursorError as exc:
                return HttpResponse.json(400, {"error": f"invalid next_cursor: {exc}"})
        return HttpResponse.json(200, {
            "limit": self.page_size, "count": len(chunk), "data": chunk,
            "next_cursor": END_CURSOR if following is None else encode_cursor(following)})

    def _order_lookup(self, caller: _Caller, order_id: str) -> HttpResponse:
        """GET /data/order/{id} for one of the caller's orders."""
        order = self.orders.get(order_id)
        if order is None or order.address != caller.address:
            return HttpResponse.json(404, {"error": "order not found"})
        return HttpResponse.json(200, order.to_json())

    async def _api_keys(self, caller: _Caller, query: dict[str, str],
                        body: bytes) -> HttpResponse:
        """GET /auth/api-keys: every API key of the caller's signer address."""
        keys = [key for key, (_, address) in self.api_keys.items() if address == caller.address]
        return HttpResponse.json(200, {"apiKeys": keys})

    async def _balance_allowance(self, caller: _Caller, query: dict[str, str],
                                 body: bytes) -> HttpResponse:
        """GET /balance-allowance: pUSD collateral (or one outcome token's balance, with
        `token_id`) in 6-decimal base units, and what the exchange may spend of it. Paper
        accounts have approved the exchange without limit, as the usual max approval does."""
        asset_type = query.get("asset_type")
        if asset_type == "COLLATERAL":
            balance = self.account.balance
        elif asset_type == "CONDITIONAL" and query.get("token_id") in self.tokens:
            balance = self.account.positions.get(query["token_id"], 0)
        else:
            return HttpResponse.json(400, {"error": "asset_type must be COLLATERAL, or "
                                                    "CONDITIONAL with a known token_id"})
        return HttpResponse.json(200, {"balance": str(max(0, balance)),
                                       "allowance": str(UNLIMITED_ALLOWANCE)})

    def _activity(self, query: dict[str, str]) -> HttpResponse:
        """The Data API's GET /activity: the wallet's on-chain actions, newest first, with
        the `type` (comma-separated), `market` (condition ids), `limit` (default 100, at most
        500) and `offset` filters; only merges are recorded here (trades are on the CLOB)."""
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", query.get("user", "")):
            return HttpResponse.json(400, {"error": "user must be a 0x address"})
        types = set(filter(None, query.get("type", "").split(",")))
        if types - ACTIVITY_TYPES:
            unknown = sorted(types - ACTIVITY_TYPES)
            return HttpResponse.json(400, {"error": f"unknown activity type {unknown}"})
        try:
            limit, offset = int(query.get("limit", "100")), int(query.get("offset", "0"))
        except ValueError as exc:
            return HttpResponse.json(400, {"error": str(exc)})
        if not 0 <= limit <= 500 or not 0 <= offset <= 10_000:
            return HttpResponse.json(400, {"error": "limit or offset out of range"})
        markets = set(filter(None, query.get("market", "").split(",")))
        rows = [{**row, "proxyWallet": query["user"]} for row in reversed(self.activity)
                if (not types or row["type"] in types)
                and (not markets or row["conditionId"] in markets)]
        return HttpResponse.json(200, rows[offset:offset + limit])

    def _positions(self, query: dict[str, str]) -> HttpResponse:
        """The Data API's GET /positions: the account's token balances (one account here)
        as its rows, with its filters and paging — `sizeThreshold` (default 1 share),
        `market` (condition ids), `limit` (default 100, at most 500), `offset` (at most
        10,000) — and `size` a JSON number of shares."""
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", query.get("user", "")):
            return HttpResponse.json(400, {"error": "user must be a 0x address"})
        try:
            threshold = parse_amount(query.get("sizeThreshold", "1"), "sizeThreshold")
            limit = int(query.get("limit", "100"))
            offset = int(query.get("offset", "0"))
        except ValueError as exc:
            return HttpResponse.json(400, {"error": str(exc)})
        if not 0 <= limit <= 500 or not 0 <= offset <= 10_000:
            return HttpResponse.json(400, {"error": "limit or offset out of range"})
        markets = set(filter(None, query.get("market", "").split(",")))
        rows = []
        for token, qty in sorted(self.account.positions.items()):
            ref = self.tokens.get(token)
            if ref is None or qty <= 0 or qty < threshold or (
                    markets and ref.condition_id not in markets):
                continue
            rows.append({"proxyWallet": query["user"], "asset": token,
                         "conditionId": ref.condition_id,
                         "size": float(Decimal(qty) / QTY_SCALE),  # a JSON number, as sent
                         "outcome": "Yes" if ref.outcome is Outcome.YES else "No",
                         "outcomeIndex": 0 if ref.outcome is Outcome.YES else 1})
        return HttpResponse.json(200, rows[offset:offset + limit])


ACTIVITY_TYPES = frozenset({"TRADE", "SPLIT", "MERGE", "REDEEM", "REWARD", "CONVERSION"})


UNLIMITED_ALLOWANCE = 2**256 - 1  # an ERC-20 max approval


def _derived_creds(address: str, nonce: int) -> ApiCreds:
    """Emulator API creds: deterministic, and not secret (anyone can recompute them)."""
    def part(label: str) -> bytes:
        return hashlib.sha256(f"arbiter-emulator:{label}:{address.lower()}:{nonce}".encode()).digest()

    return ApiCreds(
        api_key=str(uuid.UUID(bytes=part("key")[:16], version=4)),
        secret=base64.urlsafe_b64encode(part("secret")).decode(),
        passphrase=part("passphrase").hex(),
    )


def _question_id(condition_id: str) -> str:
    """A stand-in question id (the venue's is the UMA question's hash)."""
    return "0x" + hashlib.sha256(f"arbiter-emulator:question:{condition_id}".encode()).hexdigest()


def _amount(micros: int) -> str:
    """A POST /order amount: whole units as the venue writes them, "" when nothing matched."""
    return size_text(micros) if micros else ""


def _transaction_hash(trade_id: str) -> str:
    """A stand-in settlement hash: emulated trades settle at once, with no chain."""
    return "0x" + hashlib.sha256(f"arbiter-emulator:tx:{trade_id}".encode()).hexdigest()


def _token_price(outcome: Outcome, yes_price: int) -> int:
    """A YES-book price in a token's terms (NO at q is YES at 1 - q), and back."""
    return yes_price if outcome is Outcome.YES else ONE_DOLLAR - yes_price


def _outcome_name(outcome: Outcome) -> str:
    return "YES" if outcome is Outcome.YES else "NO"


def _mirror(levels: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(ONE_DOLLAR - p, q) for p, q in levels]


def _json_body(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _insert_error(code: str, message: str) -> tuple[int, dict[str, object]]:
    return 400, {"success": False, "errorMsg": f"{code}: {message}", "error": message}


def _batch_rejection(reply: dict[str, object]) -> dict[str, object]:
    """A rejected order inside a POST /orders reply: the per-order shape, unsuccessful."""
    return {"success": False, "errorMsg": reply.get("errorMsg") or reply.get("error", ""),
            "orderID": "", "status": "", "tradeIDs": [], "transactionsHashes": []}
