"""The tenant's configured pairs as domain objects, through the venue plugins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, MarketPair, Venue
from arbiter.platform.config import MarketConfig, MarketLeg
from arbiter.venues.plugin import ListedMarket, plugin


@dataclass(frozen=True)
class TradingUniverse:
    """Every pair, and per venue every market the pairs name (each once, in config order)
    with its config leg and fee model: what the gateways, books, detector and saga trade."""

    pairs: tuple[MarketPair, ...]
    listed: dict[Venue, tuple[ListedMarket[Any], ...]]

    @classmethod
    def from_config(cls, config: MarketConfig) -> TradingUniverse:
        pairs: list[MarketPair] = []
        listed: dict[tuple[Venue, str], ListedMarket[Any]] = {}
        for pair in config.pairs:
            a, b = (_listing(listed, leg) for leg in (pair.a, pair.b))
            pairs.append(MarketPair(pair.pair_id, a.market, b.market, pair.inverted))
        by_venue: dict[Venue, list[ListedMarket[Any]]] = {}
        for (venue, _), entry in listed.items():
            by_venue.setdefault(venue, []).append(entry)
        return cls(tuple(pairs), {venue: tuple(found) for venue, found in by_venue.items()})

    @property
    def venues(self) -> tuple[Venue, ...]:
        """The venues traded, in the order the pairs first name them."""
        return tuple(self.listed)

    def markets(self, venue: Venue | None = None) -> list[Market]:
        venues: Iterable[Venue] = self.listed if venue is None else (venue,)
        return [entry.market for v in venues for entry in self.listed.get(v, ())]

    @property
    def fees(self) -> dict[str, FeeModel]:
        """Fee models by market key (venue:market)."""
        return {entry.market.key: entry.fees for found in self.listed.values() for entry in found}

    def ticks(self) -> dict[tuple[Venue, str], int]:
        return {(m.venue, m.market_id): m.tick_micros for m in self.markets()}


def _listing(
    listed: dict[tuple[Venue, str], ListedMarket[Any]], leg: MarketLeg
) -> ListedMarket[Any]:
    entry = plugin(leg.venue).listed(leg)
    known = listed.setdefault((entry.market.venue, entry.market.market_id), entry)
    if known.leg != leg:
        raise ValueError(f"market {entry.market.key} is configured twice, differently: "
                         f"{known.leg} and {leg}")
    return known
