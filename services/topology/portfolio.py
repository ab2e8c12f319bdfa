"""The run's PnL as a trader reads it, and its reconciliation with the venues' own books.

The saga service knows every fill (gross, per outcome); the order book knows each market's
top of book; each venue knows its cash and (netted) positions. `Portfolio` puts the first two
through `core.pnl` and checks the result against the third: realized + unrealized must equal
the change in the venue's balance since the run began plus what the venue says we hold,
marked by the same rule. A difference is a fill, fee or payout the engine and the venue do
not agree on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.instruments import Market, Outcome, Venue
from arbiter.core.pnl import MARK_RULE, Holding, MarketPnl, Quote, portfolio_pnl
from arbiter.core.units import to_decimal
from arbiter.gateways.base import VenueGateway
from arbiter.orderbook.service import OrderBookService
from arbiter.platform.telemetry.metrics import FEES_PAID, REALIZED_PNL, UNREALIZED_PNL
from arbiter.saga.machine import Saga
from arbiter.saga.service import SagaService
from arbiter.topology.universe import TradingUniverse


def _usd(micros: int) -> str:
    return str(to_decimal(micros))


def holdings(sagas: Iterable[Saga]) -> list[Holding]:
    """Every counted fill of `sagas`, summed per market and outcome bought."""
    totals: dict[tuple[Venue, str, Outcome], list[int]] = defaultdict(lambda: [0, 0, 0])
    for saga in sagas:
        for record in saga.orders.values():
            command = record.command
            total = totals[(command.venue, command.market_id, command.outcome)]
            total[0] += record.filled
            total[1] += record.cost
            total[2] += record.fees
    return [Holding(venue, market_id, outcome, *total)
            for (venue, market_id, outcome), total in sorted(totals.items())]


def quotes(orderbook: OrderBookService, markets: Iterable[Market]) -> dict[tuple[Venue, str], Quote]:
    """Each market's top of book as the order book holds it now."""
    found = {}
    for market in markets:
        book = orderbook.books.get(market.key)
        if book is not None:
            found[(market.venue, market.market_id)] = Quote(book.best_bid_price(),
                                                            book.best_ask_price())
    return found


@dataclass
class Portfolio:
    """PnL over the saga service's fills, marked to the order book's books."""

    tenant: str
    saga: SagaService
    orderbook: OrderBookService
    gateways: Mapping[Venue, VenueGateway]
    universe: TradingUniverse  # the markets marked: every one traded, listed later too
    opening_cash: dict[Venue, int]
    opening_positions: dict[Venue, dict[tuple[str, Outcome], int]]
    settled: dict[tuple[Venue, str], int] = field(default_factory=dict)  # YES payouts
    merged: dict[tuple[Venue, str], int] = field(default_factory=dict)  # complete sets

    @classmethod
    async def open(cls, tenant: str, saga: SagaService, orderbook: OrderBookService,
                   gateways: Mapping[Venue, VenueGateway], universe: TradingUniverse) -> Portfolio:
        """Note each venue's balance and positions now: the run's PnL is measured from
        here (a live account may hold what earlier runs bought)."""
        cash = {venue: (await gateway.balance()).cash for venue, gateway in gateways.items()}
        held = {venue: await _held(gateway) for venue, gateway in gateways.items()}
        return cls(tenant, saga, orderbook, gateways, universe, cash, held)

    @property
    def netting(self) -> frozenset[Venue]:
        return frozenset(v for v, g in self.gateways.items() if g.nets_positions)

    def markets_pnl(self, sagas: Iterable[Saga] | None = None) -> list[MarketPnl]:
        return portfolio_pnl(holdings(self.saga.sagas.values() if sagas is None else sagas),
                             quotes(self.orderbook, self.universe.markets()), self.netting,
                             self.settled, self.merged)

    def summary(self) -> dict[str, Any]:
        """Realized, unrealized, fees and mark value: in total, per venue and per pair. The
        per-venue numbers also go to the PnL gauges, so the metrics say what the
        summary and the view do."""
        by_pair: dict[str, list[Saga]] = defaultdict(list)
        for saga in self.saga.sagas.values():
            by_pair[saga.pair_id].append(saga)
        markets = self.publish()
        return {
            **_totals(markets),
            "mark_rule": MARK_RULE,
            "pnl_by_venue": {venue: _totals([m for m in markets if m.venue == venue])
                             for venue in sorted({m.venue for m in markets})},
            "pnl_by_pair": {pair: _totals(self.markets_pnl(sagas))
                            for pair, sagas in sorted(by_pair.items())},
        }

    def publish(self) -> list[MarketPnl]:
        """Set the PnL gauges per venue from the current PnL, and return it."""
        markets = self.markets_pnl()
        for venue, held in _by_venue(markets).items():
            for gauge, micros in ((REALIZED_PNL, sum(m.realized for m in held)),
                                  (UNREALIZED_PNL, sum(m.unrealized for m in held)),
                                  (FEES_PAID, sum(m.fees for m in held))):
                gauge.labels(tenant=self.tenant, venue=venue).set(micros / 1e6)
        return markets

    async def reconcile(self) -> dict[str, dict[str, str]]:
        """Per venue: the engine's realized + unrealized against the venue's balance change
        plus its own positions marked by the same rule, a settled market's at its payout
        (`difference_usd` should be 0)."""
        marks = quotes(self.orderbook, self.universe.markets())
        engine = {venue: sum(m.realized + m.unrealized for m in markets)
                  for venue, markets in _by_venue(self.markets_pnl()).items()}
        report = {}
        for venue, gateway in sorted(self.gateways.items()):
            cash_change = (await gateway.balance()).cash - self.opening_cash[venue]
            now, before = await _held(gateway), self.opening_positions[venue]
            held = [Holding(venue, market_id, outcome,
                            now.get((market_id, outcome), 0) - before.get((market_id, outcome), 0),
                            0, 0) for market_id, outcome in sorted(now.keys() | before.keys())]
            # a settled market's tokens not yet redeemed are worth their payout
            marked = sum(m.mark_value + m.realized
                         for m in portfolio_pnl(held, marks, frozenset(), self.settled))
            ours = engine.get(venue, 0)
            report[venue] = {"cash_change_usd": _usd(cash_change),
                             "marked_positions_usd": _usd(marked),
                             "engine_pnl_usd": _usd(ours),
                             "difference_usd": _usd(ours - cash_change - marked)}
        return report


async def _held(gateway: VenueGateway) -> dict[tuple[str, Outcome], int]:
    snapshot = await gateway.positions()
    return {(p.market_id, Outcome(p.outcome)): p.qty_micros for p in snapshot.positions}


def _by_venue(markets: list[MarketPnl]) -> dict[Venue, list[MarketPnl]]:
    grouped: dict[Venue, list[MarketPnl]] = defaultdict(list)
    for market in markets:
        grouped[market.venue].append(market)
    return grouped


def _totals(markets: list[MarketPnl]) -> dict[str, str]:
    return {
        "realized_pnl_usd": _usd(sum(m.realized for m in markets)),
        "unrealized_pnl_usd": _usd(sum(m.unrealized for m in markets)),
        "mark_value_usd": _usd(sum(m.mark_value for m in markets)),
        "fees_paid_usd": _usd(sum(m.fees for m in markets)),
    }
