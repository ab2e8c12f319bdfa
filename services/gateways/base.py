"""The venue-independent half of a gateway: sinks, per-market sequence numbers, orders.

A venue adapter (polymarket/adapter.py, kalshi/adapter.py) parses the venue's wire
messages into normalised `BookEvent`s and `ExecutionReport`s and turns `OrderRequest`s
into signed venue requests; everything it emits goes through the two sinks given here.
"""

from __future__ import annotations

import abc
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market, Outcome, Venue
from arbiter.gateways.orders import OrderTracker, VenueFill, reject
from arbiter.gateways.transport import Connection, FrameSink, RequestTimeout, VenueTransport
from arbiter.platform.clock import Clock
from arbiter.platform.telemetry.metrics import VenueMetrics
from arbiter.v1 import common_pb2, execution_pb2, market_data_pb2

log = logging.getLogger(__name__)

BookSink = Callable[[market_data_pb2.BookEvent], Awaitable[None]]
ReportSink = Callable[[execution_pb2.ExecutionReport], Awaitable[None]]


class VenueMessageError(ValueError):
    """A venue message that cannot be parsed; it is logged, counted and dropped."""


class MeteredTransport:
    """A `VenueTransport` that counts, for the venue metrics, what only the wire sees:
    429 replies, timeouts, and streams coming up. Frames pass through untouched."""

    def __init__(self, inner: VenueTransport, metrics: VenueMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        try:
            status, raw = await self.inner.request(method, path, query, headers, body)
        except RequestTimeout:
            self.metrics.timeouts.inc()
            raise
        if status == 429:
            self.metrics.rate_limited.inc()
        return status, raw

    async def connect(self, channel: str, on_frame: FrameSink) -> Connection:
        connection = await self.inner.connect(channel, on_frame)
        self.metrics.connected.set(1)
        return connection


class VenueGateway(abc.ABC):
    venue: Venue
    nets_positions = False
    """Whether the venue nets YES against NO per market (Kalshi), or holds both (tokens)."""

    def __init__(
        self,
        transport: VenueTransport,
        markets: Sequence[Market],
        clock: Clock,
        on_book: BookSink,
        on_report: ReportSink,
    ) -> None:
        self.metrics = VenueMetrics(self.venue.slug)
        self.transport: VenueTransport = MeteredTransport(transport, self.metrics)
        self.markets = {m.market_id: m for m in markets}
        self.clock = clock
        self.on_book = on_book
        self.on_report = on_report
        self.tracker = OrderTracker()
        self._seq: dict[str, int] = defaultdict(int)
        self.rejected_messages = 0

    def next_seq(self, market_id: str, reset: bool = False) -> int:
        """Our own per-market sequence: snapshots restart it, deltas follow it."""
        self._seq[market_id] = 1 if reset else self._seq[market_id] + 1
        return self._seq[market_id]

    def bad_message(self, frame: bytes, error: Exception) -> None:
        self.rejected_messages += 1
        self.metrics.rejected.inc()
        log.error("%s: dropped malformed venue message (%s): %.200r", self.venue.slug, error, frame)

    async def place(self, request: execution_pb2.OrderRequest) -> execution_pb2.OrderAck:
        """Send a new order; every outcome also goes out as execution reports."""
        market = self.markets.get(request.market_id)
        if market is None:
            return await self.rejected(
                request, f"unknown market {request.market_id!r} on {self.venue.slug}"
            )
        try:
            return await self._place(market, request)
        except ValueError as exc:  # an order the venue would reject is never sent
            return await self.rejected(request, str(exc))

    async def accepted(
        self,
        request: execution_pb2.OrderRequest,
        venue_order_id: str,
        fee_model: FeeModel,
        known_fills: Sequence[VenueFill] = (),
        done: bool | None = None,
        venue_filled: int | None = None,
    ) -> execution_pb2.OrderAck:
        """The venue took the order: ACK, then fills that raced ahead of the reply (or that a
        lookup found), then the dead remainder if the order is over (IOC/FOK by default)
        — always in that order for the saga. Repeated fills are dropped by trade id."""
        early_fills = self.tracker.register(request, venue_order_id, fee_model)
        early_fills += [self.tracker.on_fill(fill) for fill in known_fills]
        await self.on_report(
            execution_pb2.ExecutionReport(
                tenant_id=request.tenant.tenant_id,
                saga_id=request.saga_id,
                client_order_id=request.client_order_id,
                venue_order_id=venue_order_id,
                venue=request.venue,
                market_id=request.market_id,
                outcome=request.outcome,
                kind=execution_pb2.REPORT_KIND_ACK,
                leaves_micros=request.qty_micros,
            )
        )
        await self.emit(early_fills)
        if done is None:
            done = request.tif != execution_pb2.TIME_IN_FORCE_GTC
        if done:
            await self.emit([self.tracker.close(venue_order_id, "unfilled remainder (IOC/FOK)",
                                                venue_filled)])
        return execution_pb2.OrderAck(accepted=True, venue_order_id=venue_order_id)

    async def rejected(
        self, request: execution_pb2.OrderRequest, reason: str
    ) -> execution_pb2.OrderAck:
        await self.on_report(reject(request, reason))
        return execution_pb2.OrderAck(accepted=False, reject_reason=reason)

    async def reconcile(self, request: execution_pb2.OrderRequest) -> execution_pb2.OrderAck:
        """Ask the venue what became of an order whose outcome we did not see."""
        market = self.markets.get(request.market_id)
        if market is None:
            return await self.rejected(
                request, f"unknown market {request.market_id!r} on {self.venue.slug}"
            )
        return await self._reconcile(market, request)

    async def emit(self, reports: Sequence[execution_pb2.ExecutionReport | None]) -> None:
        for item in reports:
            if item is not None:
                await self.on_report(item)

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect the market-data and user streams and subscribe every market."""

    async def cancel(self, request: execution_pb2.CancelRequest) -> execution_pb2.CancelAck:
        """Cancel a resting order. Never waits behind back-off meant for new orders; the
        dead remainder is reported to the saga that owns the order."""
        canceled, reason = await self._cancel(request.venue_order_id)
        if canceled:
            await self.emit([self.tracker.close(request.venue_order_id, "canceled")])
        return execution_pb2.CancelAck(canceled=canceled, reason=reason)

    async def cancel_orphans(self, keep_client_order_ids: set[str]) -> list[str]:
        """Cancel our resting orders that no saga owns (restart hygiene); returns their ids.

        Orders a saga still owns are recognised by client order id, or, where the venue does
        not echo it (Polymarket), by the order tracker, which reconciliation fills first."""
        canceled = []
        for venue_order_id, client_order_id in await self._open_orders():
            tracked = self.tracker.orders.get(venue_order_id)
            owner = client_order_id or (tracked.request.client_order_id if tracked else "")
            if owner in keep_client_order_ids:
                continue
            if (await self._cancel(venue_order_id))[0]:
                canceled.append(venue_order_id)
                log.warning("%s: canceled orphan order %s (client id %r)", self.venue.slug,
                            venue_order_id, owner)
        return canceled

    async def positions(self) -> common_pb2.PositionsSnapshot:
        """What the venue says we hold: the truth restart reconciliation seeds risk from."""
        held = await self._positions()
        return common_pb2.PositionsSnapshot(
            venue=self.venue, netted=self.nets_positions,
            positions=[common_pb2.VenuePosition(market_id=market_id, outcome=outcome,
                                                qty_micros=qty)
                       for (market_id, outcome), qty in sorted(held.items()) if qty])

    @abc.abstractmethod
    async def _positions(self) -> dict[tuple[str, Outcome], int]:
        """Contracts held per (market id, outcome) on our markets, from the venue's API."""

    @abc.abstractmethod
    async def _cancel(self, venue_order_id: str) -> tuple[bool, str]:
        """Ask the venue to cancel; (canceled, reason if not)."""

    @abc.abstractmethod
    async def _open_orders(self) -> list[tuple[str, str]]:
        """Our resting orders at the venue as (venue order id, client order id or "")."""

    @abc.abstractmethod
    async def _reconcile(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck: ...

    @abc.abstractmethod
    async def _place(
        self, market: Market, request: execution_pb2.OrderRequest
    ) -> execution_pb2.OrderAck: ...
