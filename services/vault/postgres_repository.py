"""PostgreSQL credential repository for the distributed topology (docs/vault.md).

It connects as `arbiter_vault`, the only role granted the ciphertext table, and never as a
role that could bypass row-level security. Each call is one transaction of one of two kinds:

- a tenant session (`arbiter.tenant_id` set: tenant planes cannot choose theirs, the database
  binds them to their login role, but the shared vault may) for everything about one tenant:
  put, get, the compare-and-swap of one re-sealed row, that tenant's audit. A query that
  forgot its tenant filter would still see that tenant's rows only;
- an all-tenants session (`arbiter.all_tenants = 'on'`) for what rotation and status must see
  across tenants. The policies honour it for this role only, for reading and for appending
  platform-wide audit events (tenant `*`, stored as NULL); every write to a credential row
  happens in a tenant session.

Methods are synchronous like the protocol: the gRPC service and rotation already call the vault
from worker threads, so a thread-safe pool of blocking connections fits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from arbiter.platform.store import StoreError
from arbiter.platform.store.init import describe
from arbiter.platform.store.pool import ROLE_CHECK, refuse_unsafe_role
from arbiter.vault.errors import StoreUnavailable
from arbiter.vault.ids import validate_tenant_id
from arbiter.vault.repository import AuditEvent, CredentialMetadata, StoredCredential
from arbiter.vault.vault import ANY

# Transaction-local (the `true`): a pooled connection never carries a scope into the next
# borrower. The database honours arbiter.tenant_id for the vault role only (migration 0006):
# the vault is shared by every tenant, so the setting scopes its queries, it is no boundary.
SET_TENANT = "SELECT set_config('arbiter.tenant_id', %s, true)"
SET_ALL_TENANTS = "SELECT set_config('arbiter.all_tenants', 'on', true)"

_META_COLUMNS = (
    "m.tenant_id, m.credential_id, m.kind, m.public_id, m.key_version, m.revision, "
    "m.created_at, m.rotated_at"
)
_WITH_CIPHERTEXT = (
    f"SELECT {_META_COLUMNS}, c.ciphertext FROM credentials_meta m "
    "JOIN credential_ciphertext c USING (tenant_id, credential_id)"
)
_VAULT_TABLES = ["credentials_meta", "credential_ciphertext", "audit"]


def _to_db(at: str) -> datetime:
    value = datetime.fromisoformat(at)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {at!r} has no UTC offset; the vault stores timestamptz")
    return value


def _from_db(at: datetime) -> str:
    # Like the vault's clock (milliseconds, UTC), without losing a finer value given to put.
    spec = "milliseconds" if at.microsecond % 1000 == 0 else "microseconds"
    return at.astimezone(UTC).isoformat(timespec=spec)


def _metadata(row: tuple[Any, ...]) -> CredentialMetadata:
    tenant, cred, kind, public_id, version, revision, created, rotated = row
    return CredentialMetadata(tenant, cred, kind, public_id, version, revision,
                              _from_db(created), _from_db(rotated))


def _stored(row: tuple[Any, ...]) -> StoredCredential:
    return StoredCredential(_metadata(row[:8]), bytes(row[8]))


def _require_credential_tables(conn: psycopg.Connection, role: str) -> None:
    """Fail at start, naming the fix, when the schema is old or the DSN is another role's."""
    if conn.execute("SELECT to_regclass('credential_ciphertext')").fetchone() == (None,):
        raise StoreError(
            "the credential tables are missing or older than migration 0003_vault_credentials; "
            "apply the migrations as arbiter_owner (python -m arbiter.platform.store init, or "
            "store.migrate_dsn)")
    # One privilege per call: has_table_privilege('t', 'SELECT, INSERT') means either.
    lacking = [table for (table,) in conn.execute(
        "SELECT t FROM unnest(%s::text[]) AS t WHERE NOT"
        " (has_table_privilege(t, 'SELECT') AND has_table_privilege(t, 'INSERT'))",
        (_VAULT_TABLES,)).fetchall()]
    if lacking:
        raise StoreError(
            f"database role {role!r} lacks the vault's privileges on {', '.join(lacking)}; "
            "connect the vault as arbiter_vault (see docs/vault.md)")


