"""Row-level security on a real PostgreSQL: tenant A can never read or change B's rows.

Each tenant logs in as its own role, which the database maps to the tenant; whatever a session
sets or names, hand-written SQL on A's login sees and writes A's rows only."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from psycopg import errors

from arbiter.platform.store import (
    FillRow,
    Migration,
    MigrationError,
    OrderRow,
    Store,
    StoreError,
    TenantMismatch,
    UnsafeRole,
    add_tenant,
    bundled_migrations,
    migrate,
    remove_tenant,
    tenant_role,
)
from arbiter.platform.tenancy import InvalidTenant

from .conftest import Postgres

pytestmark = pytest.mark.postgres

TENANT_TABLES = ("audit", "credential_ciphertext", "credentials_meta", "fills", "orders",
                 "positions", "saga_events", "sagas")
# The app role may not even read sealed credentials (tests/tenancy/test_vault_store_rls.py).
APP_TABLES = tuple(t for t in TENANT_TABLES if t != "credential_ciphertext")
# Read-only (credentials_meta: only the vault writes it) or append-only (audit) for the app.
APP_NO_CHANGE = ("audit", "credentials_meta")


def order(coid: str, saga: str = "s1", status: str = "submitted") -> OrderRow:
    return OrderRow(client_order_id=coid, saga_id=saga, venue="polymarket", market_id="m1", outcome=1,
                    qty_micros=5_000_000, limit_price_micros=420_000, status=status)


def fill(trade: str, coid: str = "o1") -> FillRow:
    return FillRow(venue="polymarket", trade_id=trade, client_order_id=coid, price_micros=420_000,
                   qty_micros=5_000_000, fee_micros=10_000)


async def seed(store: Store, tenant_id: str, postgres: Postgres) -> None:
    """One row in every tenant table: the credential through the vault role (the only one
    that may write it), everything else through the app role."""
    async with store.tenant_session(tenant_id) as repo:
        await repo.append_saga_event(f"{tenant_id}-saga", 1, "CREATED", "pair", b"\x01")
        await repo.upsert_order(order(f"{tenant_id}-o"))
        await repo.insert_fill(fill(f"{tenant_id}-t"))
        await repo.add_position("polymarket", "m1", 1, 5_000_000)
        await repo.conn.execute(
            "INSERT INTO audit (actor, action, subject, outcome) VALUES ('ops', 'put', 'c', 'ok')")
    with psycopg.connect(postgres.dsn("arbiter_vault")) as conn:
        conn.execute("SELECT set_config('arbiter.tenant_id', %s, true)", (tenant_id,))
        conn.execute("INSERT INTO credentials_meta (credential_id, kind, public_id, key_version,"
                     " revision, rotated_at) VALUES (%s, 'kalshi-rsa', 'kid', 1, 1, now())",
                     (f"{tenant_id}-cred",))
        conn.execute("INSERT INTO credential_ciphertext (credential_id, ciphertext)"
                     " VALUES (%s, '\\x00')", (f"{tenant_id}-cred",))


@pytest.fixture
async def two_tenants(postgres: Postgres, store: Store) -> Store:
    with psycopg.connect(postgres.dsn("arbiter_owner"), autocommit=True) as conn:
        # Cleaning up needs a role that may delete everyone's rows: the owner, with RLS forced,
        # only through a policy-free TRUNCATE.
        conn.execute(f"TRUNCATE {', '.join(TENANT_TABLES)}")
    await seed(store, "tenant-a", postgres)
    await seed(store, "tenant-b", postgres)
    return store


async def count(conn: psycopg.AsyncConnection, table: str, where: str = "true") -> int:
    cursor = await conn.execute(f"SELECT count(*) FROM {table} WHERE {where}")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_migrations_recorded_and_idempotent(postgres: Postgres) -> None:
    assert await migrate(postgres.dsn("arbiter_owner")) == []  # the fixture applied them
    with psycopg.connect(postgres.dsn("arbiter_owner")) as conn:
        recorded = conn.execute("SELECT version, name, sha256 FROM schema_migrations"
                                " ORDER BY version").fetchall()
    assert recorded == [(m.version, m.name, m.sha256) for m in bundled_migrations()]
    assert recorded[0][:2] == (1, "tenant_tables")


async def test_edited_migration_is_refused(postgres: Postgres) -> None:
    first = bundled_migrations()[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(postgres.dsn("arbiter_owner"), [edited])


async def test_failing_migration_changes_nothing(postgres: Postgres) -> None:
    good = Migration(9001, "good", "CREATE TABLE probe_good (x int)")
    broken = Migration(9002, "broken", "CREATE TABLE probe_broken (")
    with pytest.raises(MigrationError, match="9002_broken failed"):
        await migrate(postgres.dsn("arbiter_owner"), [*bundled_migrations(), good, broken])
    with psycopg.connect(postgres.dsn("arbiter_owner")) as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (bundled_migrations()[-1].version,)
        assert conn.execute("SELECT to_regclass('probe_good')").fetchone() == (None,)


async def test_every_tenant_table_has_forced_rls(postgres: Postgres) -> None:
    with psycopg.connect(postgres.tenant_dsn("tenant-a")) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            "       pg_get_userbyid(c.relowner)"
            "  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
            " WHERE a.attname = 'tenant_id' AND c.relkind = 'r'"
            "   AND c.relnamespace = 'public'::regnamespace"
            # The mapping of roles to tenants: granted to no one (the owner reads it)
            "   AND c.relname <> 'tenant_roles' ORDER BY 1").fetchall()
        assert conn.execute("SELECT relacl::text[] FROM pg_class WHERE relname = 'tenant_roles'"
                            ).fetchone() == (["arbiter_owner=arwdDxtm/arbiter_owner"],)
        policies = conn.execute(
            "SELECT tablename, policyname, roles::text[], cmd FROM pg_policies"
            " WHERE schemaname = 'public'").fetchall()
    assert [r[0] for r in rows] == sorted(TENANT_TABLES)  # a new tenant table must be listed
    for name, enabled, forced, owner in rows:
        assert (enabled, forced, owner) == (True, True, "arbiter_owner"), name
        assert (name, "tenant_isolation", ["public"], "ALL") in policies, name
    # Any other policy is the vault's all-tenants scope: for that role, never update or delete
    others = [p for p in policies if p[1] != "tenant_isolation"]
    assert {(table, cmd) for table, _, _, cmd in others} == {
        ("credentials_meta", "SELECT"), ("credential_ciphertext", "SELECT"),
        ("audit", "SELECT"), ("audit", "INSERT")}
    assert all(roles == ["arbiter_vault"] for _, _, roles, _ in others), others


async def test_a_tenant_role_cannot_bypass_rls_or_become_another_role(
    postgres: Postgres,
) -> None:
    with psycopg.connect(postgres.tenant_dsn("tenant-a"), autocommit=True) as conn:
        assert conn.execute("SELECT rolsuper, rolbypassrls, rolinherit FROM pg_roles"
                            " WHERE rolname = current_user").fetchone() == (False, False, False)
        for statement in ("ALTER TABLE orders DISABLE ROW LEVEL SECURITY",
                          "ALTER TABLE orders NO FORCE ROW LEVEL SECURITY",
                          "DROP POLICY tenant_isolation ON orders",
                          "SET ROLE arbiter_owner",
                          "SET ROLE postgres",
                          "SET ROLE arbiter_app",  # the group holding its grants
                          "SET ROLE arbiter_vault",
                          f'SET ROLE "{tenant_role("tenant-b")}"',
                          f'SET SESSION AUTHORIZATION "{tenant_role("tenant-b")}"',
                          "SELECT * FROM tenant_roles",
                          "INSERT INTO tenant_roles VALUES (current_user, 'tenant-b')",
                          "CREATE TABLE sneaky (x int)"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
        conn.execute("SET row_security = off")  # allowed, but then RLS-affected queries fail
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("SELECT * FROM orders")


async def test_the_group_role_cannot_log_in(postgres: Postgres) -> None:
    with pytest.raises(psycopg.OperationalError, match='"arbiter_app" is not permitted to log in'):
        psycopg.connect(postgres.dsn("arbiter_app"))


async def test_tenant_a_naming_b_as_its_tenant_sees_and_writes_only_its_own_rows(
    postgres: Postgres, two_tenants: Store,
) -> None:
    with psycopg.connect(postgres.tenant_dsn("tenant-a")) as conn:
        # What the app set for itself before: the database no longer reads it for tenants
        conn.execute("SELECT set_config('arbiter.tenant_id', 'tenant-b', false)")
        conn.execute("SET arbiter.all_tenants = 'on'")
        assert conn.execute("SELECT current_tenant()").fetchone() == ("tenant-a",)
        for table in APP_TABLES:
            rows = conn.execute(f"SELECT DISTINCT tenant_id FROM {table}").fetchall()
            assert rows == [("tenant-a",)], table
        assert conn.execute("SELECT payload FROM saga_events").fetchall() == [(b"\x01",)]
        conn.commit()
        for statement in (
            ("INSERT INTO orders (tenant_id, client_order_id, saga_id, venue, market_id,"
             " outcome, status) VALUES ('tenant-b', 'planted', 's', 'polymarket', 'm', 1, 'x')"),
            ("INSERT INTO saga_events (tenant_id, saga_id, version, state, payload)"
             " VALUES ('tenant-b', 'forged', 1, 'CREATED', '\\x00')"),
            ("INSERT INTO fills (tenant_id, venue, trade_id, client_order_id, price_micros,"
             " qty_micros, fee_micros) VALUES ('tenant-b', 'polymarket', 'f', 'o', 1, 1, 0)"),
            ("INSERT INTO audit (tenant_id, actor, action, subject, outcome)"
             " VALUES ('tenant-b', 'a', 'forged', 's', 'ok')"),
            "UPDATE sagas SET tenant_id = 'tenant-b'",
        ):
            with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
                conn.execute(statement)
            conn.rollback()
    async with two_tenants.tenant_session("tenant-b") as repo:
        for table in APP_TABLES:
            assert await count(repo.conn, table) == 1, table


async def test_tenant_a_cannot_see_or_touch_tenant_b(two_tenants: Store) -> None:
    async with two_tenants.tenant_session("tenant-a") as repo:
        conn = repo.conn
        for table in APP_TABLES:
            assert await count(conn, table) == 1, table
            assert await count(conn, table, "tenant_id = 'tenant-b'") == 0, table
            if table in APP_NO_CHANGE:
                continue  # see below
            # Hand-written writes naming B's rows explicitly match nothing.
            assert (await conn.execute(f"UPDATE {table} SET tenant_id = tenant_id"
                                       " WHERE tenant_id = 'tenant-b'")).rowcount == 0, table
            assert (await conn.execute(f"DELETE FROM {table} WHERE tenant_id = 'tenant-b'"
                                       )).rowcount == 0, table
        assert (await conn.execute("UPDATE orders SET status = 'cancelled'")).rowcount == 1
        assert await repo.order("tenant-b-o") is None
        assert [p.qty_micros for p in await repo.positions()] == [5_000_000]

    for statement in (
        ("INSERT INTO orders (tenant_id, client_order_id, saga_id, venue, market_id, outcome,"
         " qty_micros, limit_price_micros, status)"
         " VALUES ('tenant-b', 'planted', 's', 'polymarket', 'm', 1, 1, 1, 'x')"),
        ("INSERT INTO audit (tenant_id, actor, action, subject, outcome)"
         " VALUES ('tenant-b', 'a', 'forged', 's', 'ok')"),
        "UPDATE fills SET tenant_id = 'tenant-b'",  # moving A's own row into B
    ):
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            async with two_tenants.tenant_session("tenant-a") as repo:
                await repo.conn.execute(statement)
    for table, statement in (
        ("audit", "DELETE FROM audit"),
        ("audit", "UPDATE audit SET outcome = 'forged'"),
        ("credentials_meta", "DELETE FROM credentials_meta"),
        ("credentials_meta", "UPDATE credentials_meta SET public_id = 'forged'"),
        ("credentials_meta", ("INSERT INTO credentials_meta (credential_id, kind, public_id,"
                              " key_version, revision, rotated_at)"
                              " VALUES ('c', 'k', 'p', 1, 1, now())")),
    ):
        with pytest.raises(errors.InsufficientPrivilege,
                           match=f"permission denied for table {table}"):
            async with two_tenants.tenant_session("tenant-a") as repo:
                await repo.conn.execute(statement)

    async with two_tenants.tenant_session("tenant-b") as repo:
        for table in APP_TABLES:
            assert await count(repo.conn, table) == 1, table
        b_order = await repo.order("tenant-b-o")
        assert b_order is not None and b_order.status == "submitted"


async def test_a_login_role_without_a_mapping_sees_and_writes_nothing(
    postgres: Postgres, two_tenants: Store,
) -> None:
    with psycopg.connect(postgres.dsn("postgres"), autocommit=True) as admin:
        # A login someone made by hand, with the group's grants but no tenant_roles row
        admin.execute("DROP ROLE IF EXISTS arbiter_unmapped")
        admin.execute("CREATE ROLE arbiter_unmapped LOGIN NOINHERIT")
        admin.execute("GRANT arbiter_app TO arbiter_unmapped WITH INHERIT TRUE, SET FALSE")
    try:
        with psycopg.connect(postgres.dsn("arbiter_unmapped")) as conn:
            conn.execute("SELECT set_config('arbiter.tenant_id', 'tenant-a', false)")
            assert conn.execute("SELECT current_tenant()").fetchone() == (None,)
            for table in APP_TABLES:
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
            with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
                conn.execute("INSERT INTO audit (tenant_id, actor, action, subject, outcome)"
                             " VALUES ('tenant-a', 'x', 'y', 'z', 'ok')")
        with pytest.raises(TenantMismatch, match="'arbiter_unmapped', which the database maps "
                                                 "to no tenant; connect as arbiter_t_tenant-a"):
            await Store.open(postgres.dsn("arbiter_unmapped"), ["tenant-a"])
    finally:
        with psycopg.connect(postgres.dsn("postgres"), autocommit=True) as admin:
            admin.execute("DROP ROLE arbiter_unmapped")


async def test_the_store_refuses_a_dsn_whose_role_is_another_tenants(postgres: Postgres) -> None:
    with pytest.raises(TenantMismatch, match="for tenant 'tenant-a' logs in as "
                                             "'arbiter_t_tenant-b', which the database maps to "
                                             "tenant 'tenant-b'"):
        await Store.open(postgres.tenant_dsn("tenant-b"), ["tenant-a"])
    one_role = Store(postgres.tenant_dsn("tenant-a"))  # no template: tenant-a's sessions only
    try:
        async with one_role.tenant_session("tenant-a") as repo:
            assert await count(repo.conn, "orders", "tenant_id <> 'tenant-a'") == 0
        with pytest.raises(TenantMismatch, match="for tenant 'tenant-b'"):
            async with one_role.tenant_session("tenant-b"):
                pass
    finally:
        await one_role.close()


async def test_removing_a_tenant_drops_its_role_and_mapping(
    postgres: Postgres, store: Store,
) -> None:
    admin, tenant_id = postgres.dsn("postgres"), "tenant-gone"
    role = await add_tenant(admin, tenant_id, "first")
    assert await add_tenant(admin, tenant_id, "second") == role  # a re-run refreshes it
    async with store.tenant_session(tenant_id) as repo:
        await repo.upsert_order(order("kept"))
    with psycopg.connect(postgres.tenant_dsn(tenant_id)) as lingering:
        assert await remove_tenant(admin, tenant_id) is True
        with pytest.raises(psycopg.OperationalError):  # its open session was ended
            lingering.execute("SELECT 1")
    assert await remove_tenant(admin, tenant_id) is False
    with psycopg.connect(admin) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s",
                            (role,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM tenant_roles WHERE tenant_id = %s",
                            (tenant_id,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM orders WHERE tenant_id = %s",
                            (tenant_id,)).fetchone() == (1,)  # rows stay, visible to no one
    fresh = Store(postgres.dsn("{role}"))
    try:
        with pytest.raises(StoreError, match=f'role "{role}" does not exist'):
            async with fresh.tenant_session(tenant_id):
                pass
    finally:
        await fresh.close()


async def test_adding_a_tenant_adopts_no_other_role_and_no_other_mapping(
    postgres: Postgres,
) -> None:
    admin = postgres.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE ROLE "arbiter_t_squatter" LOGIN')  # made by hand, grants unknown
        conn.execute("INSERT INTO tenant_roles VALUES ('someone_else', 'tenant-x')")
    try:
        with pytest.raises(StoreError, match="'arbiter_t_squatter' exists but is no tenant's"):
            await add_tenant(admin, "squatter", "pw")
        with pytest.raises(StoreError, match="role 'someone_else' is mapped to tenant 'tenant-x'"):
            await add_tenant(admin, "tenant-x", "pw")
        with psycopg.connect(admin) as conn:
            assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname ="
                                " 'arbiter_t_tenant-x'").fetchone() == (0,)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('DROP ROLE "arbiter_t_squatter"')
            conn.execute("DELETE FROM tenant_roles WHERE tenant_id = 'tenant-x'")


async def test_no_sequence_is_readable_by_a_tenant_role(
    postgres: Postgres, two_tenants: Store,
) -> None:
    with psycopg.connect(postgres.tenant_dsn("tenant-a")) as conn:
        # Numbered across tenants, a readable counter would count the others' rows
        privileges = conn.execute(
            "SELECT c.relname, has_sequence_privilege(c.oid, 'SELECT'),"
            "       has_sequence_privilege(c.oid, 'USAGE'), has_sequence_privilege(c.oid, 'UPDATE')"
            "  FROM pg_class c WHERE c.relkind = 'S'"
            "   AND c.relnamespace = 'public'::regnamespace").fetchall()
        assert privileges == [("audit_id_seq", False, False, False)]  # a new one must be listed
        generated = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND (is_identity = 'YES'"
            "      OR column_default LIKE 'nextval%%')").fetchall()
        assert generated == [("audit", "id")]
        conn.commit()
        for statement in ("SELECT last_value FROM audit_id_seq",
                          "SELECT currval('audit_id_seq')",
                          "SELECT nextval('audit_id_seq')",
                          "SELECT id FROM audit",
                          ("INSERT INTO audit (actor, action, subject, outcome)"
                          " VALUES ('a', 'b', 'c', 'd') RETURNING id")):
            with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(statement)
            conn.rollback()
        # These two answer NULL rather than refuse; the owner sees the counter
        assert conn.execute("SELECT last_value FROM pg_sequences").fetchall() == [(None,)]
        assert conn.execute("SELECT pg_sequence_last_value('audit_id_seq')").fetchone() == (None,)
    with psycopg.connect(postgres.dsn("arbiter_owner")) as conn:
        last = conn.execute("SELECT pg_sequence_last_value('audit_id_seq')").fetchone()
        assert last is not None and last[0] is not None


async def test_store_refuses_roles_that_bypass_rls(postgres: Postgres) -> None:
    with pytest.raises(UnsafeRole, match="'postgres' is a superuser and has BYPASSRLS"):
        await Store.open(postgres.dsn("postgres"), ["tenant-a"])
    with pytest.raises(UnsafeRole, match="'arbiter_owner' owns the row-level-secured tables"):
        await Store.open(postgres.dsn("arbiter_owner"), ["tenant-a"])
    admin = postgres.dsn("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:  # a grant made by hand, by mistake
        conn.execute('GRANT arbiter_owner TO "arbiter_t_tenant-b" WITH INHERIT FALSE, SET TRUE')
    try:
        with pytest.raises(UnsafeRole, match="'arbiter_t_tenant-b' owns the row-level-secured"):
            await Store.open(postgres.tenant_dsn("tenant-b"), ["tenant-b"])
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('REVOKE arbiter_owner FROM "arbiter_t_tenant-b"')


async def test_tenant_session_validates_the_id(store: Store) -> None:
    with pytest.raises(InvalidTenant, match="must match"):
        async with store.tenant_session("../tenant-b"):
            pass


async def test_fill_is_counted_once(two_tenants: Store) -> None:
    async with two_tenants.tenant_session("tenant-a") as repo:
        assert await repo.insert_fill(fill("t-42")) is True
        assert await repo.insert_fill(fill("t-42")) is False
        assert await repo.insert_fill(FillRow("kalshi", "t-42", "o1", 1, 1, 0)) is True  # other venue
    async with two_tenants.tenant_session("tenant-b") as repo:
        assert await repo.insert_fill(fill("t-42")) is True  # trade ids are per tenant


async def test_saga_log_is_idempotent_and_moves_forward(two_tenants: Store) -> None:
    terminal = ("COMPLETED", "COMPENSATED")
    async with two_tenants.tenant_session("tenant-a") as repo:
        assert await repo.append_saga_event("s9", 1, "CREATED", "pair", b"1") is True
        assert await repo.append_saga_event("s9", 2, "LEG1_SUBMITTED", "pair", b"2") is True
        assert await repo.append_saga_event("s9", 2, "LEG1_SUBMITTED", "pair", b"2") is False
        assert [s.saga_id for s in await repo.in_flight_sagas(terminal)] == ["tenant-a-saga", "s9"]
        assert await repo.append_saga_event("s9", 3, "COMPLETED", "pair", b"3") is True
        assert [e.version for e in await repo.saga_events("s9")] == [1, 2, 3]
        assert [e.payload for e in await repo.saga_events("s9")] == [b"1", b"2", b"3"]
        assert [s.saga_id for s in await repo.in_flight_sagas(terminal)] == ["tenant-a-saga"]
    async with two_tenants.tenant_session("tenant-b") as repo:
        assert await repo.saga_events("s9") == []
        assert [s.saga_id for s in await repo.in_flight_sagas(terminal)] == ["tenant-b-saga"]


async def test_order_upsert_keeps_the_venue_id(two_tenants: Store) -> None:
    async with two_tenants.tenant_session("tenant-a") as repo:
        await repo.upsert_order(replace(order("o7"), venue_order_id="v-1", status="acked"))
        await repo.upsert_order(order("o7", status="filled"))  # a late report without the id
        stored = await repo.order("o7")
    assert stored is not None and (stored.status, stored.venue_order_id) == ("filled", "v-1")


async def test_money_columns_are_integers(postgres: Postgres) -> None:
    with psycopg.connect(postgres.tenant_dsn("tenant-a")) as conn:
        types = conn.execute(
            "SELECT DISTINCT data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name LIKE '%micros'").fetchall()
    assert types == [("bigint",)]


async def test_a_pooled_connection_stays_its_tenants_whatever_it_set(
    postgres: Postgres, two_tenants: Store,
) -> None:
    single = await Store.open(postgres.dsn("{role}"), ["tenant-a"], min_size=1, max_size=1)
    try:
        async with single.tenant_session("tenant-a") as repo:
            # Session-wide, so it outlives the transaction on the pooled connection
            await repo.conn.execute("SELECT set_config('arbiter.tenant_id', 'tenant-b', false)")
        async with single.tenant_session("tenant-a") as repo:  # the same, only connection
            assert await count(repo.conn, "orders") == 1
            assert await count(repo.conn, "orders", "tenant_id = 'tenant-b'") == 0
    finally:
        await single.close()
