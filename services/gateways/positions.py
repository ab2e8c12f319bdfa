"""What each venue says we hold, from its own API: the reference the engine's view must
converge to (restart reconciliation, the crash test)."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson

from arbiter.core.instruments import Venue
from arbiter.core.units import qty_from_decimal
from arbiter.gateways.kalshi.auth import auth_headers
from arbiter.gateways.transport import VenueTransport
from arbiter.topology.credentials import PaperCredentials

KALSHI_POSITIONS = "/trade-api/v2/portfolio/positions"


async def fetch_positions(
    links: dict[Venue, VenueTransport], credentials: PaperCredentials
) -> dict[Venue, dict[str, int]]:
    """Polymarket token balances (Data API `GET /positions?user=`) and Kalshi net YES
    positions (signed `GET /portfolio/positions`), in micro-contracts."""
    status, raw = await links[Venue.POLYMARKET].request(
        "GET", "/positions", query={"user": credentials.polymarket_signer.address})
    if status != 200:
        raise RuntimeError(f"polymarket positions: HTTP {status} {raw[:200]!r}")
    polymarket = {row["asset"]: qty_from_decimal(row["size"]) for row in orjson.loads(raw)}
    headers = await auth_headers(credentials.kalshi_key_id, credentials.kalshi_signer,
                                 time.time_ns() // 1_000_000, "GET", KALSHI_POSITIONS)
    status, raw = await links[Venue.KALSHI].request("GET", KALSHI_POSITIONS, headers=headers)
    if status != 200:
        raise RuntimeError(f"kalshi positions: HTTP {status} {raw[:200]!r}")
    kalshi = {}
    for row in orjson.loads(raw)["market_positions"]:
        fp = Decimal(row["position_fp"])
        kalshi[row["ticker"]] = -qty_from_decimal(-fp) if fp < 0 else qty_from_decimal(fp)
    return {Venue.POLYMARKET: polymarket, Venue.KALSHI: kalshi}
