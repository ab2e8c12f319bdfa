"""Kalshi's published rate limits as token buckets (docs/venues/kalshi.md).

Two token buckets, read (GETs) and write (orders, amends, cancels), refilled at the tier's
tokens per second; the write bucket holds 2 s of budget. A request costs 10 tokens unless
GET /account/endpoint_costs says otherwise; batch items are billed one by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

from arbiter.gateways.ratelimit import Limit, RateLimitPolicy

KALSHI_DEFAULT_COST = 10
KALSHI_WRITE_BURST_S = 2.0


class KalshiTier(StrEnum):
    BASIC = "basic"
    ADVANCED = "advanced"
    PREMIER = "premier"
    PARAGON = "paragon"
    PRIME = "prime"


KALSHI_TIER_BUDGETS: dict[KalshiTier, tuple[int, int]] = {
    KalshiTier.BASIC: (200, 100),
    KalshiTier.ADVANCED: (300, 300),
    KalshiTier.PREMIER: (1_000, 1_000),
    KalshiTier.PARAGON: (2_000, 2_000),
    KalshiTier.PRIME: (4_000, 4_000),
}
"""(read, write) tokens per second."""


def kalshi_policy(tier: KalshiTier) -> RateLimitPolicy:
    """Read and write buckets for a tier; prefer GET /account/limits when it is reachable."""
    read, write = KALSHI_TIER_BUDGETS[tier]
    return RateLimitPolicy(
        limits={
            "read": Limit(read, 1.0),
            "write": Limit(write * KALSHI_WRITE_BURST_S, KALSHI_WRITE_BURST_S),
        },
        classes={"read": ("read",), "write": ("write",)},
    )


def kalshi_endpoint_class(method: str) -> str:
    """GETs draw from the read bucket, everything else from the write bucket."""
    return "read" if method.upper() == "GET" else "write"


_ID_SEGMENT = re.compile(r"/[0-9a-fA-F-]{16,}(?=/|$)")


def kalshi_cost(
    method: str, path: str, items: int = 1, overrides: Mapping[str, int] | None = None
) -> int:
    """Tokens for a request: the per-endpoint cost (``overrides`` keyed ``"METHOD /path"``,
    ids replaced by ``{id}``, from GET /account/endpoint_costs) times the batch ``items``."""
    template = _ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])
    cost = (overrides or {}).get(f"{method.upper()} {template}", KALSHI_DEFAULT_COST)
    return cost * items
