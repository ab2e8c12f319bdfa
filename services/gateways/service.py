"""Gateway service: a venue adapter wired to the bus and served over gRPC order entry."""

from __future__ import annotations

import logging

import grpc

from arbiter.gateways.base import VenueGateway
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.rpc import require_tenant
from arbiter.platform.telemetry import metrics, tracing
from arbiter.platform.tenancy import tenant_headers
from arbiter.v1 import common_pb2, execution_pb2, execution_pb2_grpc, market_data_pb2

log = logging.getLogger(__name__)


class BusSinks:
    """Where a gateway's normalised output goes: books by instrument, reports by saga.

    Each book event starts a trace, back-dated to when its venue frame arrived: everything
    it causes downstream (depth, opportunity, saga, orders) joins that trace."""

    def __init__(self, bus: Bus, venue_slug: str, tier: str = "paper") -> None:
        self.bus = bus
        self.venue_slug = venue_slug
        self.tier = tier
        self._published = metrics.BOOK_EVENTS.labels(venue=venue_slug)
        self._span_attributes = {"arbiter.venue": venue_slug}

    async def book(self, event: market_data_pb2.BookEvent) -> None:
        body = getattr(event, event.WhichOneof("event") or "delta")
        self._published.inc()
        with tracing.root_span("venue book event", "gateway", event.received_micros,
                               self._span_attributes):
            await self.bus.publish(topics.BOOKS, f"{self.venue_slug}:{body.market_id}", event)

    async def report(self, report: execution_pb2.ExecutionReport) -> None:
        tenant = common_pb2.TenantContext(tenant_id=report.tenant_id, tier=self.tier)
        await self.bus.publish(topics.EXEC_REPORTS, report.saga_id or report.client_order_id,
                               report, headers=tenant_headers(tenant), durable=True)


def answer_resyncs(bus: Bus, gateway: VenueGateway, venue_slug: str) -> None:
    """Serve the book consumers' `BookResyncRequest`s for this venue: a fresh venue
    snapshot of each book one of them could no longer trust."""

    async def resync(envelope: Envelope[market_data_pb2.BookResyncRequest]) -> None:
        request = envelope.value
        if request.venue != venue_slug or request.market_id not in gateway.markets:
            return
        log.warning("%s %s: a consumer asks for a fresh snapshot (%s)", venue_slug,
                    request.market_id, request.reason or "no reason given")
        await gateway.resync_books([request.market_id])

    bus.subscribe(topics.BOOK_RESYNC, f"gateway-{venue_slug}",
                  market_data_pb2.BookResyncRequest, resync)


class OrderEntryServicer(execution_pb2_grpc.OrderEntryServicer):
    def __init__(self, gateway: VenueGateway, tenant_id: str) -> None:
        self.gateway = gateway
        self.tenant_id = tenant_id

    async def PlaceOrder(self, request: execution_pb2.OrderRequest, context) -> execution_pb2.OrderAck:
        await require_tenant(request.tenant, self.tenant_id, context)
        return await self.gateway.place(request)

    async def ReconcileOrder(self, request: execution_pb2.OrderRequest, context) -> execution_pb2.OrderAck:
        await require_tenant(request.tenant, self.tenant_id, context)
        return await self.gateway.reconcile(request)

    async def CancelOrder(self, request: execution_pb2.CancelRequest, context) -> execution_pb2.CancelAck:
        await require_tenant(request.tenant, self.tenant_id, context)
        return await self.gateway.cancel(request)

    async def PlaceOrders(self, request: execution_pb2.OrderBatch, context) -> execution_pb2.OrderBatchAck:
        await require_tenant(request.tenant, self.tenant_id, context)
        for order in request.orders:  # each order's own tenant too: a batch cannot smuggle one
            await require_tenant(order.tenant, self.tenant_id, context)
        return execution_pb2.OrderBatchAck(acks=await self.gateway.place_batch(request.orders))

    async def CancelAll(self, request: execution_pb2.CancelAllRequest, context) -> execution_pb2.CancelAllResult:
        await require_tenant(request.tenant, self.tenant_id, context)
        if request.market_id and request.market_id not in self.gateway.markets:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"unknown market {request.market_id!r} on "
                                f"{self.gateway.venue}")
        canceled = (await self.gateway.cancel_market(request.market_id) if request.market_id
                    else await self.gateway.cancel_all())
        return execution_pb2.CancelAllResult(canceled_venue_order_ids=canceled)

    async def CancelOrphans(self, request: execution_pb2.OrphanSweep, context) -> execution_pb2.OrphanSweepResult:
        await require_tenant(request.tenant, self.tenant_id, context)
        canceled = await self.gateway.cancel_orphans(set(request.keep_client_order_ids))
        return execution_pb2.OrphanSweepResult(canceled_venue_order_ids=canceled)

    async def FetchPositions(self, request: execution_pb2.PositionsRequest, context) -> common_pb2.PositionsSnapshot:
        await require_tenant(request.tenant, self.tenant_id, context)
        return await self.gateway.positions()

    async def FetchSettlements(self, request: execution_pb2.PositionsRequest, context) -> execution_pb2.SettlementsSnapshot:
        await require_tenant(request.tenant, self.tenant_id, context)
        settled = await self.gateway.settlements()
        return execution_pb2.SettlementsSnapshot(venue=self.gateway.venue, settlements=[
            execution_pb2.MarketSettlement(market_id=market_id, yes_payout_micros=payout)
            for market_id, payout in sorted(settled.items())])
