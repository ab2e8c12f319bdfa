"""Polymarket's connectivity checks: GET `/time` (reachability and server time in Unix
seconds), GET `/version` (must be 2: V1 orders are rejected since 2026-04-28), and an
L2-authenticated GET `/balance-allowance` with the gateway's own credentials (auth, and
the collateral the account can spend).

Readiness adds both WebSocket channels, subscribed exactly as the gateway subscribes: the
market channel must send the `book` of the first configured YES token; the user channel
sends no acknowledgement (facts A12), so a `PING` follows the subscription and its `PONG`
proves the socket took the subscription and lives on. A configured market is checked with
GET `/book` of both tokens (listed, tick), GET `/markets/{condition_id}` (accepting orders)
and GET `/clob-markets/{condition_id}` (the V2 fee parameters `fd`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from pydantic import ValidationError

from arbiter.gateways.connectivity import (
    ChannelProbe,
    CheckResult,
    Listing,
    NowMs,
    ProbeRefused,
    error_text,
    judge_balance,
    object_reply,
    obtain,
    skew_from_server_ms,
    unreachable,
    wall_ms,
)
from arbiter.platform.transport import RequestTimeout, VenueTransport
from arbiter.venues.polymarket.auth import l2_headers
from arbiter.venues.polymarket.config import PolymarketMarket
from arbiter.venues.polymarket.constants import VENUE
from arbiter.venues.polymarket.credentials import PolymarketCredentials
from arbiter.venues.polymarket.gateway import market_subscription, user_subscription
from arbiter.venues.polymarket.schemas import BalanceAllowance

POLYMARKET_PROTOCOL_VERSION = 2
V1_REJECTED = ("Polymarket CLOB reports protocol version {found}, but Arbiter signs V2 orders "
               "only (V1 orders are rejected since 2026-04-28); check the polymarket url")


async def check_polymarket(transport: VenueTransport,
        credentials: Callable[[], Awaitable[PolymarketCredentials]] | None = None,
                           now_ms: NowMs = wall_ms) -> CheckResult:
    result = CheckResult(VENUE)
    sent = now_ms()
    try:
        status, raw = await transport.request("GET", "/time")
    except RequestTimeout as exc:
        return unreachable(result, exc)
    received = now_ms()
    result.reachable = True
    try:
        if status != 200:
            raise ValueError(f"HTTP {status}")
        skew_from_server_ms(result, int(orjson.loads(raw)) * 1000, sent, received)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        result.failures.append(f"GET /time: unusable reply ({exc}): {raw[:100]!r}")

    status, raw = await transport.request("GET", "/version")
    version = None
    try:
        version = orjson.loads(raw).get("version") if status == 200 else None
    except (orjson.JSONDecodeError, AttributeError):
        pass
    result.protocol = f"CLOB v{version}" if version is not None else "CLOB v?"
    if version is None:
        result.failures.append(f"GET /version: HTTP {status} {raw[:100]!r}; cannot confirm the "
                               "V2 protocol (V1 orders are rejected since 2026-04-28)")
    elif version != POLYMARKET_PROTOCOL_VERSION:
        result.failures.append(V1_REJECTED.format(found=version))

    creds = await obtain(credentials, result)
    if creds is not None:  # one signed read proves the API key and reads the collateral
        path = "/balance-allowance"
        headers = l2_headers(creds.signer.address, creds.api, int(now_ms() // 1000), "GET",
                             path)
        status, raw = await transport.request(
            "GET", path, {"asset_type": "COLLATERAL",
                          "signature_type": str(int(creds.signature_type))}, headers)
        result.auth_ok = status == 200
        if not result.auth_ok:
            result.failures.append(f"auth failed: GET {path} HTTP {status}: {error_text(raw)}")
        else:
            try:
                reply = BalanceAllowance.model_validate_json(raw)
                judge_balance(result, reply.balance, reply.allowance)
            except ValidationError as exc:
                result.failures.append(f"GET {path}: unreadable reply: {exc}")
    return result


def channel_probes(legs: Sequence[PolymarketMarket],
                   credentials: PolymarketCredentials) -> list[ChannelProbe]:
    """The market channel's `book` for the first YES token; the user channel's `PONG` after
    the authenticated subscription."""
    token = legs[0].yes_token
    return [
        ChannelProbe("market ws", "market", [market_subscription([token])],
                     lambda frame: _book_of(token, frame)),
        ChannelProbe("user ws", "user",
                     [user_subscription(credentials.api, [leg.condition_id for leg in legs]),
                      b"PING"], _user_answer),
    ]


def _events(frame: bytes) -> list[Any] | None:
    """A frame's events (the venue sends one object or an array); None: not JSON."""
    try:
        decoded = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, list) else [decoded]


