"""Connections for the services: one pool per tenant, each logged in as that tenant's role.

The database decides which tenant a session sees: `current_tenant()` maps the login role
(`session_user`) to its tenant, and the row-level-security policies compare each row with it.
A `tenant_session` sets nothing; it only picks the pool of the tenant asked for, and a pool is
used only after the database has confirmed that its role maps to that tenant. `open` also
refuses a role that could bypass the policies, so a misconfigured DSN (a superuser, the owner,
another tenant's role) stops the service at start instead of silently dropping isolation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from arbiter.platform.store.errors import StoreError, TenantMismatch, UnsafeRole
from arbiter.platform.store.init import describe
from arbiter.platform.store.provision import tenant_role
from arbiter.platform.store.repository import TenantRepository
from arbiter.platform.tenancy import validate_tenant_id

# MEMBER, not USAGE: a NOINHERIT role that may SET ROLE to the owner is as good as the owner.
ROLE_CHECK = """
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
         WHERE c.relrowsecurity AND pg_has_role(current_user, c.relowner, 'MEMBER')) AS owns
  FROM pg_roles r WHERE r.rolname = current_user
"""
TENANT_CHECK = "SELECT current_tenant()"


def refuse_unsafe_role(row: tuple[Any, ...] | None, connect_as: str) -> None:
    """Raise `UnsafeRole` if the role a `ROLE_CHECK` row describes is a superuser, has
    BYPASSRLS or owns (or may SET ROLE to the owner of) a row-secured table: the three ways
    RLS would silently stop applying.
    `connect_as` completes the hint, e.g. "the vault as arbiter_vault"."""
    if row is None:
        raise StoreError("the connected database role is not in pg_roles")
    name, superuser, bypass, owns = row
    problems = [text for bad, text in (
        (superuser, "is a superuser"),
        (bypass, "has BYPASSRLS"),
        (owns, f"owns the row-level-secured tables {owns}"),
    ) if bad]
    if problems:
        raise UnsafeRole(
            f"database role {name!r} {' and '.join(problems)}, so row-level security would "
            f"not isolate tenants; connect {connect_as} (see docs/multi-tenancy.md)")


def tenant_dsn(template: str, tenant_id: str) -> str:
    """`template` with `{tenant}` and `{role}` (the tenant's login role) filled in; a DSN with
    neither serves the one tenant its role maps to."""
    return template.replace("{tenant}", tenant_id).replace("{role}", tenant_role(tenant_id))


class Store:
    """Per-tenant connection pools on the tenants' own roles; hands out tenant transactions.

    A pool opens on a tenant's first session (or at `open` for the tenants named there)."""

    def __init__(self, dsn_template: str, min_size: int = 1, max_size: int = 8) -> None:
        self._template = dsn_template
        self._sizes = (min_size, max_size)
        self._pools: dict[str, AsyncConnectionPool] = {}
        self._opening = asyncio.Lock()

    @classmethod
    async def open(cls, dsn_template: str, tenants: Iterable[str] = (), min_size: int = 1,
                   max_size: int = 8) -> Store:
        """A store whose pools for `tenants` are open and verified (see `tenant_dsn`)."""
        store = cls(dsn_template, min_size, max_size)
        try:
            for tenant_id in tenants:
                await store._pool(tenant_id)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    async def _pool(self, tenant_id: str) -> AsyncConnectionPool:
        validate_tenant_id(tenant_id)
        if (pool := self._pools.get(tenant_id)) is not None:
            return pool
        async with self._opening:
            if (pool := self._pools.get(tenant_id)) is None:
                pool = self._pools[tenant_id] = await _verified_pool(
                    tenant_dsn(self._template, tenant_id), tenant_id, *self._sizes)
            return pool

    @asynccontextmanager
    async def tenant_session(self, tenant_id: str) -> AsyncIterator[TenantRepository]:
        """One transaction that sees and writes only `tenant_id`'s rows; commits on exit."""
        pool = await self._pool(tenant_id)
        async with pool.connection() as conn, conn.transaction():
            yield TenantRepository(conn)


async def _verified_pool(conninfo: str, tenant_id: str, min_size: int,
                         max_size: int) -> AsyncConnectionPool:
    """An open pool on a role that cannot bypass RLS and that the database maps to
    `tenant_id`. Checked on one plain connection first: a pool would retry a refused login
    until its timeout and report only that."""
    try:
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            row = await (await conn.execute(ROLE_CHECK)).fetchone()
            refuse_unsafe_role(row, f"tenant {tenant_id!r} as its role {tenant_role(tenant_id)}")
            mapped = await (await conn.execute(TENANT_CHECK)).fetchone()
    except psycopg.Error as exc:
        raise StoreError(f"cannot use the store for tenant {tenant_id!r} at "
                         f"{describe(conninfo)}: {exc}") from exc
    assert row is not None and mapped is not None  # refuse_unsafe_role raised otherwise
    if mapped[0] != tenant_id:
        raise TenantMismatch(
            f"the store DSN for tenant {tenant_id!r} logs in as {row[0]!r}, which the database "
            + (f"maps to tenant {mapped[0]!r}" if mapped[0] else "maps to no tenant")
            + f"; connect as {tenant_role(tenant_id)} (python -m arbiter.platform.store tenant "
              "add, see docs/multi-tenancy.md)")
    pool = AsyncConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False)
    try:
        await pool.open(wait=True, timeout=10)
    except psycopg.Error as exc:
        await pool.close()
        raise StoreError(f"cannot open the store pool for tenant {tenant_id!r} at "
                         f"{describe(conninfo)}: {exc}") from exc
    except BaseException:
        await pool.close()
        raise
    return pool
