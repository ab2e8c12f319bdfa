"""Markets that settle: each venue's settlements read from its API and booked once.

A settled market pays what it pays and is gone: the portfolio realizes it (`core.pnl`),
risk drops its positions and their cost (booked as a sale of everything held at the
payout, under one trade id per market and outcome, so a repeated read changes nothing),
and the capital comes back through the venue's balance, which risk already reads. A pair
whose two markets settled on different terms (one venue resolved, the other settled at a
fair price or 50-50) is a hedge that did not hold: reported with what each hedged unit
paid instead of $1, never netted away.

Merges are read the same way: complete YES+NO sets the wallet merged back to collateral
(Polymarket's CTF `mergePositions`, by whoever sent it) are realized at $1 a set, and risk
drops both sides' contracts. Merges from before the engine started are already in the
venue positions risk was seeded from, so `open` only counts them (`Portfolio.merged`);
each later one is booked to risk once, by its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, to_decimal
from arbiter.gateways.base import VenueGateway
from arbiter.platform.ports import RiskPort
from arbiter.saga.service import SagaService
from arbiter.topology.portfolio import Portfolio
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import common_pb2, risk_pb2


@dataclass
class Lifecycle:
    tenant: common_pb2.TenantContext
    gateways: Mapping[Venue, VenueGateway]
    risk: RiskPort
    saga: SagaService
    portfolio: Portfolio
    universe: TradingUniverse  # the pairs checked: every one traded, listed later too
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    merges: set[str] = field(default_factory=set)  # venue transactions counted

    @classmethod
    async def open(cls, tenant: common_pb2.TenantContext, gateways: Mapping[Venue, VenueGateway],
                   risk: RiskPort, saga: SagaService, portfolio: Portfolio,
                   universe: TradingUniverse) -> Lifecycle:
        """Count the merges made before now (the venue's positions, which risk was seeded
        from, already leave them out)."""
        lifecycle = cls(tenant, gateways, risk, saga, portfolio, universe)
        for venue, gateway in sorted(gateways.items()):
            for tx, (market_id, sets) in sorted((await gateway.merges()).items()):
                lifecycle.merges.add(tx)
                lifecycle._count_merge(venue, market_id, sets)
        return lifecycle

    @property
    def settled(self) -> dict[tuple[Venue, str], int]:
        return self.portfolio.settled

    async def poll_merges(self) -> list[tuple[Venue, str, int]]:
        """Read every venue's merges; book the new ones. Returns (venue, market, sets)."""
        booked = []
        for venue, gateway in sorted(self.gateways.items()):
            for tx, (market_id, sets) in sorted((await gateway.merges()).items()):
                if tx in self.merges:
                    continue
                self.merges.add(tx)
                for outcome in Outcome:
                    await self.risk.RecordFill(risk_pb2.FillRecord(
                        tenant=self.tenant, venue=venue, market_id=market_id,
                        outcome=common_pb2.Outcome.ValueType(outcome), qty_micros=-sets,
                        price_micros=ONE_DOLLAR // 2, trade_id=f"merge:{tx}:{outcome.name}"))
                self._count_merge(venue, market_id, sets)
                booked.append((venue, market_id, sets))
        return booked

    def _count_merge(self, venue: Venue, market_id: str, sets: int) -> None:
        key = (venue, market_id)
        self.portfolio.merged[key] = self.portfolio.merged.get(key, 0) + sets

    async def poll(self) -> list[tuple[Venue, str]]:
        """Read every venue's settlements; book the new ones. Returns what was booked."""
        booked = []
        for venue, gateway in sorted(self.gateways.items()):
            for market_id, payout in sorted((await gateway.settlements()).items()):
                if (venue, market_id) not in self.settled:
                    await self._book(venue, market_id, payout)
                    booked.append((venue, market_id))
        if booked:
            self._check_pairs(booked)
        return booked

    async def _book(self, venue: Venue, market_id: str, payout: int) -> None:
        await self.risk.RecordSettlement(risk_pb2.SettlementRecord(
            tenant=self.tenant, venue=venue, market_id=market_id, yes_payout_micros=payout))
        self.settled[(venue, market_id)] = payout

    def _check_pairs(self, booked: Iterable[tuple[Venue, str]]) -> None:
        new = set(booked)
        for pair in self.universe.pairs:
            a, b = (pair.a.venue, pair.a.market_id), (pair.b.venue, pair.b.market_id)
            if a not in self.settled or b not in self.settled or not {a, b} & new:
                continue
            a_pays, b_pays = self.settled[a], self.settled[b]
            expected = ONE_DOLLAR - a_pays if pair.b_inverted else a_pays
            if b_pays != expected:
                # a hedged unit holds A's YES with B's NO (B's YES if inverted), or the reverse
                one = a_pays + (b_pays if pair.b_inverted else ONE_DOLLAR - b_pays)
                sagas = [x for x in self.saga.sagas.values() if x.pair_id == pair.pair_id]
                locked = sum(x.realized_pnl() for x in sagas if x.terminal)
                paid = sum(m.realized + m.unrealized for m in self.portfolio.markets_pnl(sagas))
                self.disagreements.append({
                    "pair": pair.pair_id, "a_yes_paid_usd": str(to_decimal(a_pays)),
                    "b_yes_paid_usd": str(to_decimal(b_pays)),
                    "b_yes_should_pay_usd": str(to_decimal(expected)),
                    "hedged_unit_paid_usd": {"yes_on_a": str(to_decimal(one)),
                                             "no_on_a": str(to_decimal(2 * ONE_DOLLAR - one))},
                    # what the pair's hedges were to lock in, and what they made instead
                    "locked_in_usd": str(to_decimal(locked)),
                    "pnl_usd": str(to_decimal(paid)),
                })

    def summary(self) -> dict[str, Any]:
        return {"markets_settled": sorted(f"{v}:{m}" for v, m in self.settled),
                "settlement_disagreements": self.disagreements,
                "complete_sets_merged": str(to_decimal(sum(self.portfolio.merged.values())))}
