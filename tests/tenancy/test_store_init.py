"""The cluster's store init step (`python -m arbiter.platform.store init`) on a real PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac

import psycopg
import pytest

from arbiter.platform.store import StoreError, provision_roles
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
    postgres: Postgres,
) -> None:
    # Prepare
    settings = InitSettings.from_env({
        "ARBITER_STORE_ADMIN_DSN": postgres.dsn("postgres"),
        "ARBITER_STORE_OWNER_DSN": postgres.dsn("arbiter_owner"),
        "ARBITER_STORE_OWNER_PASSWORD": "owner-Secret-1",
        "ARBITER_STORE_APP_PASSWORD": "app-Secret-2",
        "ARBITER_STORE_VAULT_PASSWORD": "vault-Secret-3",
        "ARBITER_STORE_WAIT_SECONDS": "10",
    })
    # Act: twice, as a retried Job or the next upgrade would
    first, second = await initialize(settings), await initialize(settings)
    # Assert: migrations were already applied by the session fixture; nothing is pending
    assert first == second == []
    owner = stored_password(postgres, "arbiter_owner")
    app = stored_password(postgres, "arbiter_app")
    vault = stored_password(postgres, "arbiter_vault")
    assert scram_matches(owner, "owner-Secret-1") and not scram_matches(owner, "app-Secret-2")
    assert scram_matches(app, "app-Secret-2") and not scram_matches(app, "vault-Secret-3")
    assert scram_matches(vault, "vault-Secret-3")
    assert "app-Secret-2" not in app  # the server only ever saw the verifier
    with psycopg.connect(postgres.dsn("postgres")) as conn:
        rows = conn.execute("SELECT rolname, rolsuper, rolbypassrls, rolinherit FROM pg_roles"
                            " WHERE rolname IN ('arbiter_app', 'arbiter_vault')"
                            " ORDER BY rolname").fetchall()
        members = conn.execute(
            "SELECT r.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid ="
            " a.roleid JOIN pg_roles m ON m.oid = a.member WHERE m.rolname LIKE 'arbiter%'"
        ).fetchall()
    assert rows == [("arbiter_app", False, False, False), ("arbiter_vault", False, False, False)]
    assert members == []  # no arbiter role may SET ROLE to another


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "store init needs ARBITER_STORE_OWNER_DSN$"),
        ({"ARBITER_STORE_OWNER_DSN": "x", "ARBITER_STORE_ADMIN_DSN": "y",
          "ARBITER_STORE_APP_PASSWORD": "p"},
         ("needs ARBITER_STORE_OWNER_PASSWORD, ARBITER_STORE_VAULT_PASSWORD "
          "\\(with ARBITER_STORE_ADMIN_DSN set\\)")),
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
