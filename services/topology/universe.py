"""The tenant's configured pairs as domain objects, through the venue plugins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, MarketPair, Venue
from arbiter.platform.config import MarketConfig, PairConfig
from arbiter.venues.plugin import ListedMarket, plugin


@dataclass
class TradingUniverse:
    """Every pair, and per venue every market the pairs name (each once, in config order)
    with its config leg and fee model: what the gateways, books, detector and saga trade.
    It grows when a pair is approved while running (`add`); nothing is ever removed, so a
    settled market keeps its record."""

    pairs: tuple[MarketPair, ...]
    listed: dict[Venue, tuple[ListedMarket[Any], ...]]

    @classmethod
    def from_config(cls, config: MarketConfig) -> TradingUniverse:
        universe = cls((), {})
        for pair in config.pairs:
            universe.add(pair)
        return universe

    def add(self, config: PairConfig) -> tuple[MarketPair, list[ListedMarket[Any]]]:
        """One more pair; returns it and the markets it lists that no pair named before.
        A `ValueError` names a pair id already taken or a market configured differently."""
        if any(p.pair_id == config.pair_id for p in self.pairs):
            raise ValueError(f"pair {config.pair_id} is configured twice")
        known = {(e.market.venue, e.market.market_id): e
                 for found in self.listed.values() for e in found}
        fresh: list[ListedMarket[Any]] = []
        legs = []
        for leg in (config.a, config.b):
            entry = plugin(leg.venue).listed(leg)
            key = (entry.market.venue, entry.market.market_id)
            seen = known.get(key) or next(
                (e for e in fresh if (e.market.venue, e.market.market_id) == key), None)
            if seen is None:
                fresh.append(entry)
            elif seen.leg != leg:
                raise ValueError(f"market {entry.market.key} is configured twice, "
                                 f"differently: {seen.leg} and {leg}")
            legs.append(seen or entry)
        pair = MarketPair(config.pair_id, legs[0].market, legs[1].market, config.inverted)
        self.pairs = (*self.pairs, pair)
        for entry in fresh:
            venue = entry.market.venue
            self.listed[venue] = (*self.listed.get(venue, ()), entry)
        return pair, fresh

    @property
    def venues(self) -> tuple[Venue, ...]:
        """The venues traded, in the order the pairs first name them."""
        return tuple(self.listed)

    def markets(self, venue: Venue | None = None) -> list[Market]:
        venues: Iterable[Venue] = self.listed if venue is None else (venue,)
        return [entry.market for v in venues for entry in self.listed.get(v, ())]

    def market(self, venue: Venue, market_id: str) -> Market:
        """One traded market (KeyError names one no pair lists)."""
        for entry in self.listed.get(venue, ()):
            if entry.market.market_id == market_id:
                return entry.market
        raise KeyError(f"{venue}:{market_id} is not traded")

    @property
    def fees(self) -> dict[str, FeeModel]:
        """Fee models by market key (venue:market)."""
        return {entry.market.key: entry.fees for found in self.listed.values() for entry in found}

    def ticks(self) -> dict[tuple[Venue, str], int]:
        return {(m.venue, m.market_id): m.tick_micros for m in self.markets()}
