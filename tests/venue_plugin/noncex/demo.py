"""Demo pairs with a NonceX leg: the same events as the default demo market, listed on
Polymarket and NonceX."""

from __future__ import annotations

from typing import Any

from arbiter.platform.config import DEFAULT_PAIRS


def demo_pairs() -> list[dict[str, Any]]:
    """Every default pair with its Kalshi leg moved to NonceX (same symbol)."""
    return [{**pair, "b": {"venue": "noncex", "symbol": pair["b"]["ticker"]}}
            for pair in DEFAULT_PAIRS]
