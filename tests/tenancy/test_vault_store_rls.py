"""Row-level security on the vault's credential tables, probed with hand-written SQL.

The vault role sees one tenant per tenant session and every tenant only in its all-tenants
scope, which reads but never changes a credential; a tenant's own role cannot read
any ciphertext at all, whatever it sets. The vault alone still chooses its tenant with
arbiter.tenant_id: it is shared by every tenant and reads them all in its all-tenants scope.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from arbiter.platform.store import tenant_role
from arbiter.vault.postgres_repository import PostgresCredentialRepository
from arbiter.vault.repository import AuditEvent, CredentialMetadata
from arbiter.vault.vault import ANY
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

from .conftest import Postgres

pytestmark = pytest.mark.postgres

AT = "2025-01-02T03:04:05.678+00:00"
CREDENTIAL_TABLES = ("credentials_meta", "credential_ciphertext", "audit")
PLANT_B_CREDENTIAL = (
    "INSERT INTO credentials_meta (tenant_id, credential_id, kind, public_id, key_version,"
    " revision, rotated_at) VALUES ('tenant-b', 'planted', 'k', 'p', 1, 1, now())")
FORGE_B_AUDIT = ("INSERT INTO audit (tenant_id, actor, action, subject, outcome)"
                 " VALUES ('tenant-b', 'a', 'forged', 'poly', 'ok')")


@pytest.fixture
def sealed(postgres: Postgres) -> Iterator[PostgresCredentialRepository]:
    """Tenants a and b with one credential and one audit event each, plus a platform event,
    written through the repository the vault service uses."""
    with psycopg.connect(postgres.dsn("arbiter_owner"), autocommit=True) as conn:
        conn.execute("TRUNCATE credentials_meta, credential_ciphertext, audit")
    repo = PostgresCredentialRepository.open(postgres.dsn("arbiter_vault"), max_size=2)
    for tenant in ("tenant-a", "tenant-b"):
        repo.put(CredentialMetadata(tenant, "poly", POLYMARKET_EOA, "0xabc", 1, 0,
                                    AT, AT), f"sealed-{tenant}".encode())
        repo.append_audit(AuditEvent(AT, "ops", "put", tenant, "poly", "ok"))
    repo.append_audit(AuditEvent(AT, "ops", "rotate:add-version", ANY, ANY, "ok:v2"))
    try:
        yield repo
    finally:
        repo.close()


def connect(postgres: Postgres, role: str, **scope: str) -> psycopg.Connection:
    """A connection in an open transaction with `arbiter.<name>` settings applied."""
    conn = psycopg.connect(postgres.dsn(role))
    for name, value in scope.items():
        conn.execute("SELECT set_config(%s, %s, true)", (f"arbiter.{name}", value))
    return conn


def count(conn: psycopg.Connection, table: str, where: str = "true") -> int:
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])


def refused(conn: psycopg.Connection, statement: str, match: str) -> None:
    """`statement` fails with `match`; the transaction is rolled back with it."""
    with pytest.raises(errors.InsufficientPrivilege, match=match):
        conn.execute(statement)
    conn.rollback()


def test_a_vault_tenant_session_cannot_read_or_change_another_tenants_credentials(
    postgres: Postgres, sealed: PostgresCredentialRepository,
) -> None:
    with connect(postgres, "arbiter_vault", tenant_id="tenant-a") as conn:
        for table in CREDENTIAL_TABLES:
            assert count(conn, table) == 1, table
            assert count(conn, table, "tenant_id = 'tenant-b'") == 0, table
        assert conn.execute("SELECT ciphertext FROM credential_ciphertext").fetchall() == [
            (b"sealed-tenant-a",)]
        # Hand-written writes naming B's rows match nothing
        for statement in (
            "UPDATE credentials_meta SET revision = revision + 1 WHERE tenant_id = 'tenant-b'",
            "UPDATE credential_ciphertext SET ciphertext = 'x' WHERE tenant_id = 'tenant-b'",
        ):
            assert conn.execute(statement).rowcount == 0, statement
        conn.commit()
    for statement, match in (
        (PLANT_B_CREDENTIAL, "row-level security"),
        (FORGE_B_AUDIT, "row-level security"),
        # No role may move a credential to another tenant or id: no column grant for it
        ("UPDATE credentials_meta SET tenant_id = 'tenant-b'", "permission denied"),
        ("UPDATE credential_ciphertext SET credential_id = 'other'", "permission denied"),
        ("DELETE FROM credential_ciphertext", "permission denied"),
        ("UPDATE audit SET outcome = 'forged'", "permission denied"),
    ):
        with connect(postgres, "arbiter_vault", tenant_id="tenant-a") as conn:
            refused(conn, statement, match)
    stored = sealed.get("tenant-b", "poly")
    assert stored is not None
    assert (stored.ciphertext, stored.metadata.revision) == (b"sealed-tenant-b", 1)


def test_the_vaults_all_tenants_scope_reads_everything_and_changes_no_credential(
    postgres: Postgres, sealed: PostgresCredentialRepository,
) -> None:
    with connect(postgres, "arbiter_vault", all_tenants="on") as conn:
        assert [count(conn, t) for t in CREDENTIAL_TABLES] == [2, 2, 3]
        assert conn.execute("UPDATE credentials_meta SET revision = revision + 1").rowcount == 0
        assert conn.execute("UPDATE credential_ciphertext SET ciphertext = 'x'").rowcount == 0
        conn.execute("INSERT INTO audit (tenant_id, actor, action, subject, outcome)"
                     " VALUES (NULL, 'ops', 'rotate:retire', '*', 'ok')")  # platform event
        conn.commit()
    for statement in (PLANT_B_CREDENTIAL, FORGE_B_AUDIT):
        with connect(postgres, "arbiter_vault", all_tenants="on") as conn:
            refused(conn, statement, "row-level security")
    # With neither setting the vault sees and may write nothing
    with connect(postgres, "arbiter_vault") as conn:
        assert [count(conn, t) for t in CREDENTIAL_TABLES] == [0, 0, 0]
        refused(conn, "INSERT INTO audit (tenant_id, actor, action, subject, outcome)"
                      " VALUES (NULL, 'a', 'forged', '*', 'ok')", "row-level security")
    assert len(sealed.audit(ANY)) == 2


def test_a_tenant_role_cannot_read_any_ciphertext(
    postgres: Postgres, sealed: PostgresCredentialRepository,
) -> None:
    tenant_a = tenant_role("tenant-a")
    for scope in ({"tenant_id": "tenant-a"}, {"all_tenants": "on"}, {}):
        with connect(postgres, tenant_a, **scope) as conn:
            refused(conn, "SELECT ciphertext FROM credential_ciphertext",
                    "permission denied for table credential_ciphertext")
    with connect(postgres, tenant_a, tenant_id="tenant-b") as conn:  # it names B: no effect
        # Its own tenant's metadata and audit, read-only; never the platform's events
        assert conn.execute("SELECT tenant_id, public_id FROM credentials_meta").fetchall() == [
            ("tenant-a", "0xabc")]
        assert count(conn, "audit") == 1
        assert conn.execute("SELECT actor, action FROM audit").fetchall() == [("ops", "put")]
        # ...but not the ids, numbered across tenants: their gaps count other tenants' events
        refused(conn, "SELECT id FROM audit", "permission denied for table audit")
    with connect(postgres, tenant_a, all_tenants="on") as conn:
        # The vault's scope setting gives a tenant role nothing beyond its own rows
        assert [count(conn, t) for t in ("credentials_meta", "audit")] == [1, 1]
        row = conn.execute(
            "SELECT has_table_privilege('credential_ciphertext', 'SELECT, INSERT, UPDATE,"
            " DELETE, TRUNCATE, REFERENCES, TRIGGER')").fetchone()
        assert row == (False,)
        refused(conn, "SET ROLE arbiter_vault", "permission denied")


def test_the_vault_role_has_nothing_beyond_the_credential_tables(postgres: Postgres) -> None:
    with connect(postgres, "arbiter_vault", tenant_id="tenant-a") as conn:
        assert conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles"
                            " WHERE rolname = current_user").fetchone() == (False, False)
        for statement in ("SELECT * FROM orders", "SELECT * FROM sagas",
                          "ALTER TABLE credential_ciphertext DISABLE ROW LEVEL SECURITY",
                          "DROP POLICY vault_all_tenants ON credential_ciphertext",
                          "SET ROLE arbiter_app", "SET ROLE arbiter_owner",
                          f'SET ROLE "{tenant_role("tenant-b")}"',
                          "TRUNCATE credential_ciphertext"):
            refused(conn, statement, "permission denied|must be owner")
