"""A seeded synthetic market that drives the emulated venues.

Each pair has a latent probability that random-walks in whole ticks; a liquidity provider
quotes a ladder around it on each of the pair's two markets. Now and then one leg dislocates
(its quotes shift by several cents for a few steps), which opens a real arbitrage that
vanishes when the dislocation ends or the liquidity is taken. Integer ticks and one `random.Random(seed)`
make a run reproducible step for step.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from arbiter.core.instruments import Market, MarketPair, Venue
from arbiter.core.units import CENT, ONE_DOLLAR, QTY_SCALE
from arbiter.emulators.venue import EmulatedVenue

LEVELS = 5
LP_OWNER = "lp"


@dataclass(slots=True)
class _PairState:
    pair: MarketPair
    fair: int  # micro-dollars, in leg A's YES terms
    shift_leg: int = 0  # 0 none, 1 leg A, 2 leg B
    shift: int = 0
    shift_steps: int = 0


class SyntheticMarket:
    """Quotes every pair's two markets on their venues' emulators, which already list them."""

    def __init__(
        self, seed: int, step_ms: int, pairs: Sequence[MarketPair],
        venues: Mapping[Venue, EmulatedVenue], epoch_ms: int = 0,
    ) -> None:
        """`epoch_ms` is step 0's Unix time on every venue's clock (their `/time`, trade and
        order timestamps), so clients that filter by time see the emulated day as now."""
        self.step_ms = step_ms
        self.epoch_ms = epoch_ms
        for venue in venues.values():
            venue.now_ms = epoch_ms
        self.venues = venues
        self.rng = random.Random(seed)
        self.step_count = 0
        self.pairs = [_PairState(pair, fair=self.rng.randrange(30, 71) * CENT) for pair in pairs]
        # every venue once, in the order the pairs first name them (the replay order)
        self._order = list(dict.fromkeys(m.venue for p in pairs for m in (p.a, p.b)))

    @property
    def now_ms(self) -> int:
        return self.epoch_ms + self.step_count * self.step_ms

    async def step(self) -> None:
        """Advance one step: move prices, re-quote both markets of every pair, publish."""
        self.step_count += 1
        for venue in self._order:
            await self.venues[venue].advance_clock(self.now_ms)
        for state in self.pairs:
            self._move(state)
            a_fair = state.fair + (state.shift if state.shift_leg == 1 else 0)
            b_fair = state.fair + (state.shift if state.shift_leg == 2 else 0)
            if state.pair.b_inverted:
                b_fair = ONE_DOLLAR - b_fair
            self._quote(state.pair.a, a_fair)
            self._quote(state.pair.b, b_fair)
        for venue in self._order:
            await self.venues[venue].publish()

    def _move(self, state: _PairState) -> None:
        rng = self.rng
        state.fair = min(85 * CENT, max(15 * CENT, state.fair + rng.choice((-1, 0, 0, 1)) * CENT))
        if state.shift_steps:
            state.shift_steps -= 1
            if not state.shift_steps:
                state.shift_leg, state.shift = 0, 0
        elif rng.randrange(40) == 0:
            state.shift_leg = rng.choice((1, 2))
            state.shift = rng.choice((-1, 1)) * rng.randrange(4, 9) * CENT
            state.shift_steps = rng.randrange(4, 12)

    def _quote(self, market: Market, fair: int) -> None:
        rng = self.rng
        tick = market.tick_micros
        fair = min(ONE_DOLLAR - 8 * CENT, max(8 * CENT, fair))
        best_bid = (fair - CENT) // tick * tick
        best_ask = best_bid + 2 * CENT
        bids, asks = [], []
        for level in range(LEVELS):
            size = rng.randrange(5, 60) * QTY_SCALE
            bid = best_bid - level * CENT
            ask = best_ask + level * CENT
            if bid > 0:
                bids.append((bid, size))
            if ask < ONE_DOLLAR:
                asks.append((ask, rng.randrange(5, 60) * QTY_SCALE))
        self.venues[market.venue].quote(market.market_id, LP_OWNER, bids, asks)
