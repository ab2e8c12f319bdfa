"""Typed reads and writes of one tenant's execution rows.

A `TenantRepository` lives inside `Store.tenant_session`, so its queries never name a
tenant: `tenant_id` defaults to the session's tenant and the row-level-security policy
checks every row read or written. The calls that must be idempotent under redelivery
(saga events, fills) say whether they changed anything.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class SagaRow:
    saga_id: str
    state: str
    pair_id: str
    version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SagaEventRow:
    saga_id: str
    version: int
    state: str
    payload: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order and, once execution reports are projected (`ledger.LedgerProjector`), its
    fill state. Size and limit price are None when only reports that lack them were seen."""

    client_order_id: str
    saga_id: str
    venue: str
    market_id: str
    outcome: int
    qty_micros: int | None
    limit_price_micros: int | None
    status: str
    venue_order_id: str | None = None
    filled_micros: int = 0
    leaves_micros: int = 0
    fees_micros: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class FillRow:
    venue: str
    trade_id: str
    client_order_id: str
    price_micros: int
    qty_micros: int
    fee_micros: int
    market_id: str | None = None
    outcome: int | None = None


@dataclass(frozen=True, slots=True)
class PositionRow:
    venue: str
    market_id: str
    outcome: int
    qty_micros: int


_ORDER_COLUMNS = (
    "client_order_id, saga_id, venue, market_id, outcome, qty_micros, limit_price_micros,"
    " status, venue_order_id, filled_micros, leaves_micros, fees_micros, reason")


