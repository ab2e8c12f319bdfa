"""Settlements booked with risk in the distributed plane.

The embedded engine reads its gateways' settlements in process (`lifecycle.Lifecycle`).
Distributed, nothing did: risk kept the positions of markets the venues had paid out, and
their exposure, until a restart re-seeded it from the venues. The saga process asks each
gateway for its venue's settled markets (`FetchSettlements`) and tells risk of each new one
(`RecordSettlement`, which closes what is still held and nothing twice)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import grpc

from arbiter.core.instruments import Venue
from arbiter.core.units import ONE_DOLLAR
from arbiter.platform.ports import OrderEntryPort, RiskPort
from arbiter.v1 import common_pb2, execution_pb2, risk_pb2

log = logging.getLogger(__name__)

POLL_EVERY_S = 10.0
"""How often the venues' settlements are read: a settled market's capital is freed within
this, which matters for limits, not for safety (nothing trades on a closed market)."""


class SettlementBooker:
    """Books each venue's settled markets with risk once."""

    def __init__(self, tenant: common_pb2.TenantContext, risk: RiskPort,
                 gateways: Mapping[Venue, OrderEntryPort]) -> None:
        self.tenant = tenant
        self.risk = risk
        self.gateways = gateways
        self.booked: dict[tuple[Venue, str], int] = {}

    async def book_new(self) -> list[tuple[Venue, str, int]]:
        """Read every venue's settlements; tell risk of the new ones. Returns them. A
        payout outside [0, $1] is a venue reply not to be trusted: skipped, logged."""
        new = []
        for venue, gateway in sorted(self.gateways.items()):
            snapshot = await gateway.FetchSettlements(
                execution_pb2.PositionsRequest(tenant=self.tenant))
            for settled in snapshot.settlements:
                key, payout = (venue, settled.market_id), settled.yes_payout_micros
                if key in self.booked:
                    continue
                if not 0 <= payout <= ONE_DOLLAR:
                    log.error("%s %s: settlement payout %d is outside [0, %d]; not booked",
                              venue, settled.market_id, payout, ONE_DOLLAR)
                    continue
                await self.risk.RecordSettlement(risk_pb2.SettlementRecord(
                    tenant=self.tenant, venue=venue, market_id=settled.market_id,
                    yes_payout_micros=payout))
                self.booked[key] = payout
                new.append((venue, settled.market_id, payout))
                log.info("%s %s settled: YES paid %d micro-dollars; booked with risk",
                         venue, settled.market_id, payout)
        return new

    async def run(self, every_s: float = POLL_EVERY_S) -> None:
        """Book settlements forever; a failed read is retried at the next round."""
        while True:
            try:
                await self.book_new()
            except grpc.RpcError as exc:
                log.warning("reading the venues' settlements failed, will retry: %s", exc)
            await asyncio.sleep(every_s)
