"""The per-tenant order ledger: execution reports projected into orders, fills and positions.

Execution reports arrive at least once (a Kafka redelivery after a rebalance, a gateway
re-emitting after a reconnect), so the projection is idempotent by construction rather than by
remembering message ids: a fill counts only when its (venue, trade id) row is new, and the
order's fill state grows only from such new fills, inside the same transaction. Replaying
any report, any number of times, leaves every row as it was.

`next_order_state` is the plain transition (no I/O); `LedgerProjector` is the thin adapter that
runs it in one tenant session per report. All quantities are integer micro-units.
"""

from __future__ import annotations

import dataclasses
import logging

from arbiter.platform import topics
from arbiter.platform.bus.base import Bus, Envelope
from arbiter.platform.store.errors import StoreError
from arbiter.platform.store.pool import Store
from arbiter.platform.store.repository import FillRow, OrderRow, TenantRepository
from arbiter.platform.tenancy import current_tenant, tenant_scoped
from arbiter.v1 import execution_pb2

log = logging.getLogger(__name__)

PENDING = "pending"  # known (e.g. from the saga) but not yet acknowledged by the venue
OPEN = "open"  # acknowledged, nothing filled yet
PARTIALLY_FILLED = "partially_filled"
FILLED = "filled"
CANCELED = "canceled"  # the rest is dead: a cancel or an IOC/FOK remainder
REJECTED = "rejected"

_CLOSED = frozenset({CANCELED, REJECTED})
_KINDS = {
    execution_pb2.REPORT_KIND_ACK: "ACK",
    execution_pb2.REPORT_KIND_FILL: "FILL",
    execution_pb2.REPORT_KIND_CANCELED: "CANCELED",
    execution_pb2.REPORT_KIND_REJECT: "REJECT",
}
MAX_PRICE_MICROS = 1_000_000


class LedgerError(StoreError):
    """An execution report that cannot be projected (no retry can fix it)."""


def validate_report(report: execution_pb2.ExecutionReport) -> None:
    """Refuse a report the ledger could only record wrongly, naming the field and value."""
    where = f"execution report for order {report.client_order_id!r}"
    if report.kind not in _KINDS:
        raise LedgerError(f"{where}: kind={report.kind} is not ACK, FILL, CANCELED or REJECT")
    if not report.client_order_id:
        raise LedgerError(f"execution report ({_KINDS[report.kind]}) has no client_order_id")
    if not report.market_id:
        raise LedgerError(f"{where}: market_id is empty")
    for name in ("qty_micros", "leaves_micros", "fee_micros"):
        if getattr(report, name) < 0:
            raise LedgerError(f"{where}: {name} must be >= 0, was {getattr(report, name)}")
    if report.kind == execution_pb2.REPORT_KIND_FILL:
        if not report.trade_id:
            raise LedgerError(f"{where}: a FILL needs a trade_id to be counted once")
        if report.qty_micros <= 0:
            raise LedgerError(f"{where}: FILL qty_micros must be > 0, was {report.qty_micros}")
        if not 0 <= report.price_micros <= MAX_PRICE_MICROS:
            raise LedgerError(f"{where}: FILL price_micros must be in [0, {MAX_PRICE_MICROS}], "
                              f"was {report.price_micros}")


def seed_order(report: execution_pb2.ExecutionReport) -> OrderRow:
    """The row an order starts as when its first report arrives."""
    return OrderRow(client_order_id=report.client_order_id, saga_id=report.saga_id,
                    venue=report.venue, market_id=report.market_id, outcome=report.outcome,
                    qty_micros=None, limit_price_micros=None, status=PENDING,
                    venue_order_id=report.venue_order_id or None)


