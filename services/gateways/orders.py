"""Order bookkeeping every gateway shares, venue-independent.

Venues can report a fill before the REST response that tells us the order id (the
WebSocket is faster than the HTTP reply), can repeat a fill after a reconnect, and report
fees per order rather than per fill. `OrderTracker` absorbs all three: it buffers fills of
orders not yet known, drops repeated trade ids, and turns per-order fee rounding into
per-fill fee increments, emitting `ExecutionReport`s exactly once per fill.

It is also the last gate before the saga for every venue: a fill no exchange could have
made (a price outside (0, 1), no quantity, a negative or outsized fee, more than the order's
size) is refused with `ImplausibleFill`, so the saga and risk never book it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from arbiter.core.fees import FeeModel
from arbiter.core.units import CENT, ONE_DOLLAR, notional
from arbiter.v1 import execution_pb2

MAX_EARLY_ORDERS = 10_000
"""Orders whose fills may wait for their REST reply; beyond this the oldest are dropped (fills
of orders this process never placed would otherwise grow without bound)."""


class ImplausibleFill(ValueError):
    """A venue reported a fill no exchange could have made; it is not booked."""


@dataclass(slots=True)
class TrackedOrder:
    request: execution_pb2.OrderRequest
    venue_order_id: str
    fee_model: FeeModel
    fills: list[tuple[int, int]] = field(default_factory=list)
    fee_reported: int = 0
    filled: int = 0
    done: bool = False

    @property
    def leaves(self) -> int:
        return self.request.qty_micros - self.filled


@dataclass(frozen=True, slots=True)
class VenueFill:
    """A fill as the venue reported it, in the bought outcome's own price terms."""

    venue_order_id: str
    trade_id: str
    price: int
    qty: int
    fee: int | None = None  # the venue's own fee figure, when it gives one

    def __post_init__(self) -> None:
        if not 0 < self.price < ONE_DOLLAR:
            raise ImplausibleFill(f"fill {self.trade_id}: price {self.price} outside (0, 1)")
        if self.qty <= 0:
            raise ImplausibleFill(f"fill {self.trade_id}: quantity {self.qty} is not positive")
        if self.fee is not None and self.fee < 0:
            raise ImplausibleFill(f"fill {self.trade_id}: fee {self.fee} is negative")


class OrderTracker:
    def __init__(self) -> None:
        self.orders: dict[str, TrackedOrder] = {}
        self._early: dict[str, list[VenueFill]] = defaultdict(list)
        self._seen_trades: set[str] = set()

    def register(
        self, request: execution_pb2.OrderRequest, venue_order_id: str, fee_model: FeeModel
    ) -> list[VenueFill]:
        """Record an accepted order; returns the fills that arrived before it, for `on_fill`."""
        if venue_order_id not in self.orders:
            self.orders[venue_order_id] = TrackedOrder(request, venue_order_id, fee_model)
        return self._early.pop(venue_order_id, [])

    def on_fill(self, fill: VenueFill) -> execution_pb2.ExecutionReport | None:
        """A fill from the venue: a report, or None if repeated or not yet attributable."""
        tracked = self.orders.get(fill.venue_order_id)
        if tracked is None:
            if fill.trade_id not in self._seen_trades:
                if (fill.venue_order_id not in self._early
                        and len(self._early) >= MAX_EARLY_ORDERS):
                    del self._early[next(iter(self._early))]
                self._early[fill.venue_order_id].append(fill)
            return None
        return self._fill(tracked, fill)

    def _fill(self, tracked: TrackedOrder, fill: VenueFill) -> execution_pb2.ExecutionReport | None:
        if fill.trade_id in self._seen_trades:
            return None
        if tracked.filled + fill.qty > tracked.request.qty_micros:
            raise ImplausibleFill(
                f"fill {fill.trade_id}: {fill.qty} more on order {tracked.venue_order_id} "
                f"makes {tracked.filled + fill.qty}, beyond its {tracked.request.qty_micros}")
        # a venue may book an order's whole fee on one fill, but never more than the order
        # could pay out, plus a cent of rounding
        ceiling = notional(ONE_DOLLAR, tracked.request.qty_micros) + CENT
        if fill.fee is not None and tracked.fee_reported + fill.fee > ceiling:
            raise ImplausibleFill(f"fill {fill.trade_id}: fee {fill.fee} takes order "
                                  f"{tracked.venue_order_id}'s fees beyond {ceiling}")
        self._seen_trades.add(fill.trade_id)
        tracked.fills.append((fill.price, fill.qty))
        tracked.filled += fill.qty
        if fill.fee is not None:
            fee = fill.fee
        else:
            # never negative: a venue's own figure earlier in the order may exceed the model's
            fee = max(0, tracked.fee_model.fee(tracked.fills) - tracked.fee_reported)
        tracked.fee_reported += fee
        return report(
            tracked,
            execution_pb2.REPORT_KIND_FILL,
            trade_id=fill.trade_id,
            price_micros=fill.price,
            qty_micros=fill.qty,
            fee_micros=fee,
        )

    def close(
        self, venue_order_id: str, reason: str, venue_filled: int | None = None
    ) -> execution_pb2.ExecutionReport | None:
        """The rest of an order is dead (IOC remainder, cancel): report it once. The dead
        quantity comes from the venue's own fill count when it gives one, so fills still
        in flight on the WebSocket are not mistaken for canceled quantity."""
        tracked = self.orders.get(venue_order_id)
        if tracked is None or tracked.done:
            return None
        tracked.done = True
        # the venue's count leads ours while fills are in flight, never the order's size
        filled = tracked.filled if venue_filled is None else max(tracked.filled, venue_filled)
        filled = min(filled, tracked.request.qty_micros)
        return report(
            tracked, execution_pb2.REPORT_KIND_CANCELED,
            qty_micros=tracked.request.qty_micros - filled, reason=reason,
        )


def report(
    tracked: TrackedOrder, kind: execution_pb2.ReportKind.ValueType, **fields: object
) -> execution_pb2.ExecutionReport:
    request = tracked.request
    leaves = 0 if kind == execution_pb2.REPORT_KIND_CANCELED else tracked.leaves
    return execution_pb2.ExecutionReport(
        tenant_id=request.tenant.tenant_id,
        saga_id=request.saga_id,
        client_order_id=request.client_order_id,
        venue_order_id=tracked.venue_order_id,
        venue=request.venue,
        market_id=request.market_id,
        outcome=request.outcome,
        kind=kind,
        leaves_micros=leaves,
        **fields,  # type: ignore[arg-type]
    )


def reject(request: execution_pb2.OrderRequest, reason: str) -> execution_pb2.ExecutionReport:
    return execution_pb2.ExecutionReport(
        tenant_id=request.tenant.tenant_id,
        saga_id=request.saga_id,
        client_order_id=request.client_order_id,
        venue=request.venue,
        market_id=request.market_id,
        outcome=request.outcome,
        kind=execution_pb2.REPORT_KIND_REJECT,
        reason=reason,
    )
