"""Polymarket's connectivity checks: GET `/time` (reachability and server time in Unix
seconds), GET `/version` (must be 2: V1 orders are rejected since 2026-04-28), and an
L2-authenticated GET `/balance-allowance` with the gateway's own credentials (auth, and
the collateral the account can spend)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from pydantic import ValidationError

from arbiter.gateways.connectivity import (
    CheckResult,
    NowMs,
    error_text,
    judge_balance,
    obtain,
    skew_from_server_ms,
    unreachable,
    wall_ms,
)
from arbiter.platform.transport import RequestTimeout, VenueTransport
from arbiter.venues.polymarket.auth import l2_headers
from arbiter.venues.polymarket.constants import VENUE
from arbiter.venues.polymarket.credentials import PolymarketCredentials
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


