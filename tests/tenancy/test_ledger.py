"""The order ledger on a real PostgreSQL: execution reports -> orders, fills, positions.

Reports arrive at least once, so every test that projects also replays; and every tenant's
ledger stays behind row-level security even against hand-written SQL on its own login role.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace

import psycopg
import pytest
from psycopg import errors

from arbiter.platform import topics
from arbiter.platform.bus import MemoryBus
from arbiter.platform.store import FillRow, LedgerError, LedgerProjector, OrderRow, Store
from arbiter.platform.store.ledger import (
    CANCELED,
    FILLED,
    OPEN,
    PARTIALLY_FILLED,
    REJECTED,
    next_order_state,
    seed_order,
)
from arbiter.platform.tenancy import tenant, tenant_headers
from arbiter.v1 import execution_pb2

from .conftest import Postgres

pytestmark = pytest.mark.postgres

NewTenant = Callable[[], Awaitable[str]]  # the `new_tenant` fixture

ACK, FILL = execution_pb2.REPORT_KIND_ACK, execution_pb2.REPORT_KIND_FILL
CANCEL, REJECT = execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT
QTY = 10_000_000  # 10 contracts



def report(tenant_id: str, kind: int, coid: str = "s1:leg1:1", **fields: object
           ) -> execution_pb2.ExecutionReport:
    return execution_pb2.ExecutionReport(  # type: ignore[arg-type]
        **{"tenant_id": tenant_id, "saga_id": "s1", "client_order_id": coid,
           "venue_order_id": "v-1", "venue": "polymarket", "market_id": "m-1", "outcome": 1, "kind": kind,
           **fields})


def lifecycle(tenant_id: str) -> list[execution_pb2.ExecutionReport]:
    """ACK, two partial fills, then the remainder canceled (an IOC that got 7 of 10)."""
    return [
        report(tenant_id, ACK, leaves_micros=QTY),
        report(tenant_id, FILL, trade_id="tr-1", price_micros=420_000, qty_micros=4_000_000,
               fee_micros=30_000, leaves_micros=6_000_000),
        report(tenant_id, FILL, trade_id="tr-2", price_micros=430_000, qty_micros=3_000_000,
               fee_micros=20_000, leaves_micros=3_000_000),
        report(tenant_id, CANCEL, qty_micros=3_000_000, reason="unfilled remainder (IOC/FOK)"),
    ]


async def ledger(store: Store, tenant_id: str) -> tuple[list[OrderRow], list[FillRow], list]:
    async with store.tenant_session(tenant_id) as repo:
        return await repo.orders(), await repo.fills(), await repo.positions()


async def test_a_lifecycle_projects_into_orders_fills_and_positions(store: Store, new_tenant: NewTenant) -> None:
    # Prepare
    tid = await new_tenant()
    projector = LedgerProjector(store)
    # Act
    for item in lifecycle(tid)[:3]:
        await projector.project(tid, item)
    async with store.tenant_session(tid) as repo:
        mid = await repo.order("s1:leg1:1")
    await projector.project(tid, lifecycle(tid)[3])
    orders, fills, positions = await ledger(store, tid)
    # Assert
    assert mid is not None and (mid.status, mid.filled_micros, mid.leaves_micros) == (
        PARTIALLY_FILLED, 7_000_000, 3_000_000)
    [order] = orders
    assert (order.status, order.qty_micros, order.filled_micros, order.leaves_micros,
            order.fees_micros, order.venue_order_id, order.reason) == (
        CANCELED, QTY, 7_000_000, 0, 50_000, "v-1", "unfilled remainder (IOC/FOK)")
    assert [(f.trade_id, f.qty_micros, f.price_micros, f.fee_micros, f.market_id, f.outcome)
            for f in fills] == [("tr-1", 4_000_000, 420_000, 30_000, "m-1", 1),
                                ("tr-2", 3_000_000, 430_000, 20_000, "m-1", 1)]
    assert [(p.venue, p.market_id, p.outcome, p.qty_micros) for p in positions] == [
        ("polymarket", "m-1", 1, 7_000_000)]


async def test_positions_net_per_venue_market_and_outcome(store: Store, new_tenant: NewTenant) -> None:
    tid = await new_tenant()
    projector = LedgerProjector(store)
    pm, ks = "polymarket", "kalshi"
    for coid, venue, outcome, qty, trade in (("a", pm, 1, 2_000_000, "t1"),
                                             ("b", pm, 1, 3_000_000, "t2"),
                                             ("c", pm, 2, 1_000_000, "t3"),
                                             ("d", ks, 1, 5_000_000, "t1")):  # same id, other venue
        await projector.project(tid, report(tid, FILL, coid, venue=venue, outcome=outcome,
                                            trade_id=trade, price_micros=500_000,
                                            qty_micros=qty, leaves_micros=0))
    _, _, positions = await ledger(store, tid)
    assert [(p.venue, p.outcome, p.qty_micros) for p in positions] == [
        (ks, 1, 5_000_000), (pm, 1, 5_000_000), (pm, 2, 1_000_000)]


async def test_redelivery_in_any_order_and_any_number_of_times_changes_nothing(
    store: Store, new_tenant: NewTenant,
) -> None:
    # Prepare: the state after one clean delivery
    tid = await new_tenant()
    projector = LedgerProjector(store)
    reports = lifecycle(tid)
    changed = [await projector.project(tid, r) for r in reports]
    once = await ledger(store, tid)
    # Act: every report again, three times over, shuffled (a rebalance replays a batch)
    replays = reports * 3
    random.Random(7).shuffle(replays)
    again = [await projector.project(tid, r) for r in replays]
    # Assert
    assert changed == [True, True, True, True]
    assert again == [False] * len(replays)
    assert await ledger(store, tid) == once


async def test_the_same_fill_delivered_concurrently_counts_once(store: Store, new_tenant: NewTenant) -> None:
    tid = await new_tenant()
    projector = LedgerProjector(store)
    fill = report(tid, FILL, trade_id="tr-9", price_micros=400_000, qty_micros=2_000_000,
                  leaves_micros=0)
    results = await asyncio.gather(*(projector.project(tid, fill) for _ in range(4)))
    orders, fills, positions = await ledger(store, tid)
    assert sorted(results) == [False, False, False, True]
    assert [f.trade_id for f in fills] == ["tr-9"]
    assert [p.qty_micros for p in positions] == [2_000_000]
    assert (orders[0].status, orders[0].filled_micros, orders[0].qty_micros) == (
        FILLED, 2_000_000, 2_000_000)


async def test_the_bus_subscription_projects_only_its_tenants_reports(store: Store, new_tenant: NewTenant) -> None:
    # Prepare
    ours, theirs = await new_tenant(), await new_tenant()
    bus = MemoryBus(partitions=2)
    projector = LedgerProjector(store)
    projector.subscribe(bus, ours)
    await bus.start()
    try:
        # Act: our lifecycle, redelivered; a report for another tenant; a report whose body
        # names another tenant than its header
        for item in lifecycle(ours) + lifecycle(ours):
            await bus.publish(topics.EXEC_REPORTS, "s1", item,
                              headers=tenant_headers(tenant(ours, "pro")))
        await bus.publish(topics.EXEC_REPORTS, "s1", lifecycle(theirs)[1],
                          headers=tenant_headers(tenant(theirs, "pro")))
        await bus.publish(topics.EXEC_REPORTS, "s1",
                          report(theirs, FILL, "x", trade_id="tr-x", qty_micros=1, leaves_micros=0),
                          headers=tenant_headers(tenant(ours, "pro")))
        await bus.drained()
    finally:
        await bus.stop()
    # Assert
    orders, fills, positions = await ledger(store, ours)
    assert [(o.client_order_id, o.status, o.filled_micros) for o in orders] == [
        ("s1:leg1:1", CANCELED, 7_000_000)]
    assert len(fills) == 2 and [p.qty_micros for p in positions] == [7_000_000]
    assert await ledger(store, theirs) == ([], [], [])
    assert (projector.projected, projector.refused) == (8, 1)


async def test_a_reject_before_any_ack_is_recorded_without_size_or_price(store: Store, new_tenant: NewTenant) -> None:
    tid = await new_tenant()
    await LedgerProjector(store).project(
        tid, report(tid, REJECT, venue_order_id="", reason="insufficient balance"))
    [order], fills, positions = await ledger(store, tid)
    assert (order.status, order.qty_micros, order.limit_price_micros, order.venue_order_id,
            order.leaves_micros, order.reason) == (
        REJECTED, None, None, None, 0, "insufficient balance")
    assert (fills, positions) == ([], [])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": 0}, "kind=0 is not ACK, FILL, CANCELED or REJECT"),
        ({"client_order_id": ""}, "has no client_order_id"),
        ({"market_id": ""}, "market_id is empty"),
        ({"trade_id": ""}, "a FILL needs a trade_id"),
        ({"qty_micros": 0}, "FILL qty_micros must be > 0, was 0"),
        ({"price_micros": 1_000_001}, "price_micros must be in [0, 1000000], was 1000001"),
        ({"fee_micros": -1}, "fee_micros must be >= 0, was -1"),
        ({"tenant_id": "someone-else"}, "names tenant 'someone-else' but was delivered for"),
    ],
)
async def test_an_unprojectable_report_is_refused_by_name_and_writes_nothing(
    store: Store, fields: dict[str, object], message: str, new_tenant: NewTenant) -> None:
    tid = await new_tenant()
    bad = report(tid, FILL, trade_id="tr-1", price_micros=420_000, qty_micros=1_000_000,
                 leaves_micros=0)
    for name, value in fields.items():
        setattr(bad, name, value)
    with pytest.raises(LedgerError, match=message.replace("[", r"\[").replace("]", r"\]")):
        await LedgerProjector(store).project(tid, bad)
    assert await ledger(store, tid) == ([], [], [])


# -- isolation: tenant A's login role, hand-written SQL, tenant B's ledger ----------------


@pytest.fixture
async def a_and_b(store: Store, new_tenant: NewTenant) -> tuple[str, str]:
    a, b = await new_tenant(), await new_tenant()
    projector = LedgerProjector(store)
    for tid in (a, b):
        for item in lifecycle(tid):
            await projector.project(tid, item)
    return a, b


async def test_tenant_a_cannot_read_or_change_b_ledger_with_raw_sql(
    postgres: Postgres, store: Store, a_and_b: tuple[str, str]
) -> None:
    # Prepare
    a, b = a_and_b
    b_before = await ledger(store, b)
    async with await psycopg.AsyncConnection.connect(postgres.tenant_dsn(a)) as conn:
        # A's own login naming B as its tenant: the database ignores the setting
        await conn.execute("SELECT set_config('arbiter.tenant_id', %s, false)", (b,))
        # Act + Assert: reads see nothing of B, writes aimed at B touch nothing
        for table in ("orders", "fills", "positions"):
            cursor = await conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", (b,))
            assert (await cursor.fetchone()) == (0,), table
            cursor = await conn.execute(f"SELECT count(*) FROM {table}")
            assert (await cursor.fetchone())[0] > 0, table  # type: ignore[index]
        for statement in (
            "UPDATE positions SET qty_micros = 0 WHERE tenant_id = %s",
            "UPDATE orders SET status = 'filled', filled_micros = 1 WHERE tenant_id = %s",
            "DELETE FROM fills WHERE tenant_id = %s",
            "DELETE FROM orders WHERE tenant_id = %s",
        ):
            cursor = await conn.execute(statement, (b,))
            assert cursor.rowcount == 0, statement
        await conn.commit()
        # Writing a row as B, or moving A's row to B, is refused by the policy
        for statement, params in (
            (("INSERT INTO fills (tenant_id, venue, trade_id, client_order_id, price_micros,"
              " qty_micros, fee_micros) VALUES (%s, 1, 'forged', 'x', 1, 1, 0)"), (b,)),
            (("INSERT INTO positions (tenant_id, venue, market_id, outcome, qty_micros)"
              " VALUES (%s, 1, 'm-1', 1, 99000000)"), (b,)),
            ("UPDATE positions SET tenant_id = %s", (b,)),
        ):
            with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
                await conn.execute(statement, params)
            await conn.rollback()
    assert await ledger(store, b) == b_before


async def test_a_tenant_role_cannot_switch_off_the_ledger_policies(
    postgres: Postgres, a_and_b: tuple[str, str]
) -> None:
    async with await psycopg.AsyncConnection.connect(postgres.tenant_dsn(a_and_b[0]),
                                                     autocommit=True) as conn:
        for statement in ("ALTER TABLE positions DISABLE ROW LEVEL SECURITY",
                          "ALTER TABLE fills NO FORCE ROW LEVEL SECURITY",
                          "DROP POLICY tenant_isolation ON orders"):
            with pytest.raises(errors.InsufficientPrivilege):
                await conn.execute(statement)


# -- the transition itself, no database -------------------------------------------------------


def _after(*reports: tuple[execution_pb2.ExecutionReport, bool]) -> OrderRow:
    order = seed_order(reports[0][0])
    for item, new in reports:
        order = next_order_state(order, item, new)
    return order


def test_an_ioc_filled_in_full_is_filled_even_with_its_zero_remainder_report() -> None:
    order = _after((report("t", ACK, leaves_micros=QTY), False),
                   (report("t", FILL, trade_id="x", qty_micros=QTY, leaves_micros=0), True),
                   (report("t", CANCEL, qty_micros=0), False))
    assert (order.status, order.filled_micros, order.leaves_micros) == (FILLED, QTY, 0)


def test_a_fill_seen_before_its_ack_infers_the_size_from_leaves() -> None:
    order = _after((report("t", FILL, trade_id="x", qty_micros=4, leaves_micros=6), True))
    assert (order.status, order.qty_micros, order.leaves_micros) == (PARTIALLY_FILLED, 10, 6)
    acked = next_order_state(order, report("t", ACK, leaves_micros=10), False)
    assert (acked.status, acked.qty_micros, acked.filled_micros) == (PARTIALLY_FILLED, 10, 4)


def test_fills_still_in_flight_after_a_cancel_complete_the_order() -> None:
    # The venue said 6 of 10 filled when it canceled; the WebSocket fills arrive afterwards
    order = _after((report("t", ACK, leaves_micros=10), False),
                   (report("t", CANCEL, qty_micros=4), False),
                   (report("t", FILL, trade_id="x", qty_micros=6, leaves_micros=4), True))
    assert (order.status, order.filled_micros, order.leaves_micros) == (CANCELED, 6, 0)


def test_a_repeated_fill_changes_no_state() -> None:
    fill = report("t", FILL, trade_id="x", qty_micros=4, leaves_micros=6, fee_micros=3)
    once = _after((report("t", ACK, leaves_micros=10), False), (fill, True))
    assert next_order_state(once, fill, False) == once
    assert replace(once, status=OPEN) != once  # the comparison above can fail
