"""Database roles, created by an admin (superuser or CREATEROLE): the fixed ones from roles.sql
and one login role per tenant.

A tenant's role is what binds its sessions to its rows: migration 0006 maps it to the tenant
in `tenant_roles`, and `current_tenant()` reads that mapping for `session_user`, which no
client setting can change. Passwords are hashed here (SCRAM-SHA-256, as libpq does for
`\\password`), so the clear text never reaches the server or its statement log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from importlib import resources

import psycopg
from psycopg import sql

from arbiter.platform.store.errors import StoreError
from arbiter.platform.tenancy import validate_tenant_id

# Roles with a password; arbiter_app is the tenant roles' NOLOGIN group.
ROLES = ("arbiter_owner", "arbiter_vault")
GROUP = "arbiter_app"
_PREFIX = "arbiter_t_"
_MAX_NAME = 63  # PostgreSQL truncates longer identifiers (NAMEDATALEN - 1)


def tenant_role(tenant_id: str) -> str:
    """The login role of a tenant: `arbiter_t_<tenant>`, or for an id too long for that, its
    first 40 characters and 12 hex digits of its SHA-256 (charts/arbiter derives the same)."""
    validate_tenant_id(tenant_id)
    name = _PREFIX + tenant_id
    if len(name) <= _MAX_NAME:
        return name
    return f"{_PREFIX}{tenant_id[:40]}_{hashlib.sha256(tenant_id.encode()).hexdigest()[:12]}"


async def _set_password(conn: psycopg.AsyncConnection, role: str, password: str) -> None:
    # DDL takes no bind parameters; the verifier goes in as a literal.
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(),
                                            b"scram-sha-256").decode()
    await conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier)))


async def provision_roles(
    admin_conninfo: str, passwords: Mapping[str, str] | None = None
) -> None:
    """Create the owner, app and vault roles (see roles.sql), and set the passwords given for
    the owner and vault, so a cluster can take them from Secrets."""
    for role, password in (passwords or {}).items():
        if role not in ROLES:
            raise StoreError(f"cannot set a password for role {role!r}: only {ROLES} log in")
        if not password:
            raise StoreError(f"the password for role {role!r} is empty")
    text = resources.files("arbiter.platform.store").joinpath("roles.sql").read_text()
    async with await psycopg.AsyncConnection.connect(admin_conninfo, autocommit=True) as conn:
        await conn.execute(text)  # type: ignore[arg-type]  # file text, no params
        for role, password in (passwords or {}).items():
            await _set_password(conn, role, password)


async def add_tenant(admin_conninfo: str, tenant_id: str, password: str) -> str:
    """Create (or refresh) the tenant's login role with `password`, a member of arbiter_app
    that inherits its grants but may not SET ROLE to it, mapped to the tenant; returns the
    role's name. Idempotent; refuses a role of that name that is not this tenant's."""
    role = tenant_role(tenant_id)
    if not password:
        raise StoreError(f"the password for tenant {tenant_id!r}'s role is empty")
    async with await psycopg.AsyncConnection.connect(admin_conninfo, autocommit=True) as conn, \
            conn.transaction():
        cursor = await conn.execute(
            "SELECT role_name, tenant_id FROM tenant_roles WHERE role_name = %s OR tenant_id = %s",
            (role, tenant_id))
        mappings = await cursor.fetchall()
        for mapped_role, mapped_tenant in mappings:
            if (mapped_role, mapped_tenant) != (role, tenant_id):
                raise StoreError(
                    f"cannot map tenant {tenant_id!r} to role {role!r}: role {mapped_role!r} "
                    f"is mapped to tenant {mapped_tenant!r}; remove that tenant first")
        mapped = bool(mappings)
        exists = await (await conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))).fetchone() is not None
        if exists and not mapped:
            raise StoreError(f"role {role!r} exists but is no tenant's; drop it or rename it "
                             f"before adding tenant {tenant_id!r} (its grants are unknown)")
        if not exists:
            await conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        await conn.execute(sql.SQL(
            "ALTER ROLE {} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
            " NOREPLICATION").format(sql.Identifier(role)))
        # PostgreSQL 16+: the grants without the right to become the group (SET ROLE).
        await conn.execute(sql.SQL("GRANT {} TO {} WITH INHERIT TRUE, SET FALSE").format(
            sql.Identifier(GROUP), sql.Identifier(role)))
        await _set_password(conn, role, password)
        await conn.execute(
            "INSERT INTO tenant_roles (role_name, tenant_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING", (role, tenant_id))
    return role


async def remove_tenant(admin_conninfo: str, tenant_id: str) -> bool:
    """Unmap the tenant, end its sessions and drop its role; False if it had none. Its rows
    stay, visible to no one until the tenant is added again."""
    validate_tenant_id(tenant_id)
    async with await psycopg.AsyncConnection.connect(admin_conninfo, autocommit=True) as conn, \
            conn.transaction():
        cursor = await conn.execute(
            "DELETE FROM tenant_roles WHERE tenant_id = %s RETURNING role_name", (tenant_id,))
        row = await cursor.fetchone()
        if row is None:
            return False
        role = str(row[0])
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE usename = %s AND pid <> pg_backend_pid()", (role,))
        await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    return True
