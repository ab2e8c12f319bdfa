"""`arbiter vault ...`: onboard credentials, rotate the key, show status.

Secrets come only from a file or stdin (`--from -`), never from an argument value, which would
land in shell history and in every process listing; a `--store-dsn` with a password is refused
for the same reason (use `ARBITER_VAULT_STORE_DSN` or a libpq password file).
"""

import asyncio
import getpass
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from psycopg.conninfo import conninfo_to_dict

from arbiter.platform.store import StoreError
from arbiter.vault.bootstrap import BackendKind, VaultService, build_vault_service
from arbiter.vault.errors import VaultError
from arbiter.vault.transit import TransitSettings

app = typer.Typer(help="Tenant venue credentials: put, rotate, status.", no_args_is_help=True)


def _service(ctx: typer.Context) -> VaultService:
    """The vault, opened on first use: `--help` of any command opens nothing and needs no
    store, master secret or transit settings."""
    if "service" not in ctx.obj:
        ctx.obj["service"] = service = ctx.obj.pop("open")()
        ctx.call_on_close(service.close)
    return ctx.obj["service"]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.callback()
def main(
    ctx: typer.Context,
    store: Annotated[Path | None, typer.Option(envvar="ARBITER_VAULT_STORE",
                                               help="SQLite credential store file (or --store-dsn: one of the "
                                                    "two is needed).")] = None,
    store_dsn: Annotated[str, typer.Option(
        envvar="ARBITER_VAULT_STORE_DSN", show_default=False,
        help="PostgreSQL credential store, as role arbiter_vault (instead of --store); "
             "give a password only through the environment or ~/.pgpass.")] = "",
    master_secret: Annotated[Path | None, typer.Option(
        envvar="ARBITER_VAULT_MASTER_SECRET",
        help="Master secret file (local backend, mode 600).")] = None,
    keyring: Annotated[Path | None, typer.Option(
        envvar="ARBITER_VAULT_KEYRING",
        help="Keyring state file [<master-secret>.keyring.json].")] = None,
    backend: Annotated[BackendKind, typer.Option(
        envvar="ARBITER_VAULT_BACKEND",
        help="local: a keyring under the master secret; transit: HashiCorp Vault transit "
             "(VAULT_ADDR, VAULT_TOKEN).")] = "local",
    actor: Annotated[str, typer.Option(
        help="Who to record in the audit log; default: cli:<your user name>.",
        show_default=False)] = "",
) -> None:
    """Say how to open the vault; the chosen command opens it (`_service`)."""

    def open_vault() -> VaultService:
        if (store is None) == (not store_dsn):
            raise _fail("give exactly one of --store (SQLite file) and --store-dsn "
                        "(PostgreSQL)")
        if store_dsn:
            _refuse_password_argument(ctx, store_dsn)
        try:
            transit = TransitSettings.from_env(os.environ) if backend == "transit" else None
            return build_vault_service(store, master_secret, backend,
                                       keyring_path=keyring, transit=transit,
                                       store_dsn=store_dsn)
        except (VaultError, StoreError, ValueError) as exc:
            raise _fail(str(exc)) from None

    ctx.obj = {"open": open_vault, "actor": actor or f"cli:{getpass.getuser()}"}


def _refuse_password_argument(ctx: typer.Context, dsn: str) -> None:
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:  # not shown: its message may echo part of the DSN
        raise _fail("--store-dsn is not a valid PostgreSQL connection string") from None
    # By name: typer ships its own copy of click, so its ParameterSource is not click's.
    source = ctx.get_parameter_source("store_dsn")
    if parts.get("password") and source is not None and source.name == "COMMANDLINE":
        raise _fail("--store-dsn carries a password, which would land in shell history and "
                    "process listings; set ARBITER_VAULT_STORE_DSN or use a libpq password "
                    "file (~/.pgpass, PGPASSFILE) instead")


@app.command()
def put(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    credential_id: Annotated[str, typer.Argument(help="Credential id within the tenant.")],
    kind: Annotated[str, typer.Option(
        help="What the secret is: a credential kind a registered venue declares "
             "(an unknown kind is refused with the declared ones listed).")],
    source: Annotated[str, typer.Option("--from", help="File holding the secret, or - for stdin.")],
    key_id: Annotated[str | None, typer.Option(
        help="The venue's API key id, for kinds that need one (kalshi-rsa).")] = None,
    passphrase_from: Annotated[Path | None, typer.Option(
        help="File holding the passphrase of an encrypted PEM (first line).")] = None,
) -> None:
    """Seal and store a credential (replaces one with the same id)."""
    raw = _read_secret("--from", source)
    passphrase = None
    if passphrase_from is not None:
        passphrase = (_read_secret("--passphrase-from", str(passphrase_from)).splitlines()
                      or [b""])[0]
    if not raw.strip():
        raise _fail(f"--from {source!r} is empty")
    try:
        meta = _service(ctx).vault.put(ctx.obj["actor"], tenant, credential_id, kind, raw, key_id,
                                       passphrase)
    except VaultError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"stored {meta.tenant_id}/{meta.credential_id} kind={meta.kind} "
               f"public_id={meta.public_id} key_version={meta.key_version} "
               f"revision={meta.revision}")


def _read_secret(option: str, source: str) -> bytes:
    """A secret from a file, or stdin for `-`; a clear error names the option."""
    try:
        return sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {option} {source!r}: {exc.strerror}") from None


@app.command()
def rotate(
    ctx: typer.Context,
    batch_size: Annotated[int, typer.Option(min=1, help="Credentials re-sealed per batch.")] = 100,
) -> None:
    """Rotate the key: add and activate a version, re-seal everything, retire and remove the old."""
    try:
        report = asyncio.run(_service(ctx).rotation(ctx.obj["actor"], batch_size).run())
    except VaultError as exc:
        raise _fail(str(exc)) from None
    removed = ",".join(map(str, report.removed_versions)) or "none"
    typer.echo(f"rotated key version {report.from_version} -> {report.to_version}: "
               f"{report.resealed} credentials re-sealed, removed versions: {removed}")


@app.command()
def status(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's credentials.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show key versions and credential metadata (never secrets)."""
    vault = _service(ctx).vault
    try:
        state, credentials = vault.status(), vault.list_credentials(tenant)
    except VaultError as exc:
        raise _fail(str(exc)) from None
    keyring = state.keyring
    if as_json:
        typer.echo(json.dumps({
            "backend": state.backend,
            "versions": {str(v): keyring.state(v) for v in keyring.versions},
            "active": keyring.active,
            "min_decryption_version": keyring.min_decryption_version,
            "credentials_by_version": {str(v): n for v, n in state.credentials_by_version.items()},
            "credentials": [asdict(c) for c in credentials],
        }, indent=2))
        return
    typer.echo(f"backend: {state.backend}")
    for version in keyring.versions:
        count = state.credentials_by_version.get(version, 0)
        typer.echo(f"  key v{version}: {keyring.state(version)} ({count} credentials)")
    for c in credentials:
        typer.echo(f"{c.tenant_id}/{c.credential_id} {c.kind} {c.public_id} v{c.key_version} "
                   f"rev{c.revision} created {c.created_at} rotated {c.rotated_at}")
