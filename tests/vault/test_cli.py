"""`arbiter vault put | rotate | status` through typer's CliRunner."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from arbiter.vault.cli import app

from .conftest import HARDHAT_ADDRESS, HARDHAT_KEY, write_secret

Invoke = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path, master_secret: Path) -> Invoke:
    runner = CliRunner()
    base = ["--store", str(tmp_path / "vault.db"), "--master-secret", str(master_secret),
            "--actor", "alice"]

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, [*base, *args], input=stdin)

    return invoke


def test_put_from_stdin_then_status_shows_metadata_only(run: Invoke) -> None:
    put = run("put", "acme", "poly", "--kind", "polymarket-eoa", "--from", "-", stdin=HARDHAT_KEY)
    assert put.exit_code == 0, put.output
    assert f"stored acme/poly kind=polymarket-eoa public_id={HARDHAT_ADDRESS}" in put.stdout
    status = run("status", "--json")
    assert status.exit_code == 0
    state = json.loads(status.stdout)
    assert state["versions"] == {"1": "active"}
    assert [c["credential_id"] for c in state["credentials"]] == ["poly"]
    assert HARDHAT_KEY[2:] not in status.stdout and HARDHAT_KEY[2:] not in put.stdout


def test_put_from_file_and_rotate(run: Invoke, tmp_path: Path) -> None:
    secret_file = write_secret(tmp_path / "poly.hex", HARDHAT_KEY.encode())
    assert run("put", "acme", "poly", "--kind", "polymarket-eoa", "--from",
               str(secret_file)).exit_code == 0
    rotated = run("rotate", "--batch-size", "1")
    assert rotated.exit_code == 0, rotated.output
    assert ("rotated key version 1 -> 2: 1 credentials re-sealed, removed versions: 1"
            in rotated.stdout)
    status = run("status")
    assert "key v2: active (1 credentials)" in status.stdout
    assert "key v1" not in status.stdout


def test_the_secret_cannot_be_given_as_an_argument_value(run: Invoke) -> None:
    result = run("put", "acme", "poly", "--kind", "polymarket-eoa", HARDHAT_KEY)
    assert result.exit_code != 0
    assert json.loads(run("status", "--json").stdout)["credentials"] == []


def test_an_encrypted_pem_is_put_with_its_passphrase_from_a_file(
    run: Invoke, tmp_path: Path, rsa_key: rsa.RSAPrivateKey,
) -> None:
    pem = write_secret(tmp_path / "kalshi.pem", rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    put = ("put", "acme", "kalshi", "--kind", "kalshi-rsa", "--from", str(pem),
           "--key-id", "kid-1", "--passphrase-from")
    wrong = run(*put, str(write_secret(tmp_path / "wrong", b"nope\n")))
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.stderr
    assert json.loads(run("status", "--json").stdout)["credentials"] == []
    missing = run(*put, str(tmp_path / "absent"))
    assert missing.exit_code == 1 and "cannot read --passphrase-from" in missing.stderr
    right = run(*put, str(write_secret(tmp_path / "right", b"s3cret\n")))
    assert right.exit_code == 0, right.output
    assert "s3cret" not in right.output


def test_bad_input_is_a_clear_error_and_stores_nothing(run: Invoke) -> None:
    for args, stdin, message in [
        (("put", "../acme", "poly", "--kind", "polymarket-eoa", "--from", "-"), HARDHAT_KEY,
         "path characters"),
        (("put", "acme", "poly", "--kind", "polymarket-eoa", "--from", "-"), "0x1234",
         "must be 32 bytes, was 2"),
        (("put", "acme", "poly", "--kind", "polymarket-eoa", "--from", "-"), "", "is empty"),
        (("put", "acme", "poly", "--kind", "polymarket-eoa", "--from", "/nonexistent"), None,
         "cannot read --from '/nonexistent'"),
    ]:
        result = run(*args, stdin=stdin)
        assert result.exit_code == 1 and message in result.stderr, result.output
    assert json.loads(run("status", "--json").stdout)["credentials"] == []


def test_world_readable_master_secret_stops_every_command(tmp_path: Path) -> None:
    secret = write_secret(tmp_path / "m.key", b"x" * 32, 0o644)
    result = CliRunner().invoke(app, ["--store", str(tmp_path / "v.db"), "--master-secret",
                                      str(secret), "status"])
    assert result.exit_code == 1 and "chmod 600" in result.stderr


@pytest.mark.postgres
def test_the_postgres_store_comes_from_the_environment(
    master_secret: Path, vault_dsn: str,
) -> None:
    runner = CliRunner()
    env = {"ARBITER_VAULT_STORE_DSN": f"{vault_dsn} password=from-env"}  # trust auth ignores it
    base = ["--master-secret", str(master_secret), "--actor", "alice"]
    put = runner.invoke(app, [*base, "put", "acme", "poly", "--kind", "polymarket-eoa",
                              "--from", "-"], input=HARDHAT_KEY, env=env)
    assert put.exit_code == 0, put.output
    status = runner.invoke(app, [*base, "status", "--json"], env=env)
    assert [c["credential_id"] for c in json.loads(status.stdout)["credentials"]] == ["poly"]
    # A DSN without a password may be an argument (libpq then reads ~/.pgpass)
    listed = runner.invoke(app, ["--store-dsn", vault_dsn, *base, "status"])
    assert listed.exit_code == 0 and "acme/poly" in listed.stdout, listed.output


@pytest.mark.parametrize(("args", "message"), [
    (["--store-dsn", "host=db user=arbiter_vault password=hunter2"],
     "--store-dsn carries a password"),
    (["--store-dsn", "host=db user"], "not a valid PostgreSQL connection string"),
    (["--store", "v.db", "--store-dsn", "host=db"], "exactly one of --store"),
    ([], "exactly one of --store"),
])
def test_store_options_are_checked_before_anything_opens(
    master_secret: Path, args: list[str], message: str,
) -> None:
    result = CliRunner().invoke(app, [*args, "--master-secret", str(master_secret), "status"])
    assert result.exit_code == 1 and message in result.stderr, result.output
    assert "hunter2" not in result.output


def test_help_needs_no_store_and_creates_nothing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`--help` of every command opens no vault; the command itself still refuses to run
    without a store."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    clean = {name: "" for name in ("ARBITER_VAULT_STORE", "ARBITER_VAULT_STORE_DSN",
                                   "ARBITER_VAULT_MASTER_SECRET", "ARBITER_VAULT_KEYRING")}
    for command in ("put", "rotate", "status"):
        shown = runner.invoke(app, [command, "--help"], env=clean)
        assert shown.exit_code == 0 and "Usage" in shown.output, shown.output
    refused = runner.invoke(app, ["status"], env=clean)
    assert refused.exit_code == 1 and "give exactly one of --store" in refused.output
    assert list(tmp_path.iterdir()) == []
