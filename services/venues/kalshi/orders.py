"""Kalshi order-entry request bodies on the fixed-point wire (2026 migration).

The current endpoint is ``POST /trade-api/v2/portfolio/events/orders`` (``side`` = YES book
side ``bid``/``ask``, ``price`` = YES dollar string, ``count`` = fixed-point string). The legacy
``POST /trade-api/v2/portfolio/orders`` (``side`` yes/no + ``action`` buy/sell,
``yes_price_dollars``, ``count_fp``) is kept behind :class:`OrderEndpoint` while it exists.

Prices are integer micro-dollars and counts integer micro-contracts, as everywhere in Arbiter;
they are validated against the market's ``price_ranges`` grid and fractional-trading flag
before any string is produced, so a wrongly ticked order never leaves the process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

MICROS = 1_000_000
PRICE_DECIMALS = 4
COUNT_DECIMALS = 2
FRACTIONAL_COUNT_STEP = 10_000
"""0.01 contract: the smallest count where fractional trading is enabled."""
MAX_SUBACCOUNT = 63

V2_ORDERS_PATH = "/trade-api/v2/portfolio/events/orders"
LEGACY_ORDERS_PATH = "/trade-api/v2/portfolio/orders"


class BookSide(StrEnum):
    """Side of the YES book: bid buys YES, ask sells YES (= buys NO at 1 - price)."""

    BID = "bid"
    ASK = "ask"


class TimeInForce(StrEnum):
    FILL_OR_KILL = "fill_or_kill"
    GOOD_TILL_CANCELED = "good_till_canceled"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"


class SelfTradePrevention(StrEnum):
    TAKER_AT_CROSS = "taker_at_cross"
    MAKER = "maker"


class PriceLevelStructure(StrEnum):
    LINEAR_CENT = "linear_cent"
    TAPERED_DECI_CENT = "tapered_deci_cent"
    DECI_CENT = "deci_cent"


class OrderEndpoint(StrEnum):
    """Which order-entry path to build for; V2 unless the legacy switch is thrown."""

    V2 = "v2"
    LEGACY = "legacy"


class KalshiOrderError(ValueError):
    """An order field the exchange would reject; the message names the field and value."""


def _dollars(micros: int, decimals: int) -> str:
    return f"{Decimal(micros).scaleb(-6):.{decimals}f}"


def _parse_dollars(text: str, field: str) -> int:
    try:
        scaled = Decimal(text) * MICROS
    except InvalidOperation:
        raise KalshiOrderError(f"{field} {text!r} is not a decimal number") from None
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise KalshiOrderError(f"{field} {text!r} is not a whole number of micro-dollars")
    return int(scaled)


@dataclass(frozen=True)
class PriceRange:
    """One ``price_ranges`` entry: prices from ``start`` to ``end`` in steps of ``step``."""

    start_micros: int
    end_micros: int
    step_micros: int

    def contains(self, price_micros: int) -> bool:
        return self.start_micros <= price_micros <= self.end_micros

    def on_grid(self, price_micros: int) -> bool:
        return (
            self.contains(price_micros)
            and (price_micros - self.start_micros) % self.step_micros == 0
        )


_STRUCTURE_RANGES: dict[PriceLevelStructure, tuple[PriceRange, ...]] = {
    PriceLevelStructure.LINEAR_CENT: (PriceRange(0, MICROS, 10_000),),
    PriceLevelStructure.TAPERED_DECI_CENT: (
        PriceRange(0, 100_000, 1_000),
        PriceRange(100_000, 900_000, 10_000),
        PriceRange(900_000, MICROS, 1_000),
    ),
    PriceLevelStructure.DECI_CENT: (PriceRange(0, MICROS, 1_000),),
}


@dataclass(frozen=True)
class MarketRules:
    """What a market accepts: its price grid and whether counts may be fractional."""

    price_ranges: tuple[PriceRange, ...]
    fractional_trading_enabled: bool = False

    @classmethod
    def for_structure(
        cls, structure: PriceLevelStructure | str, *, fractional_trading_enabled: bool = False
    ) -> MarketRules:
        """Rules from a documented ``price_level_structure`` name."""
        try:
            ranges = _STRUCTURE_RANGES[PriceLevelStructure(structure)]
        except ValueError:
            raise KalshiOrderError(
                f"price_level_structure {structure!r} is not one of "
                f"{', '.join(s.value for s in PriceLevelStructure)}"
            ) from None
        return cls(ranges, fractional_trading_enabled)

    @classmethod
    def from_market(cls, market: Mapping[str, Any]) -> MarketRules:
        """Rules from a GET /markets object: ``price_ranges`` wins over the structure name."""
        fractional = bool(market.get("fractional_trading_enabled", False))
        raw_ranges: Iterable[Mapping[str, str]] = market.get("price_ranges") or ()
        ranges = tuple(
            PriceRange(
                _parse_dollars(str(r["start"]), "price_ranges.start"),
                _parse_dollars(str(r["end"]), "price_ranges.end"),
                _parse_dollars(str(r["step"]), "price_ranges.step"),
            )
            for r in raw_ranges
        )
        if ranges:
            if any(r.step_micros <= 0 for r in ranges):
                raise KalshiOrderError(f"price_ranges {list(raw_ranges)!r} has a step <= 0")
            return cls(ranges, fractional)
        return cls.for_structure(
            market.get("price_level_structure", ""), fractional_trading_enabled=fractional
        )

    def validate_price(self, price_micros: int) -> None:
        if not 0 < price_micros < MICROS:
            raise KalshiOrderError(
                f"price {_dollars(price_micros, 6)} must be strictly between 0 and 1"
            )
        if price_micros % 10 ** (6 - PRICE_DECIMALS):
            raise KalshiOrderError(f"price {_dollars(price_micros, 6)} has more than 4 decimals")
        if not any(r.on_grid(price_micros) for r in self.price_ranges):
            raise KalshiOrderError(
                f"price {_dollars(price_micros, PRICE_DECIMALS)} is not on the market's price grid"
            )

    def validate_count(self, count_micros: int) -> None:
        step = FRACTIONAL_COUNT_STEP if self.fractional_trading_enabled else MICROS
        if count_micros <= 0 or count_micros % step:
            kind = (
                "a positive multiple of 0.01"
                if self.fractional_trading_enabled
                else ("a positive whole number (fractional trading is not enabled on this market)")
            )
            raise KalshiOrderError(f"count {_dollars(count_micros, 6)} must be {kind}")


@dataclass(frozen=True)
class KalshiOrder:
    """A new order on the YES book, in Arbiter units."""

    ticker: str
    side: BookSide
    price_micros: int
    count_micros: int
    time_in_force: TimeInForce
    client_order_id: str | None = None
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.TAKER_AT_CROSS
    post_only: bool = False
    reduce_only: bool = False
    expiration_time_s: int | None = None
    subaccount: int | None = None
    order_group_id: str | None = None
    cancel_order_on_pause: bool = False


def _validate(order: KalshiOrder, rules: MarketRules) -> None:
    if not order.ticker:
        raise KalshiOrderError("ticker must not be empty")
    rules.validate_price(order.price_micros)
    rules.validate_count(order.count_micros)
    if order.reduce_only and order.time_in_force is not TimeInForce.IMMEDIATE_OR_CANCEL:
        raise KalshiOrderError(
            f"reduce_only is only accepted with immediate_or_cancel, not {order.time_in_force}"
        )
    if order.expiration_time_s is not None:
        if order.time_in_force is not TimeInForce.GOOD_TILL_CANCELED:
            raise KalshiOrderError(
                f"expiration_time {order.expiration_time_s} is only accepted with "
                f"good_till_canceled, not {order.time_in_force}"
            )
        if order.expiration_time_s <= 0:
            raise KalshiOrderError(f"expiration_time {order.expiration_time_s} must be > 0")
    if order.subaccount is not None and not 0 <= order.subaccount <= MAX_SUBACCOUNT:
        raise KalshiOrderError(f"subaccount {order.subaccount} must be in 0..{MAX_SUBACCOUNT}")


def _optional_fields(order: KalshiOrder, expiration_key: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if order.expiration_time_s is not None:
        fields[expiration_key] = order.expiration_time_s
    if order.post_only:
        fields["post_only"] = True
    if order.reduce_only:
        fields["reduce_only"] = True
    if order.cancel_order_on_pause:
        fields["cancel_order_on_pause"] = True
    if order.order_group_id is not None:
        fields["order_group_id"] = order.order_group_id
    return fields


def v2_order_body(order: KalshiOrder, rules: MarketRules) -> dict[str, Any]:
    """``CreateOrderV2Request`` for POST /portfolio/events/orders."""
    _validate(order, rules)
    body: dict[str, Any] = {"ticker": order.ticker}
    if order.client_order_id is not None:
        body["client_order_id"] = order.client_order_id
    body |= {
        "side": order.side.value,
        "count": _dollars(order.count_micros, COUNT_DECIMALS),
        "price": _dollars(order.price_micros, PRICE_DECIMALS),
        "time_in_force": order.time_in_force.value,
        "self_trade_prevention_type": order.self_trade_prevention.value,
    }
    body |= _optional_fields(order, "expiration_time")
    if order.subaccount is not None:
        body["subaccount"] = order.subaccount
    return body


def legacy_order_body(order: KalshiOrder, rules: MarketRules) -> dict[str, Any]:
    """``CreateOrderRequest`` for the legacy POST /portfolio/orders, always on the YES leg."""
    _validate(order, rules)
    body: dict[str, Any] = {"ticker": order.ticker}
    if order.client_order_id is not None:
        body["client_order_id"] = order.client_order_id
    body |= {
        "side": "yes",
        "action": "buy" if order.side is BookSide.BID else "sell",
        "count_fp": _dollars(order.count_micros, COUNT_DECIMALS),
        "yes_price_dollars": _dollars(order.price_micros, PRICE_DECIMALS),
        "time_in_force": order.time_in_force.value,
        "self_trade_prevention_type": order.self_trade_prevention.value,
    }
    body |= _optional_fields(order, "expiration_ts")
    body["subaccount"] = order.subaccount or 0
    return body


def create_order_request(
    order: KalshiOrder, rules: MarketRules, endpoint: OrderEndpoint = OrderEndpoint.V2
) -> tuple[str, str, dict[str, Any]]:
    """``(method, path, body)`` for placing ``order`` on the selected endpoint."""
    if endpoint is OrderEndpoint.LEGACY:
        return "POST", LEGACY_ORDERS_PATH, legacy_order_body(order, rules)
    return "POST", V2_ORDERS_PATH, v2_order_body(order, rules)
