"""Kalshi's connectivity checks: GET `/trade-api/v2/exchange/status` (public: reachability)
and a signed GET `/trade-api/v2/portfolio/balance` (auth, and the cash). Kalshi publishes no time endpoint,
so the skew comes from the HTTP `Date` header of a reply, read by a plain GET to the same
origin (`http_date_probe`) when the transport has a base URL; otherwise it is not measured.

Readiness adds the one WebSocket, signed as the gateway signs its upgrade, with the
gateway's own subscribe commands: `orderbook_delta` for the first configured market must
send its `orderbook_snapshot`, and the private `fill` channel its `subscribed` ack. A
configured market is checked with GET `/markets/{ticker}` (status, price grid, fractional
trading); a venue without that endpoint is asked `/markets/{ticker}/orderbook`, which
proves the market is listed and nothing more."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
from pydantic import ValidationError

from arbiter.gateways.connectivity import (
    ChannelProbe,
    CheckResult,
    DateProbe,
    Listing,
    NowMs,
    ProbeRefused,
    error_text,
    frame_object,
    http_date_probe,
    judge_balance,
    object_reply,
    obtain,
    skew_from_server_ms,
    unreachable,
    wall_ms,
)
from arbiter.gateways.http_transport import HttpVenueTransport
from arbiter.platform.transport import RequestTimeout, VenueTransport
from arbiter.venues.kalshi.auth import auth_headers, ws_auth_headers
from arbiter.venues.kalshi.config import KalshiMarket
from arbiter.venues.kalshi.constants import VENUE
from arbiter.venues.kalshi.credentials import KalshiCredentials
from arbiter.venues.kalshi.gateway import subscribe_command
from arbiter.venues.kalshi.schemas import Balance

KALSHI_API = "/trade-api/v2"


async def check_kalshi(transport: VenueTransport,
        credentials: Callable[[], Awaitable[KalshiCredentials]] | None = None,
                       now_ms: NowMs = wall_ms, date_probe: DateProbe | None = None) -> CheckResult:
    result = CheckResult(VENUE, protocol="trade-api v2")
    try:
        status, raw = await transport.request("GET", f"{KALSHI_API}/exchange/status")
    except RequestTimeout as exc:
        return unreachable(result, exc)
    result.reachable = True
    if status != 200:
        result.warnings.append(f"GET /exchange/status: HTTP {status}: {error_text(raw)}")
    else:
        reply = orjson.loads(raw)
        if not (reply.get("exchange_active") and reply.get("trading_active")):
            result.warnings.append(f"exchange not trading: {reply}")

    if date_probe is None and isinstance(transport, HttpVenueTransport):
        date_probe = http_date_probe(transport.base_url, f"{KALSHI_API}/exchange/status",
                                     transport.request_timeout_s)
    if date_probe is None:
        result.notes.append("skew not measured: Kalshi has no time endpoint and this transport "
                            "exposes no Date header")
    else:
        sent = now_ms()
        try:
            date = await date_probe()
        except (aiohttp.ClientError, TimeoutError) as exc:
            date = None
            result.notes.append(f"skew not measured: {exc!r}")
        received = now_ms()
        if date:
            skew_from_server_ms(result, parsedate_to_datetime(date).timestamp() * 1000,
                                sent, received)
        elif not result.notes:
            result.notes.append("skew not measured: reply had no Date header")

    creds = await obtain(credentials, result)
    if creds is not None:  # one signed read proves the key and reads the cash
        path = f"{KALSHI_API}/portfolio/balance"
        headers = await auth_headers(creds.key_id, creds.signer, int(now_ms()), "GET", path)
        status, raw = await transport.request("GET", path, None, headers)
        result.auth_ok = status == 200
        if not result.auth_ok:
            result.failures.append(f"auth failed: GET {path} HTTP {status}: {error_text(raw)}")
        else:
            try:
                judge_balance(result, Balance.model_validate_json(raw).micros)
            except ValidationError as exc:
                result.failures.append(f"GET {path}: unreadable reply: {exc}")
    return result


OPEN_STATUSES = frozenset({"active", "open"})
"""Market statuses that take orders (the market object says `active`; list filters `open`)."""
GRID_TICKS = {"linear_cent": Decimal("0.01"), "deci_cent": Decimal("0.001")}
"""The price grids a configured tick models (`tapered_deci_cent` is none of them)."""


def channel_probes(legs: Sequence[KalshiMarket],
                   credentials: KalshiCredentials) -> list[ChannelProbe]:
    """The book snapshot of the first market and the fill channel's ack, each on its own
    signed connection."""
    ticker = legs[0].ticker

    async def headers() -> dict[str, str]:
        return await ws_auth_headers(credentials.key_id, credentials.signer, int(wall_ms()))

    return [
        ChannelProbe("book ws", "ws", [subscribe_command(1, ["orderbook_delta"], [ticker])],
                     lambda frame: _answer(frame, "orderbook_snapshot", ticker), headers),
        ChannelProbe("fill ws", "ws", [subscribe_command(1, ["fill"], [])],
                     lambda frame: _answer(frame, "subscribed", "fill"), headers),
    ]


def _answer(frame: bytes, kind: str, subject: str) -> str | None:
    """`kind` about `subject` (a snapshot's ticker, an ack's channel) proves the channel."""
    msg = frame_object(frame)
    if msg is None:
        return None
    inner = msg.get("msg")
    body: dict[str, Any] = inner if isinstance(inner, dict) else {}
    if msg.get("type") == "error":
        raise ProbeRefused(f"venue error {body.get('code')}: {str(body.get('msg'))[:200]}")
    if msg.get("type") != kind:
        return None
    if kind == "subscribed" and body.get("channel") == subject:
        return f"subscribed {subject}, sid {body.get('sid')}"
    if body.get("market_ticker") == subject:
        return f"snapshot of {subject}, seq {msg.get('seq')}"
    return None


async def listing(transport: VenueTransport, leg: KalshiMarket) -> Listing:
    path = f"{KALSHI_API}/markets/{leg.ticker}"
    status, raw = await transport.request("GET", path)
    reply = object_reply(status, raw)
    market = reply.get("market") if reply is not None else None
    if isinstance(market, dict):
        state = str(market.get("status"))[:40]
        structure = str(market.get("price_level_structure"))[:40]
        return Listing(leg.ticker, found=True, accepting=state in OPEN_STATUSES, state=state,
                       fields={"tick": (leg.tick, GRID_TICKS.get(structure, structure)),
                               "fractional": (leg.fractional,
                                              market.get("fractional_trading_enabled") is True)})
    book_status, _ = await transport.request("GET", f"{path}/orderbook")
    if book_status == 404:
        return Listing(leg.ticker, found=False,
                       state=f"GET {path}: HTTP {status}: {error_text(raw)}")
    missing = (f"venue has no GET {KALSHI_API}/markets/{{ticker}} (HTTP {status}): status, "
               "tick, fractional")
    return Listing(leg.ticker, found=True if book_status == 200 else None,
                   not_checked=[missing])
