"""Kalshi's connectivity checks: GET `/trade-api/v2/exchange/status` (public: reachability)
and a signed GET `/trade-api/v2/portfolio/balance` (auth, and the cash). Kalshi publishes no time endpoint,
so the skew comes from the HTTP `Date` header of a reply, read by a plain GET to the same
origin (`http_date_probe`) when the transport has a base URL; otherwise it is not measured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime

import aiohttp
import orjson
from pydantic import ValidationError

from arbiter.gateways.connectivity import (
    CheckResult,
    DateProbe,
    NowMs,
    error_text,
    http_date_probe,
    judge_balance,
    obtain,
    skew_from_server_ms,
    unreachable,
    wall_ms,
)
from arbiter.gateways.http_transport import HttpVenueTransport
from arbiter.platform.transport import RequestTimeout, VenueTransport
from arbiter.venues.kalshi.auth import auth_headers
from arbiter.venues.kalshi.constants import VENUE
from arbiter.venues.kalshi.credentials import KalshiCredentials
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


