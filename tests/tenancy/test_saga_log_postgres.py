"""The saga log on PostgreSQL: what the distributed saga service recovers from."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import pytest

from arbiter.platform.config import ArbiterConfig, load_config
from arbiter.platform.store import Store, TenantMismatch
from arbiter.saga.log import LogEntry, PostgresSagaLog
from arbiter.topology.distributed import _saga_log
from arbiter.topology.embedded import EmbeddedMesh

from .conftest import Postgres

pytestmark = pytest.mark.postgres

NewTenant = Callable[[], Awaitable[str]]  # the `new_tenant` fixture



async def test_entries_replay_in_order_and_only_for_their_tenant(store: Store, new_tenant: NewTenant) -> None:
    alice, bob = await new_tenant(), await new_tenant()
    log_a, log_b = PostgresSagaLog(store, alice), PostgresSagaLog(store, bob)
    entries = [LogEntry("s1", "created", {"pair_id": "p", "opportunity": "00"}),
               LogEntry("s1", "approved", {"qty": 5}),
               LogEntry("s2", "created", {"pair_id": "q", "opportunity": "01"}),
               LogEntry("s1", "sent", {"coid": "s1:leg1:1", "created": 7})]
    for entry in entries:
        await log_a.append(entry)
    replayed = [e async for e in PostgresSagaLog(store, alice).replay()]
    per_saga = {sid: [e for e in replayed if e.saga_id == sid] for sid in ("s1", "s2")}
    assert per_saga["s1"] == [entries[0], entries[1], entries[3]]
    assert per_saga["s2"] == [entries[2]]
    assert [e async for e in log_b.replay()] == []


async def test_a_restarted_saga_service_rebuilds_every_saga_from_postgres(store: Store, new_tenant: NewTenant) -> None:
    tenant = await new_tenant()
    config = load_config(environ={}, overrides={"tenant.id": tenant})
    first = await EmbeddedMesh.build(config, journal=PostgresSagaLog(store, tenant))
    await first.start()
    for _ in range(80):
        await first.step()
    await first.stop()
    assert first.saga.stats().completed > 0

    again = await EmbeddedMesh.build(config, venues=first.venues, journal=PostgresSagaLog(store, tenant))
    await again.start()  # recovers from the log before anything else
    await again.stop()
    assert again.saga.stats() == first.saga.stats()
    assert again.saga.positions == first.saga.positions


async def test_the_saga_process_starts_only_on_its_own_tenants_role(postgres: Postgres) -> None:
    def config(dsn: str) -> ArbiterConfig:
        return load_config(environ={}, overrides={"tenant.id": "tenant-a", "store.dsn": dsn})

    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(TenantMismatch, match="maps to tenant 'tenant-b'"):
            await _saga_log(config(postgres.tenant_dsn("tenant-b")), stack)
    async with contextlib.AsyncExitStack() as stack:
        journal, store = await _saga_log(config(postgres.dsn("{role}")), stack)
        assert isinstance(journal, PostgresSagaLog) and store is not None
        async with store.tenant_session("tenant-a") as repo:
            assert (await (await repo.conn.execute("SELECT current_user")).fetchone()) == (
                "arbiter_t_tenant-a",)