def next_order_state(
    order: OrderRow, report: execution_pb2.ExecutionReport, new_fill: bool
) -> OrderRow:
    """The order after `report`; `new_fill` says whether a FILL's trade id was new.

    Every input is either a monotone fact (acknowledged, closed, rejected, a venue order id)
    or a fill counted once, so applying a report twice changes nothing the second time.
    The order size comes from the ACK (its leaves is the whole order); until one is seen it
    is inferred from what a FILL or CANCELED says is left."""
    kind = report.kind
    filled, fees = order.filled_micros, order.fees_micros
    if kind == execution_pb2.REPORT_KIND_FILL and new_fill:
        filled += report.qty_micros
        fees += report.fee_micros
    qty = order.qty_micros
    if kind == execution_pb2.REPORT_KIND_ACK:
        qty = report.leaves_micros or qty
    elif qty is None and kind == execution_pb2.REPORT_KIND_FILL:
        qty = filled + report.leaves_micros
    elif qty is None and kind == execution_pb2.REPORT_KIND_CANCELED:
        qty = filled + report.qty_micros  # the dead remainder
    rejected = order.status == REJECTED or kind == execution_pb2.REPORT_KIND_REJECT
    closed = order.status in _CLOSED or kind in (
        execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT)
    if rejected:
        status = REJECTED
    elif qty is not None and filled >= qty:
        status = FILLED
    elif closed:
        status = CANCELED
    elif filled > 0:
        status = PARTIALLY_FILLED
    else:  # any report but a REJECT means the venue holds the order
        status = OPEN
    leaves = 0 if closed or qty is None else max(qty - filled, 0)
    return dataclasses.replace(
        order, qty_micros=qty, status=status, filled_micros=filled, fees_micros=fees,
        leaves_micros=leaves, venue_order_id=order.venue_order_id or report.venue_order_id or None,
        reason=report.reason or order.reason)


async def apply_report(repo: TenantRepository, report: execution_pb2.ExecutionReport) -> bool:
    """Project one report inside an open tenant session; True if it changed the ledger."""
    validate_report(report)
    order = await repo.lock_order(seed_order(report))
    new_fill = False
    if report.kind == execution_pb2.REPORT_KIND_FILL:
        new_fill = await repo.insert_fill(FillRow(
            venue=report.venue, trade_id=report.trade_id, client_order_id=report.client_order_id,
            price_micros=report.price_micros, qty_micros=report.qty_micros,
            fee_micros=report.fee_micros, market_id=report.market_id, outcome=report.outcome))
        if new_fill:  # every fill is a buy of `outcome` (an unwind buys the other outcome)
            await repo.add_position(report.venue, report.market_id, report.outcome,
                                    report.qty_micros)
    updated = next_order_state(order, report, new_fill)
    if updated == order:
        return new_fill
    await repo.update_order_state(updated)
    return True


class LedgerProjector:
    """Consumes `exec.reports` and keeps each tenant's orders, fills and positions.

    Subscribe `on_report` through `tenancy.tenant_scoped`: the tenant comes from the message's
    tenant header (checked by the bus wrapper), and a report whose own `tenant_id` names a
    different tenant is refused rather than written under the header's tenant."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.projected = 0  # reports applied (changed or not)
        self.refused = 0  # reports skipped as unprojectable

    def subscribe(self, bus: Bus, tenant_id: str) -> None:
        """Follow `tenant_id`'s execution reports in a consumer group of the ledger's own, so
        projection lag or failures never hold back the saga reading the same topic."""
        group = f"ledger-{tenant_id}"
        bus.subscribe(topics.EXEC_REPORTS, group, execution_pb2.ExecutionReport,
                      tenant_scoped(topics.EXEC_REPORTS, group, self.on_report, serves=tenant_id))

    async def project(self, tenant_id: str, report: execution_pb2.ExecutionReport) -> bool:
        """Apply `report` to `tenant_id`'s ledger in one transaction; True if anything changed.

        Database errors propagate so the bus redelivers; the retry is safe."""
        if report.tenant_id and report.tenant_id != tenant_id:
            raise LedgerError(f"execution report for order {report.client_order_id!r} names "
                              f"tenant {report.tenant_id!r} but was delivered for {tenant_id!r}")
        async with self._store.tenant_session(tenant_id) as repo:
            changed = await apply_report(repo, report)
        self.projected += 1
        return changed

    async def on_report(self, envelope: Envelope[execution_pb2.ExecutionReport]) -> None:
        """Bus handler: a report that can never be projected is logged and skipped, not retried."""
        tenant_id = current_tenant().tenant_id  # set by tenant_scoped from the message header
        try:
            await self.project(tenant_id, envelope.value)
        except LedgerError as exc:
            self.refused += 1
            log.error("ledger: skipping %s: %s", envelope.message_id, exc)
