"""A seeded synthetic market that drives the emulated venues.

Each pair has a latent probability that random-walks in whole ticks; a liquidity provider
quotes a ladder around it on each of the pair's two markets. Now and then one leg dislocates
(its quotes shift by several cents for a few steps), which opens a real arbitrage that
vanishes when the dislocation ends or the liquidity is taken. Integer ticks and one `random.Random(seed)`
make a run reproducible step for step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
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
    resolves_at: int = 0  # the step its markets close and resolve; 0: never
    resolved: bool = False


class SyntheticMarket:
    """Quotes every pair's two markets on their venues' emulators, which already list them."""

    def __init__(
        self, seed: int, step_ms: int, pairs: Sequence[MarketPair],
        venues: Mapping[Venue, EmulatedVenue], epoch_ms: int = 0, lifetime_steps: int = 0,
    ) -> None:
        """`epoch_ms` is step 0's Unix time on every venue's clock (their `/time`, trade and
        order timestamps), so clients that filter by time see the emulated day as now.
        `lifetime_steps` > 0: the pairs resolve one after another, the last at that step
        (the k-th of n at k x lifetime / n), each YES with its latent probability; a pair
        added later (`add_pair`) lives that long from its listing."""
        self.step_ms = step_ms
        self.epoch_ms = epoch_ms
        self.lifetime_steps = lifetime_steps
        for venue in venues.values():
            venue.now_ms = epoch_ms
        self.venues = venues
        self.rng = random.Random(seed)
        self.step_count = 0
        self.pairs = [_PairState(pair, fair=self.rng.randrange(30, 71) * CENT) for pair in pairs]
        for k, state in enumerate(self.pairs, start=1):
            state.resolves_at = lifetime_steps * k // len(self.pairs) if lifetime_steps else 0
        self.outcomes = random.Random(seed ^ 0x5E771E)  # apart from `rng`: quotes do not change
        self.resolutions: list[tuple[str, int, int]] = []  # (pair id, A's, B's YES payout)
        self.successor: Callable[[str], MarketPair] | None = None
        """Lists the successor of a pair that resolved on schedule (its markets on their
        venues): set by whoever relists (`topology.listings`); quoted from the same step."""
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
        for state in list(self.pairs):
            if state.resolved:
                continue
            if state.resolves_at and self.step_count >= state.resolves_at:
                a_wins = self.outcomes.randrange(ONE_DOLLAR) < state.fair
                await self.resolve(state.pair.pair_id, ONE_DOLLAR if a_wins else 0)
                if self.successor is not None:
                    self.add_pair(self.successor(state.pair.pair_id))
                continue
            self._move(state)
            a_fair = state.fair + (state.shift if state.shift_leg == 1 else 0)
            b_fair = state.fair + (state.shift if state.shift_leg == 2 else 0)
            if state.pair.b_inverted:
                b_fair = ONE_DOLLAR - b_fair
            self._quote(state.pair.a, a_fair)
            self._quote(state.pair.b, b_fair)
        for venue in self._order:
            await self.venues[venue].publish()

    def add_pair(self, pair: MarketPair) -> None:
        """Quote one more pair from the next step (its markets already listed on their
        venues): a market listed while the others trade, resolving `lifetime_steps` on."""
        if any(s.pair.pair_id == pair.pair_id for s in self.pairs):
            raise ValueError(f"pair {pair.pair_id} is already quoted")
        self.pairs.append(_PairState(
            pair, fair=self.rng.randrange(30, 71) * CENT,
            resolves_at=self.step_count + self.lifetime_steps if self.lifetime_steps else 0))
        self._order += [v for v in (pair.a.venue, pair.b.venue) if v not in self._order]

    async def resolve(self, pair_id: str, a_payout: int, b_payout: int | None = None) -> None:
        """Close both markets of a pair (the liquidity leaves) and resolve them: leg A's YES
        pays `a_payout`, leg B's what the pair's terms say (the same event) unless
        `b_payout` makes the venues disagree (one voids at a fair price, the other
        resolves), the risk a settlement-equivalence check exists for."""
        state = next(s for s in self.pairs if s.pair.pair_id == pair_id)
        if state.resolved:
            raise ValueError(f"pair {pair_id} is already resolved")
        state.resolved = True
        pair = state.pair
        if b_payout is None:
            b_payout = ONE_DOLLAR - a_payout if pair.b_inverted else a_payout
        for market, payout in ((pair.a, a_payout), (pair.b, b_payout)):
            venue = self.venues[market.venue]
            venue.quote(market.market_id, LP_OWNER, [], [])
            await venue.publish()
            await venue.resolve(market.market_id, payout)
        self.resolutions.append((pair_id, a_payout, b_payout))

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