class PostgresCredentialRepository:
    """`CredentialRepository` on PostgreSQL, isolated per tenant by row-level security."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    @classmethod
    def open(cls, conninfo: str, min_size: int = 1, max_size: int = 8,
             timeout_s: float = 10.0) -> PostgresCredentialRepository:
        """Connect within `timeout_s`, and refuse a role that could bypass RLS or is not the
        vault's."""
        pool = ConnectionPool(conninfo, min_size=min_size, max_size=max_size, open=False)
        try:
            pool.open(wait=True, timeout=timeout_s)
            with pool.connection(timeout=timeout_s) as conn:
                row = conn.execute(ROLE_CHECK).fetchone()
                refuse_unsafe_role(row, "the vault as arbiter_vault")
                assert row is not None  # refuse_unsafe_role raised otherwise
                _require_credential_tables(conn, row[0])
        except psycopg.Error as exc:
            pool.close()
            raise StoreError(
                f"cannot use the credential store at {describe(conninfo)}: {exc}") from exc
        except BaseException:
            pool.close()
            raise
        return cls(pool)

    @contextmanager
    def _session(self, tenant_id: str | None) -> Iterator[psycopg.Connection]:
        """One transaction that sees `tenant_id`'s rows, or with None every tenant's (for
        reading only, see the module docstring); commits on exit. A lost server becomes
        `StoreUnavailable` (gRPC UNAVAILABLE, worth a retry); the pool drops the broken
        connection, so the next call reconnects."""
        if tenant_id is not None:
            validate_tenant_id(tenant_id)
        try:
            with self._pool.connection() as conn, conn.transaction():
                if tenant_id is None:
                    conn.execute(SET_ALL_TENANTS)
                else:
                    conn.execute(SET_TENANT, (tenant_id,))
                yield conn
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"the credential store is unavailable: {exc}") from exc

    def get(self, tenant_id: str, credential_id: str) -> StoredCredential | None:
        with self._session(tenant_id) as conn:
            row = conn.execute(
                f"{_WITH_CIPHERTEXT} WHERE m.tenant_id = %s AND m.credential_id = %s",
                (tenant_id, credential_id)).fetchone()
        return None if row is None else _stored(row)

    def put(self, metadata: CredentialMetadata, ciphertext: bytes) -> CredentialMetadata:
        with self._session(metadata.tenant_id) as conn:
            row = conn.execute(
                "INSERT INTO credentials_meta AS m (tenant_id, credential_id, kind, public_id,"
                " key_version, revision, created_at, rotated_at)"
                " VALUES (%s, %s, %s, %s, %s, 1, %s, %s)"
                " ON CONFLICT (tenant_id, credential_id) DO UPDATE SET kind = excluded.kind,"
                " public_id = excluded.public_id, key_version = excluded.key_version,"
                " revision = m.revision + 1, rotated_at = excluded.rotated_at"
                " RETURNING revision, created_at, rotated_at",
                (metadata.tenant_id, metadata.credential_id, metadata.kind,
                 metadata.public_id, metadata.key_version, _to_db(metadata.created_at),
                 _to_db(metadata.rotated_at))).fetchone()
            assert row is not None  # INSERT ... RETURNING always returns the row
            conn.execute(
                "INSERT INTO credential_ciphertext (tenant_id, credential_id, ciphertext)"
                " VALUES (%s, %s, %s) ON CONFLICT (tenant_id, credential_id)"
                " DO UPDATE SET ciphertext = excluded.ciphertext",
                (metadata.tenant_id, metadata.credential_id, ciphertext))
        revision, created, rotated = row
        return CredentialMetadata(metadata.tenant_id, metadata.credential_id, metadata.kind,
                                  metadata.public_id, metadata.key_version, revision,
                                  _from_db(created), _from_db(rotated))

    def replace_ciphertext(
        self,
        tenant_id: str,
        credential_id: str,
        expected_revision: int,
        key_version: int,
        ciphertext: bytes,
        rotated_at: str,
    ) -> bool:
        # Under READ COMMITTED a concurrent put holds the row lock; this UPDATE waits, then
        # re-checks the revision on the committed row, so it matches nothing and returns False.
        with self._session(tenant_id) as conn:
            changed = conn.execute(
                "UPDATE credentials_meta SET key_version = %s, revision = revision + 1,"
                " rotated_at = %s WHERE tenant_id = %s AND credential_id = %s AND revision = %s",
                (key_version, _to_db(rotated_at), tenant_id, credential_id, expected_revision),
            ).rowcount
            if changed:
                conn.execute(
                    "UPDATE credential_ciphertext SET ciphertext = %s"
                    " WHERE tenant_id = %s AND credential_id = %s",
                    (ciphertext, tenant_id, credential_id))
        return bool(changed)

    def list_metadata(self, tenant_id: str | None = None) -> list[CredentialMetadata]:
        query, args = f"SELECT {_META_COLUMNS} FROM credentials_meta m", ()
        if tenant_id is not None:
            query, args = query + " WHERE m.tenant_id = %s", (tenant_id,)
        with self._session(tenant_id) as conn:
            rows = conn.execute(query + " ORDER BY m.tenant_id, m.credential_id", args)
            return [_metadata(row) for row in rows.fetchall()]

    def not_at_version(self, key_version: int, limit: int) -> list[StoredCredential]:
        with self._session(None) as conn:
            rows = conn.execute(
                f"{_WITH_CIPHERTEXT} WHERE m.key_version <> %s"
                " ORDER BY m.tenant_id, m.credential_id LIMIT %s", (key_version, limit))
            return [_stored(row) for row in rows.fetchall()]

    def count_by_version(self) -> dict[int, int]:
        with self._session(None) as conn:
            rows = conn.execute(
                "SELECT key_version, count(*) FROM credentials_meta GROUP BY key_version")
            return {int(version): int(count) for version, count in rows.fetchall()}

    def append_audit(self, event: AuditEvent) -> None:
        tenant_id = None if event.tenant_id == ANY else event.tenant_id
        with self._session(tenant_id) as conn:
            conn.execute(
                "INSERT INTO audit (tenant_id, at, actor, action, subject, outcome)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (tenant_id, _to_db(event.at), event.actor, event.action, event.credential_id,
                 event.outcome))

    def audit(self, tenant_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Most recent first; `*` is the platform-wide events (rotation steps)."""
        query = "SELECT at, actor, action, tenant_id, subject, outcome FROM audit"
        args: tuple[Any, ...] = ()
        if tenant_id == ANY:
            query += " WHERE tenant_id IS NULL"
        elif tenant_id is not None:
            query, args = query + " WHERE tenant_id = %s", (tenant_id,)
        with self._session(None if tenant_id == ANY else tenant_id) as conn:
            rows = conn.execute(query + " ORDER BY id DESC LIMIT %s", (*args, limit)).fetchall()
        return [AuditEvent(_from_db(at), actor, action, ANY if tenant is None else tenant,
                           subject, outcome)
                for at, actor, action, tenant, subject, outcome in rows]

    def close(self) -> None:
        self._pool.close()
