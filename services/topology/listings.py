"""A synthetic market that lives: each resolved pair is followed by its successor.

At a venue an event series goes on after one instance settles (next month's CPI print, the
next Fed meeting): a new market is listed under new identifiers on the same terms. Here the
successor of a configured pair's `generation`-th instance is its `generation + 1`-th, named
`<pair>-n<generation>` and listed by each leg's venue plugin (`VenuePlugin.successor`), so a
seeded run lists the same markets every time. The venues list it; the embedded engine, whose
demo market this is, approves it at once (`EmbeddedMesh.approve_pair`). Real pairs are
approved by a trader, not by the market that lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arbiter.core.instruments import MarketPair
from arbiter.platform.config import PairConfig
from arbiter.topology.universe import TradingUniverse
from arbiter.venues.plugin import ListedMarket, plugin


def successor_pair(base: PairConfig, generation: int) -> PairConfig:
    """The `generation`-th instance (>= 2) of a configured pair: the same terms on both
    venues' next markets, its id a DNS label like the base's."""
    suffix = f"-n{generation}"
    return PairConfig.model_validate({
        "pair_id": base.pair_id[:63 - len(suffix)] + suffix,
        "a": plugin(base.a.venue).successor(base.a, generation).model_dump(),
        "b": plugin(base.b.venue).successor(base.b, generation).model_dump(),
        "inverted": base.inverted,
    })


@dataclass
class Listings:
    """Which series each listed pair belongs to, and what relisting has listed."""

    universe: TradingUniverse
    series: dict[str, tuple[PairConfig, int]] = field(default_factory=dict)  # id -> base, gen
    listed: list[PairConfig] = field(default_factory=list)

    @classmethod
    def of(cls, universe: TradingUniverse, pairs: list[PairConfig]) -> Listings:
        return cls(universe, {pair.pair_id: (pair, 1) for pair in pairs})

    def successor(self, resolved: str) -> tuple[PairConfig, MarketPair, list[ListedMarket[Any]]]:
        """List the successor of a resolved pair: its config, its domain pair, and the
        markets the venues must list for it."""
        base, generation = self.series[resolved]
        config = successor_pair(base, generation + 1)
        pair, fresh = self.universe.add(config)
        self.series[config.pair_id] = (base, generation + 1)
        self.listed.append(config)
        return config, pair, fresh
