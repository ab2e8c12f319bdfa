"""The configured markets as domain objects: instruments, pairs, fee models, tick sizes."""

from __future__ import annotations

from dataclasses import dataclass

from arbiter.core.fees import KALSHI_TAKER, FeeModel, polymarket_fee
from arbiter.core.instruments import Market, MarketPair, Venue
from arbiter.core.units import price_from_decimal, qty_from_decimal
from arbiter.gateways.kalshi.orders import MarketRules, PriceLevelStructure
from arbiter.platform.config import MarketConfig


POLYMARKET_LOT = qty_from_decimal("0.01")  # order sizes have 2 decimals


@dataclass(frozen=True)
class Catalog:
    pairs: tuple[MarketPair, ...]
    fees: dict[str, FeeModel]  # by market key (venue:market)
    kalshi_rules: dict[str, MarketRules]  # by ticker

    @classmethod
    def from_config(cls, config: MarketConfig) -> Catalog:
        pairs, fees, rules = [], {}, {}
        for pair in config.pairs:
            pm, ks = pair.polymarket, pair.kalshi
            a = Market(Venue.POLYMARKET, pm.condition_id, price_from_decimal(pm.tick),
                       POLYMARKET_LOT, pm.yes_token, pm.no_token)
            b = Market(Venue.KALSHI, ks.ticker, price_from_decimal(ks.tick),
                       qty_from_decimal("0.01") if ks.fractional else qty_from_decimal(1))
            pairs.append(MarketPair(pair.pair_id, a, b, pair.inverted))
            fees[a.key] = polymarket_fee(pm.fee_rate, pm.fee_exponent)
            fees[b.key] = KALSHI_TAKER
            structure = (PriceLevelStructure.LINEAR_CENT if b.tick_micros == 10_000
                         else PriceLevelStructure.DECI_CENT)
            rules[ks.ticker] = MarketRules.for_structure(
                structure, fractional_trading_enabled=ks.fractional)
        return cls(tuple(pairs), fees, rules)

    def markets(self, venue: Venue | None = None) -> list[Market]:
        found = [m for p in self.pairs for m in (p.a, p.b)]
        return [m for m in found if venue is None or m.venue is venue]

    def fees_by_id(self) -> dict[str, FeeModel]:
        """Fee models by venue market id, as gateways know their markets."""
        return {m.market_id: self.fees[m.key] for m in self.markets()}

    def ticks(self) -> dict[tuple[int, str], int]:
        return {(int(m.venue), m.market_id): m.tick_micros for m in self.markets()}
