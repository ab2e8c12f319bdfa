"""Detector service: keeps its own books from the book events, evaluates every pair they touch.

The trading path has no other hop: the gateways' `BookEvent`s are applied here by the same
`BookFeed` the order book service uses (so a sequence gap, a rejected update or a book not
yet snapshotted stops trading that market until the gateway's snapshot resyncs it; so does
an update that left the book crossed, until the next, and a book the venue has sent nothing
for in `max_book_age`), and the
pairs on that market are evaluated against the live `L2Book`s directly — nothing is copied
on a tick that finds no opportunity. A stale book reads as empty, so nothing is found on it.

An opportunity is published when it first appears and again only when its direction or
size changes or the previous one has expired, so a standing dislocation does not flood the
saga with duplicates.

Metrics, for published opportunities only (the no-opportunity tick pays nothing): the
book-event -> opportunity hop (from the book event's publish time), venue-received ->
opportunity, the count seen and each one's edge per contract; and the sequence gaps this
service's books saw.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arbiter.core.books import Applied, BookFeed
from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, MarketPair, Outcome
from arbiter.core.opportunity import (
    EMPTY,
    Leg,
    Opportunity,
    PairEvaluator,
    Quotes,
    buy_ladder_top,
)
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.clock import Clock, wall_micros
from arbiter.platform.telemetry import metrics
from arbiter.v1 import market_data_pb2, opportunity_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    max_qty: int
    min_profit: int
    ttl_micros: int
    depth_levels: int  # levels per side a ladder is sized against
    max_book_age_micros: int = 0  # a book not heard from for longer is not traded; 0: no limit


class DetectorService:
    def __init__(
        self,
        bus: Bus,
        pairs: Sequence[MarketPair],
        fees: dict[str, FeeModel],
        settings: DetectorSettings,
        clock: Clock,
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self.feed = BookFeed(())
        self.fees: dict[str, FeeModel] = {}
        self.max_book_age = settings.max_book_age_micros
        self.heard: dict[str, int] = {}  # book key -> when its venue last sent anything
        self.aged_out = 0  # evaluations that found a book too old to trade
        self.evaluators: dict[str, PairEvaluator] = {}
        self.pairs_by_market: dict[str, list[MarketPair]] = defaultdict(list)
        self._gap_counters: dict[str, Any] = {}
        for pair in pairs:
            self.add_pair(pair, fees)
        self._last: dict[str, Opportunity] = {}
        self.evaluations = 0
        self.published = 0
        self.edges: dict[str, int] = {}  # pair -> latest best-level edge after fees
        self._hop = metrics.hop("opportunity")
        self._tick = metrics.tick("opportunity")
        bus.subscribe(topics.BOOKS, "detector", market_data_pb2.BookEvent, self.on_book_event)

    def add_pair(self, pair: MarketPair, fees: Mapping[str, FeeModel]) -> None:
        """Evaluate one more pair (at start, or listed while running): its books are
        stale until their first snapshots, so it trades only once both are live."""
        if pair.pair_id in self.evaluators:
            raise ValueError(f"pair {pair.pair_id} is already evaluated")
        for market in (pair.a, pair.b):
            if market.key not in self.feed.markets:
                self.feed.add(market)
                self.fees[market.key] = fees[market.key]
                self._gap_counters[market.key] = metrics.SEQUENCE_GAPS.labels(
                    venue=market.venue, service="detector")
            self.pairs_by_market[market.key].append(pair)
        self.evaluators[pair.pair_id] = PairEvaluator(
            pair, self.fees[pair.a.key], self.fees[pair.b.key], self.settings.max_qty,
            self.settings.min_profit, self.settings.ttl_micros, self.settings.depth_levels)

    async def on_book_event(self, envelope: Envelope[market_data_pb2.BookEvent]) -> None:
        event = envelope.value
        kind = event.WhichOneof("event")
        key = envelope.key
        if kind == "delta":
            result = self.feed.apply_delta(key, event.delta)
        elif kind == "snapshot":
            result = self.feed.apply_snapshot(key, event.snapshot)
        else:
            return  # a venue ticker is the order book service's cross-check, not a book
        now = self.clock.now_micros()
        if result is not Applied.UNKNOWN:
            self.heard[key] = now
        if not result.changed:
            return
        if result is Applied.GAP:
            self._gap_counters[key].inc()
            log.warning("detector: %s; not trading it until a snapshot", self.feed.rejection)
        elif result is Applied.REJECTED:
            log.error("detector: book %s rejected an update: %s", key, self.feed.rejection)
        for pair in self.pairs_by_market[key]:
            opportunity = self.evaluate(pair, now)
            if opportunity is not None:
                self.observe(opportunity, envelope.published_micros, event.received_micros)
                await self.bus.publish(
                    topics.OPPORTUNITIES,
                    pair.pair_id,
                    to_proto(opportunity, event.received_micros, pair.lot_micros),
                )

    def quotes(self, market: Market, now: int) -> Quotes:
        """The market's live book, or an empty one (nothing trades) while it is stale,
        unsettled, or older than the age limit."""
        book = self.feed.live(market.key)
        if book is None:
            return EMPTY
        if self.max_book_age and now - self.heard.get(market.key, now) > self.max_book_age:
            self.aged_out += 1
            return EMPTY
        return book

    def buy_price(self, venue: str, market_id: str, outcome: Outcome) -> int | None:
        """What one contract of `outcome` costs on this detector's live book now, fee floor
        included (None: an unknown market, or nothing offered): the saga's report re-prices
        a leg with it."""
        market = self.feed.markets.get(f"{venue}:{market_id}")
        if market is None:
            return None
        price = buy_ladder_top(self.quotes(market, self.clock.now_micros()), outcome)
        return None if price is None else price + self.fees[market.key].floor_per_contract(price)

    def observe(self, opportunity: Opportunity, depth_published: int, received: int) -> None:
        wall = wall_micros()
        self._hop.observe(max(0, wall - depth_published) / 1e6)
        self._tick.observe(max(0, wall - received) / 1e6)
        metrics.OPPORTUNITIES_SEEN.inc()
        metrics.OPPORTUNITY_EDGE.observe(opportunity.edge_per_contract / 1e6)

    def evaluate(self, pair: MarketPair, now: int) -> Opportunity | None:
        """Evaluate one pair; return an opportunity only if it is new or changed."""
        a, b = self.quotes(pair.a, now), self.quotes(pair.b, now)
        evaluator = self.evaluators[pair.pair_id]
        self.evaluations += 1
        found = evaluator.evaluate(a, b, now)
        self.edges[pair.pair_id] = evaluator.last_edge
        if found is None:
            self._last.pop(pair.pair_id, None)
            return None
        last = self._last.get(pair.pair_id)
        if last is not None and last.is_live(now) and _same_trade(last, found):
            return None
        self._last[pair.pair_id] = found
        self.published += 1
        return found


def _same_trade(a: Opportunity, b: Opportunity) -> bool:
    return (a.first.market, a.first.limit_price, a.second.limit_price, a.qty) == (
        b.first.market, b.first.limit_price, b.second.limit_price, b.qty)


def to_proto(opportunity: Opportunity, received: int,
             lot: int) -> opportunity_pb2.Opportunity:
    def leg(item: Leg) -> opportunity_pb2.Leg:
        return opportunity_pb2.Leg(
            venue=item.market.venue,
            market_id=item.market.market_id,
            outcome=int(item.outcome),
            limit_price_micros=item.limit_price,
            qty_micros=item.qty,
            expected_cost_micros=item.cost,
        )

    return opportunity_pb2.Opportunity(
        opportunity_id=opportunity.opportunity_id,
        pair_id=opportunity.pair_id,
        yes_leg=leg(opportunity.first),
        no_leg=leg(opportunity.second),
        qty_micros=opportunity.qty,
        expected_profit_micros=opportunity.profit,
        edge_per_contract_micros=opportunity.edge_per_contract,
        created_micros=opportunity.created,
        expires_micros=opportunity.expires,
        source_received_micros=received,
        lot_micros=lot,
    )
