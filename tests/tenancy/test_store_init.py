"""The cluster's store init step (`python -m arbiter.platform.store init`) on a real PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import psycopg
import pytest

from arbiter.platform.store import StoreError, provision_roles, remove_tenant
from arbiter.platform.store.init import InitSettings, initialize, main, wait_for_server

from .conftest import Postgres

pytestmark = pytest.mark.postgres


def scram_matches(verifier: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier (pg_authid.rolpassword) was made from `password`."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return method == "SCRAM-SHA-256" and (
        base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key)


def stored_password(postgres: Postgres, role: str) -> str:
    with psycopg.connect(postgres.dsn("postgres")) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                           (role,)).fetchone()
    assert row is not None and row[0] is not None, role
    return str(row[0])


async def test_init_provisions_roles_with_passwords_from_secrets_then_migrates(
    postgres: Postgres, tmp_path: Path,
) -> None:
    # Prepare: a mounted Secret per tenant, as the chart's init Job gets them
    (tmp_path / "tenant-c").write_text("tenant-Secret-4\n")
    (tmp_path / "..data").mkdir()  # Kubernetes' own entries are skipped
    settings = InitSettings.from_env({
        "ARBITER_STORE_ADMIN_DSN": postgres.dsn("postgres"),
        "ARBITER_STORE_OWNER_DSN": postgres.dsn("arbiter_owner"),
        "ARBITER_STORE_OWNER_PASSWORD": "owner-Secret-1",
        "ARBITER_STORE_VAULT_PASSWORD": "vault-Secret-3",
        "ARBITER_STORE_TENANT_PASSWORDS_DIR": str(tmp_path),
        "ARBITER_STORE_WAIT_SECONDS": "10",
    })
    # Act: twice, as a retried Job or the next upgrade would
    first, second = await initialize(settings), await initialize(settings)
    # Assert: migrations were already applied by the session fixture; nothing is pending
    assert first == second == []
    owner = stored_password(postgres, "arbiter_owner")
    vault = stored_password(postgres, "arbiter_vault")
    tenant = stored_password(postgres, "arbiter_t_tenant-c")
    assert scram_matches(owner, "owner-Secret-1") and not scram_matches(owner, "vault-Secret-3")
    assert scram_matches(vault, "vault-Secret-3")
    assert scram_matches(tenant, "tenant-Secret-4")
    assert "tenant-Secret-4" not in tenant  # the server only ever saw the verifier
    with psycopg.connect(postgres.dsn("postgres")) as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin, rolpassword IS NULL, rolsuper, rolbypassrls,"
            " rolinherit FROM pg_authid WHERE rolname IN ('arbiter_app', 'arbiter_vault',"
            " 'arbiter_t_tenant-c') ORDER BY rolname").fetchall()
        members = conn.execute(
            "SELECT r.rolname, m.rolname IN (SELECT role_name FROM tenant_roles),"
            "       a.inherit_option, a.set_option FROM pg_auth_members a"
            " JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member"
            " WHERE m.rolname LIKE 'arbiter%'").fetchall()
        mapped = conn.execute("SELECT tenant_id FROM tenant_roles"
                              " WHERE role_name = 'arbiter_t_tenant-c'").fetchone()
    assert rows == [("arbiter_app", False, True, False, False, False),  # a group, no login
                    ("arbiter_t_tenant-c", True, False, False, False, False),
                    ("arbiter_vault", True, False, False, False, False)]
    assert mapped == ("tenant-c",)
    # Only tenant roles are members, of the group alone: its grants, never SET ROLE to it
    assert set(members) == {("arbiter_app", True, True, False)}
    assert await remove_tenant(postgres.dsn("postgres"), "tenant-c")


def test_the_tenant_command_adds_and_removes_a_tenants_role(postgres: Postgres) -> None:
    admin = {"ARBITER_STORE_ADMIN_DSN": postgres.dsn("postgres")}
    assert main(["tenant", "add", "tenant-cli"], admin) == 1  # no password
    assert main(["tenant", "add", "../x"], {**admin, "ARBITER_STORE_TENANT_PASSWORD": "p"}) == 1
    assert main(["tenant", "add", "tenant-cli"], {**admin, "ARBITER_STORE_TENANT_PASSWORD": "p"}
                ) == 0
    with psycopg.connect(postgres.tenant_dsn("tenant-cli")) as conn:
        assert conn.execute("SELECT current_tenant()").fetchone() == ("tenant-cli",)
    assert main(["tenant", "remove", "tenant-cli"], admin) == 0
    assert main(["tenant", "remove", "tenant-cli"], {}) == 1  # no admin DSN
    assert main(["tenant", "rename", "tenant-cli"], admin) == 2
    with psycopg.connect(postgres.dsn("postgres")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'arbiter_t_tenant-cli'"
                            ).fetchone() == (0,)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "store init needs ARBITER_STORE_OWNER_DSN$"),
        ({"ARBITER_STORE_OWNER_DSN": "x", "ARBITER_STORE_ADMIN_DSN": "y",
          "ARBITER_STORE_VAULT_PASSWORD": "p"},
         "needs ARBITER_STORE_OWNER_PASSWORD \\(with ARBITER_STORE_ADMIN_DSN set\\)"),
        ({"ARBITER_STORE_OWNER_DSN": "x", "ARBITER_STORE_TENANT_PASSWORDS_DIR": "/tmp"},
         "ARBITER_STORE_TENANT_PASSWORDS_DIR needs ARBITER_STORE_ADMIN_DSN"),
        ({"ARBITER_STORE_OWNER_DSN": "x", "ARBITER_STORE_WAIT_SECONDS": "soon"},
         "ARBITER_STORE_WAIT_SECONDS must be a number of seconds, was 'soon'"),
    ],
)
def test_missing_or_bad_settings_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(StoreError, match=message):
        InitSettings.from_env(environ)


async def test_an_unreachable_server_fails_naming_it_but_not_its_password() -> None:
    dsn = "host=127.0.0.1 port=1 dbname=arbiter user=arbiter_owner password=hunter2-secret"
    with pytest.raises(StoreError) as caught:
        await wait_for_server(dsn, timeout_s=0.3, interval_s=0.1)
    assert "arbiter_owner@127.0.0.1:1/arbiter did not accept a connection within 0.3 s" in str(
        caught.value)
    assert "hunter2" not in str(caught.value)


def test_main_exit_codes(postgres: Postgres) -> None:
    assert main(["init"], {"ARBITER_STORE_OWNER_DSN": postgres.dsn("arbiter_owner")}) == 0
    assert main(["init"], {}) == 1
    assert main([], {}) == 2


async def test_an_unknown_role_password_is_refused(postgres: Postgres) -> None:
    with pytest.raises(StoreError, match="cannot set a password for role 'postgres'"):
        await provision_roles(postgres.dsn("postgres"), {"postgres": "x"})