class TenantRepository:
    """Queries on one open tenant transaction (see `Store.tenant_session`)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def append_saga_event(
        self, saga_id: str, version: int, state: str, pair_id: str, payload: bytes
    ) -> bool:
        """Record a saga transition; False if this version was already recorded.

        The saga's summary row moves forward only, so a redelivered old event cannot
        roll its state back."""
        cursor = await self.conn.execute(
            "INSERT INTO saga_events (saga_id, version, state, payload) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (saga_id, version, state, payload))
        if cursor.rowcount == 0:
            return False
        await self.conn.execute(
            "INSERT INTO sagas (saga_id, state, pair_id, version) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, saga_id) DO UPDATE"
            " SET state = EXCLUDED.state, version = EXCLUDED.version, updated_at = now()"
            " WHERE sagas.version < EXCLUDED.version",
            (saga_id, state, pair_id, version))
        return True

    async def saga_events(self, saga_id: str) -> list[SagaEventRow]:
        """Every recorded transition of one saga, oldest first (for replay on restart)."""
        async with self.conn.cursor(row_factory=class_row(SagaEventRow)) as cursor:
            await cursor.execute(
                "SELECT saga_id, version, state, payload, created_at FROM saga_events"
                " WHERE saga_id = %s ORDER BY version", (saga_id,))
            return await cursor.fetchall()

    async def all_saga_events(self) -> list[SagaEventRow]:
        """The whole log of this tenant's sagas, each saga's events in order (for replay)."""
        async with self.conn.cursor(row_factory=class_row(SagaEventRow)) as cursor:
            await cursor.execute(
                "SELECT saga_id, version, state, payload, created_at FROM saga_events"
                " ORDER BY created_at, saga_id, version")
            return await cursor.fetchall()

    async def in_flight_sagas(self, terminal_states: Collection[str]) -> list[SagaRow]:
        """Sagas not in a terminal state: the ones to reconcile after a restart."""
        async with self.conn.cursor(row_factory=class_row(SagaRow)) as cursor:
            await cursor.execute(
                "SELECT saga_id, state, pair_id, version, updated_at FROM sagas"
                " WHERE state <> ALL(%s) ORDER BY updated_at, saga_id", (list(terminal_states),))
            return await cursor.fetchall()

    async def upsert_order(self, order: OrderRow) -> None:
        """Record an order by its client order id; later calls update status and venue id."""
        await self.conn.execute(
            "INSERT INTO orders (client_order_id, saga_id, venue, market_id, outcome, qty_micros,"
            " limit_price_micros, venue_order_id, status)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, client_order_id) DO UPDATE SET status = EXCLUDED.status,"
            " venue_order_id = coalesce(EXCLUDED.venue_order_id, orders.venue_order_id)",
            (order.client_order_id, order.saga_id, order.venue, order.market_id, order.outcome,
             order.qty_micros, order.limit_price_micros, order.venue_order_id, order.status))

    async def order(self, client_order_id: str) -> OrderRow | None:
        async with self.conn.cursor(row_factory=class_row(OrderRow)) as cursor:
            await cursor.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = %s",
                                 (client_order_id,))
            return await cursor.fetchone()

    async def orders(self) -> list[OrderRow]:
        async with self.conn.cursor(row_factory=class_row(OrderRow)) as cursor:
            await cursor.execute(f"SELECT {_ORDER_COLUMNS} FROM orders ORDER BY client_order_id")
            return await cursor.fetchall()

    async def lock_order(self, seed: OrderRow) -> OrderRow:
        """The order's row, created from `seed` if new, locked until the session ends.

        The lock serializes projectors working on the same order, so a read-modify-write of
        its fill state never loses an update."""
        await self.conn.execute(
            "INSERT INTO orders (client_order_id, saga_id, venue, market_id, outcome, qty_micros,"
            " limit_price_micros, venue_order_id, status)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (seed.client_order_id, seed.saga_id, seed.venue, seed.market_id, seed.outcome,
             seed.qty_micros, seed.limit_price_micros, seed.venue_order_id, seed.status))
        async with self.conn.cursor(row_factory=class_row(OrderRow)) as cursor:
            await cursor.execute(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = %s FOR UPDATE",
                (seed.client_order_id,))
            row = await cursor.fetchone()
        assert row is not None  # inserted above or already there, and visible to this tenant
        return row

    async def update_order_state(self, order: OrderRow) -> None:
        """Write an order's size, venue id and fill state (after `lock_order`)."""
        await self.conn.execute(
            "UPDATE orders SET qty_micros = %s, venue_order_id = %s, status = %s,"
            " filled_micros = %s, leaves_micros = %s, fees_micros = %s, reason = %s,"
            " updated_at = now() WHERE client_order_id = %s",
            (order.qty_micros, order.venue_order_id, order.status, order.filled_micros,
             order.leaves_micros, order.fees_micros, order.reason, order.client_order_id))

    async def insert_fill(self, fill: FillRow) -> bool:
        """Record a fill once per (venue, trade id); False for a repeat.

        Apply the fill's position change only when this returns True, in the same session,
        so a redelivered execution report is counted once."""
        cursor = await self.conn.execute(
            "INSERT INTO fills (venue, trade_id, client_order_id, price_micros, qty_micros,"
            " fee_micros, market_id, outcome) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (fill.venue, fill.trade_id, fill.client_order_id, fill.price_micros,
             fill.qty_micros, fill.fee_micros, fill.market_id, fill.outcome))
        return cursor.rowcount == 1

    async def fills(self) -> list[FillRow]:
        async with self.conn.cursor(row_factory=class_row(FillRow)) as cursor:
            await cursor.execute(
                "SELECT venue, trade_id, client_order_id, price_micros, qty_micros, fee_micros,"
                " market_id, outcome FROM fills ORDER BY created_at, venue, trade_id")
            return await cursor.fetchall()

    async def add_position(self, venue: str, market_id: str, outcome: int, delta_micros: int) -> int:
        """Change a position by `delta_micros` (negative to reduce); returns the new size."""
        cursor = await self.conn.execute(
            "INSERT INTO positions (venue, market_id, outcome, qty_micros) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, venue, market_id, outcome)"
            " DO UPDATE SET qty_micros = positions.qty_micros + EXCLUDED.qty_micros"
            " RETURNING qty_micros", (venue, market_id, outcome, delta_micros))
        row = await cursor.fetchone()
        assert row is not None  # INSERT ... RETURNING always returns the row
        return int(row[0])

    async def positions(self) -> list[PositionRow]:
        async with self.conn.cursor(row_factory=class_row(PositionRow)) as cursor:
            await cursor.execute(
                "SELECT venue, market_id, outcome, qty_micros FROM positions"
                " WHERE qty_micros <> 0 ORDER BY venue, market_id, outcome")
            return await cursor.fetchall()
