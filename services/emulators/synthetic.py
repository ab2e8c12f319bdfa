"""A seeded synthetic market that drives both emulated venues.

Each pair has a latent probability that random-walks in whole ticks; each venue's liquidity
provider quotes a ladder around it. Now and then one venue dislocates (its quotes shift by
several cents for a few steps), which opens a real cross-venue arbitrage that vanishes when
the dislocation ends or the liquidity is taken. Integer ticks and one `random.Random(seed)`
make a run reproducible step for step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from arbiter.core.fees import polymarket_fee
from arbiter.core.units import CENT, ONE_DOLLAR, price_from_decimal, qty_from_decimal
from arbiter.emulators.kalshi import KalshiEmulator
from arbiter.emulators.polymarket import PolymarketEmulator
from arbiter.emulators.venue import EmulatedVenue
from arbiter.platform.config import MarketConfig, PairConfig

LEVELS = 5
LP_OWNER = "lp"


@dataclass(slots=True)
class _PairState:
    config: PairConfig
    fair: int  # micro-dollars, Polymarket YES terms
    shift_venue: int = 0  # 0 none, 1 polymarket, 2 kalshi
    shift: int = 0
    shift_steps: int = 0


class SyntheticMarket:
    def __init__(
        self, config: MarketConfig, polymarket: PolymarketEmulator, kalshi: KalshiEmulator
    ) -> None:
        self.config = config
        self.polymarket = polymarket
        self.kalshi = kalshi
        self.rng = random.Random(config.seed)
        self.step_count = 0
        self.pairs = [
            _PairState(pair, fair=self.rng.randrange(30, 71) * CENT) for pair in config.pairs
        ]
        for pair in config.pairs:
            pm = pair.polymarket
            polymarket.add_binary_market(
                pm.condition_id,
                pm.yes_token,
                pm.no_token,
                price_from_decimal(pm.tick),
                polymarket_fee(pm.fee_rate, pm.fee_exponent),
            )
            kalshi.add_market(pair.kalshi.ticker, price_from_decimal(pair.kalshi.tick))

    @property
    def now_ms(self) -> int:
        return self.step_count * self.config.step_ms

    async def step(self) -> None:
        """Advance one step: move prices, re-quote both venues, publish book changes."""
        self.step_count += 1
        for venue in (self.polymarket, self.kalshi):
            await venue.advance_clock(self.now_ms)
        for state in self.pairs:
            self._move(state)
            pm, ks = state.config.polymarket, state.config.kalshi
            pm_fair = state.fair + (state.shift if state.shift_venue == 1 else 0)
            ks_fair = state.fair + (state.shift if state.shift_venue == 2 else 0)
            if state.config.inverted:
                ks_fair = ONE_DOLLAR - ks_fair
            self._quote(self.polymarket, pm.condition_id, pm_fair, price_from_decimal(pm.tick))
            self._quote(self.kalshi, ks.ticker, ks_fair, price_from_decimal(ks.tick))
        await self.polymarket.publish()
        await self.kalshi.publish()

    def _move(self, state: _PairState) -> None:
        rng = self.rng
        state.fair = min(85 * CENT, max(15 * CENT, state.fair + rng.choice((-1, 0, 0, 1)) * CENT))
        if state.shift_steps:
            state.shift_steps -= 1
            if not state.shift_steps:
                state.shift_venue, state.shift = 0, 0
        elif rng.randrange(40) == 0:
            state.shift_venue = rng.choice((1, 2))
            state.shift = rng.choice((-1, 1)) * rng.randrange(4, 9) * CENT
            state.shift_steps = rng.randrange(4, 12)

    def _quote(self, venue: EmulatedVenue, market_id: str, fair: int, tick: int) -> None:
        rng = self.rng
        fair = min(ONE_DOLLAR - 8 * CENT, max(8 * CENT, fair))
        best_bid = (fair - CENT) // tick * tick
        best_ask = best_bid + 2 * CENT
        bids, asks = [], []
        for level in range(LEVELS):
            size = qty_from_decimal(rng.randrange(5, 60))
            bid = best_bid - level * CENT
            ask = best_ask + level * CENT
            if bid > 0:
                bids.append((bid, size))
            if ask < ONE_DOLLAR:
                asks.append((ask, qty_from_decimal(rng.randrange(5, 60))))
        venue.quote(market_id, LP_OWNER, bids, asks)
