"""Connections for the services: a pool on the app role and per-tenant transactions.

Every query on tenant data runs inside `tenant_session`, one transaction whose local
setting `arbiter.tenant_id` the row-level-security policies compare each row with; the
setting ends with the transaction, so a pooled connection never carries a tenant into the
next borrower. `open` refuses a role that could bypass those policies, so a misconfigured
DSN (a superuser, the owner) stops the service at start instead of silently dropping
isolation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from arbiter.platform.store.errors import StoreError, UnsafeRole
from arbiter.platform.store.repository import TenantRepository
from arbiter.platform.tenancy import validate_tenant_id

ROLE_CHECK = """
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
         WHERE c.relrowsecurity AND pg_has_role(current_user, c.relowner, 'USAGE')) AS owns
  FROM pg_roles r WHERE r.rolname = current_user
"""
# Transaction-local (the `true`): the tenant ends with the transaction, not with the connection.
SET_TENANT = "SELECT set_config('arbiter.tenant_id', %s, true)"


def refuse_unsafe_role(row: tuple[Any, ...] | None, connect_as: str) -> None:
    """Raise `UnsafeRole` if the role a `ROLE_CHECK` row describes is a superuser, has
    BYPASSRLS or owns a row-secured table: the three ways RLS would silently stop applying.
    `connect_as` completes the hint, e.g. "the services as arbiter_app"."""
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


class Store:
    """The app role's connection pool; hands out tenant-scoped transactions."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, conninfo: str, min_size: int = 1, max_size: int = 8) -> Store:
        """Connect, and refuse a role that is superuser, BYPASSRLS or owns a tenant table."""
        pool = AsyncConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False)
        try:
            await pool.open(wait=True, timeout=10)
            async with pool.connection() as conn:
                row = await (await conn.execute(ROLE_CHECK)).fetchone()
            refuse_unsafe_role(row, "the services as arbiter_app")
        except psycopg.Error as exc:
            await pool.close()
            raise StoreError(f"cannot use the store at the configured DSN: {exc}") from exc
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def tenant_session(self, tenant_id: str) -> AsyncIterator[TenantRepository]:
        """One transaction that sees and writes only `tenant_id`'s rows; commits on exit."""
        validate_tenant_id(tenant_id)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(SET_TENANT, (tenant_id,))
            yield TenantRepository(conn)


ROLES = ("arbiter_owner", "arbiter_app", "arbiter_vault")


async def provision_roles(
    admin_conninfo: str, passwords: Mapping[str, str] | None = None
) -> None:
    """Create the owner, app and vault roles (superuser or CREATEROLE only; see roles.sql),
    and set the passwords given for them, so a cluster can take them from Secrets."""
    for role, password in (passwords or {}).items():
        if role not in ROLES:
            raise StoreError(f"cannot set a password for role {role!r}: only {ROLES} are managed")
        if not password:
            raise StoreError(f"the password for role {role!r} is empty")
    text = resources.files("arbiter.platform.store").joinpath("roles.sql").read_text()
    async with await psycopg.AsyncConnection.connect(admin_conninfo, autocommit=True) as conn:
        await conn.execute(text)  # type: ignore[arg-type]  # file text, no params
        for role, password in (passwords or {}).items():
            # Hashed here (SCRAM-SHA-256, as libpq does for \password), so the clear text never
            # reaches the server or its statement log; DDL takes no bind parameters.
            verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(),
                                                    b"scram-sha-256").decode()
            await conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(verifier)))