def _book_of(token: str, frame: bytes) -> str | None:
    for event in _events(frame) or ():
        if not isinstance(event, dict):
            continue
        if "error" in event:
            raise ProbeRefused(f"venue answered {str(event['error'])[:200]}")
        if event.get("event_type") == "book" and event.get("asset_id") == token:
            levels = len(event.get("bids") or ()) + len(event.get("asks") or ())
            return f"book of {token[:12]}…: {levels} levels"
    return None


def _user_answer(frame: bytes) -> str | None:
    if frame == b"PONG":
        return "subscribed (PONG after the subscription)"
    events = _events(frame)
    if events is None:  # the venue's text replies are its errors ("INVALID AUTH")
        raise ProbeRefused(f"venue answered {frame[:100]!r}")
    event = events[0] if events else None
    if isinstance(event, dict) and "error" in event:
        raise ProbeRefused(f"venue answered {str(event['error'])[:200]}")
    return f"first message: {str(event)[:60]}"


def _decimal(value: object) -> Decimal | str:
    """A venue number as a Decimal (floats through their shortest text), else its text."""
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return str(value)[:40]


async def listing(transport: VenueTransport, leg: PolymarketMarket) -> Listing:
    fields: dict[str, tuple[Decimal | str | bool, Decimal | str | bool]] = {}
    minimums: dict[str, tuple[Decimal, Decimal | str]] = {}
    for name, token in (("yes_token", leg.yes_token), ("no_token", leg.no_token)):
        status, raw = await transport.request("GET", "/book", {"token_id": token})
        if status == 404:
            return Listing(leg.condition_id, found=False,
                           state=f"{name} {token}: GET /book 404: {error_text(raw)}")
        book = object_reply(status, raw)
        if book is None:
            fields[f"{name} book"] = ("readable", f"HTTP {status}: {error_text(raw)}")
            continue
        fields[f"{name} market"] = (leg.condition_id, str(book.get("market")))
        fields.setdefault("tick", (leg.tick, _decimal(book.get("tick_size"))))
        if "min_order_size" in book:
            minimums.setdefault("min_size", (leg.min_size, _decimal(book["min_order_size"])))
    missing: list[str] = []
    accepting, state = None, ""
    status, raw = await transport.request("GET", f"/markets/{leg.condition_id}")
    market = object_reply(status, raw)
    if market is None:
        missing.append(f"venue has no GET /markets/{{condition_id}} (HTTP {status}): "
                       "accepting_orders")
    else:
        accepting = bool(market.get("accepting_orders")) and not market.get("closed")
        state = ("accepting orders" if accepting else
                 f"closed={market.get('closed')} accepting_orders="
                 f"{market.get('accepting_orders')}")
        if "minimum_tick_size" in market:
            fields["minimum_tick_size"] = (leg.tick, _decimal(market["minimum_tick_size"]))
    status, raw = await transport.request("GET", f"/clob-markets/{leg.condition_id}")
    params = object_reply(status, raw)
    fees = params.get("fd") if params is not None else None
    if not isinstance(fees, dict):
        missing.append(f"venue has no GET /clob-markets/{{condition_id}} (HTTP {status}): "
                       "fee rate and exponent")
    else:
        fields["fee_rate"] = (leg.fee_rate, _decimal(fees.get("r")))
        fields["fee_exponent"] = (Decimal(leg.fee_exponent), _decimal(fees.get("e")))
    return Listing(leg.condition_id, found=True, accepting=accepting, state=state,
                   fields=fields, minimums=minimums, not_checked=missing)

