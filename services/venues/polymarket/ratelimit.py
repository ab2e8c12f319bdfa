"""Polymarket's published rate limits as token buckets (docs/venues/polymarket.md).

Cloudflare sliding windows per endpoint, burst per 10 s and sustained per 10 min for trading
endpoints, plus a 9,000/10 s CLOB-wide window every call shares.
"""

from __future__ import annotations

from arbiter.gateways.ratelimit import Limit, RateLimitPolicy

_TEN_S = 10.0
_TEN_MIN = 600.0

POLYMARKET_POLICY = RateLimitPolicy(
    limits={
        "clob": Limit(9_000, _TEN_S),
        "book": Limit(1_500, _TEN_S),
        "books": Limit(500, _TEN_S),
        "price": Limit(1_500, _TEN_S),
        "prices": Limit(500, _TEN_S),
        "tick_size": Limit(200, _TEN_S),
        "data_orders": Limit(500, _TEN_S),
        "data_trades": Limit(500, _TEN_S),
        "ledger": Limit(900, _TEN_S),
        "balance": Limit(200, _TEN_S),
        "balance_update": Limit(50, _TEN_S),
        "api_keys": Limit(100, _TEN_S),
        "post_order": Limit(3_500, _TEN_S),
        "post_order_10m": Limit(36_000, _TEN_MIN),
        "cancel_order": Limit(3_000, _TEN_S),
        "cancel_order_10m": Limit(30_000, _TEN_MIN),
        "post_orders": Limit(1_000, _TEN_S),
        "post_orders_10m": Limit(15_000, _TEN_MIN),
        "cancel_orders": Limit(1_000, _TEN_S),
        "cancel_orders_10m": Limit(15_000, _TEN_MIN),
        "cancel_all": Limit(250, _TEN_S),
        "cancel_all_10m": Limit(6_000, _TEN_MIN),
        "cancel_market_orders": Limit(1_000, _TEN_S),
        "cancel_market_orders_10m": Limit(1_500, _TEN_MIN),
    },
    classes={
        "general": ("clob",),
        "book": ("clob", "book"),
        "books": ("clob", "books"),
        "price": ("clob", "price"),
        "prices": ("clob", "prices"),
        "tick_size": ("clob", "tick_size"),
        "data_orders": ("clob", "data_orders", "ledger"),
        "data_trades": ("clob", "data_trades", "ledger"),
        "ledger": ("clob", "ledger"),
        "balance": ("clob", "balance"),
        "balance_update": ("clob", "balance_update"),
        "api_keys": ("clob", "api_keys"),
        "post_order": ("clob", "ledger", "post_order", "post_order_10m"),
        "cancel_order": ("clob", "ledger", "cancel_order", "cancel_order_10m"),
        "post_orders": ("clob", "post_orders", "post_orders_10m"),
        "cancel_orders": ("clob", "cancel_orders", "cancel_orders_10m"),
        "cancel_all": ("clob", "cancel_all", "cancel_all_10m"),
        "cancel_market_orders": ("clob", "cancel_market_orders", "cancel_market_orders_10m"),
    },
)

_POLYMARKET_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/book"): "book",
    ("POST", "/books"): "books",
    ("GET", "/price"): "price",
    ("GET", "/midpoint"): "price",
    ("POST", "/prices"): "prices",
    ("POST", "/midpoints"): "prices",
    ("GET", "/tick-size"): "tick_size",
    ("GET", "/data/orders"): "data_orders",
    ("GET", "/data/trades"): "data_trades",
    ("GET", "/notifications"): "ledger",
    ("GET", "/balance-allowance"): "balance",
    ("GET", "/balance-allowance/update"): "balance_update",
    ("POST", "/order"): "post_order",
    ("DELETE", "/order"): "cancel_order",
    ("POST", "/orders"): "post_orders",
    ("DELETE", "/orders"): "cancel_orders",
    ("DELETE", "/cancel-all"): "cancel_all",
    ("DELETE", "/cancel-market-orders"): "cancel_market_orders",
}


def polymarket_endpoint_class(method: str, path: str) -> str:
    """Endpoint class of a CLOB request (query ignored); unlisted paths share ``general``."""
    bare = path.split("?", 1)[0]
    if bare.startswith("/data/order/"):
        return "ledger"
    if bare.startswith("/auth/"):
        return "api_keys"
    return _POLYMARKET_ROUTES.get((method.upper(), bare), "general")


