"""One-shot store initialisation for a cluster: roles, their passwords, then migrations.

The Helm chart runs this as a Job after every install and upgrade
(`python -m arbiter.platform.store init`), so the services themselves hold only the app role's
DSN (the vault service: the vault role's): they can neither create roles nor change the schema. With an admin DSN (the bundled
PostgreSQL's superuser) it provisions `roles.sql` and sets the owner, app and vault passwords
from Secrets; with only the owner DSN (a managed database whose roles a DBA created) it migrates.
Everything it does is idempotent, so a re-run (a retried Job, the next upgrade) is safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from arbiter.platform.store.errors import StoreError
from arbiter.platform.store.pool import provision_roles
from arbiter.platform.store.schema import Migration, migrate

log = logging.getLogger(__name__)

ENV_ADMIN_DSN = "ARBITER_STORE_ADMIN_DSN"
ENV_OWNER_DSN = "ARBITER_STORE_OWNER_DSN"
ENV_OWNER_PASSWORD = "ARBITER_STORE_OWNER_PASSWORD"
ENV_APP_PASSWORD = "ARBITER_STORE_APP_PASSWORD"
ENV_VAULT_PASSWORD = "ARBITER_STORE_VAULT_PASSWORD"
ENV_WAIT_SECONDS = "ARBITER_STORE_WAIT_SECONDS"


@dataclass(frozen=True)
class InitSettings:
    owner_dsn: str
    admin_dsn: str = ""
    passwords: Mapping[str, str] | None = None
    wait_seconds: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> InitSettings:
        """Read the settings, naming every missing variable at once."""
        owner_dsn, admin_dsn = environ.get(ENV_OWNER_DSN, ""), environ.get(ENV_ADMIN_DSN, "")
        missing = [ENV_OWNER_DSN] if not owner_dsn else []
        passwords = None
        if admin_dsn:
            by_role = {"arbiter_owner": ENV_OWNER_PASSWORD, "arbiter_app": ENV_APP_PASSWORD,
                       "arbiter_vault": ENV_VAULT_PASSWORD}
            missing += [name for name in by_role.values() if not environ.get(name)]
            passwords = {role: environ.get(name, "") for role, name in by_role.items()}
        if missing:
            raise StoreError(f"store init needs {', '.join(missing)}"
                             + (f" (with {ENV_ADMIN_DSN} set)" if admin_dsn else ""))
        raw_wait = environ.get(ENV_WAIT_SECONDS, "300")
        try:
            wait = float(raw_wait)
        except ValueError:
            raise StoreError(
                f"{ENV_WAIT_SECONDS} must be a number of seconds, was {raw_wait!r}") from None
        return cls(owner_dsn, admin_dsn, passwords, wait)


def describe(conninfo: str) -> str:
    """user@host:port/dbname of a DSN, for messages: never its password."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<malformed DSN>"
    return (f"{parts.get('user', '?')}@{parts.get('host', '?')}:{parts.get('port', 5432)}"
            f"/{parts.get('dbname', '?')}")


async def wait_for_server(conninfo: str, timeout_s: float, interval_s: float = 2.0) -> None:
    """Return once PostgreSQL accepts `conninfo`; the bundled server may still be starting."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=5)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise StoreError(f"PostgreSQL at {describe(conninfo)} did not accept a "
                                 f"connection within {timeout_s:g} s: {exc}") from None
            log.info("waiting for PostgreSQL at %s: %s", describe(conninfo), exc)
            await asyncio.sleep(interval_s)
        else:
            await conn.close()
            return


async def initialize(settings: InitSettings) -> list[Migration]:
    """Provision roles (with an admin DSN), then migrate as the owner; the versions applied."""
    if settings.admin_dsn:
        await wait_for_server(settings.admin_dsn, settings.wait_seconds)
        await provision_roles(settings.admin_dsn, settings.passwords)
        log.info("roles provisioned at %s", describe(settings.admin_dsn))
    await wait_for_server(settings.owner_dsn, settings.wait_seconds)
    applied = await migrate(settings.owner_dsn)
    log.info("migrations applied at %s: %s", describe(settings.owner_dsn),
             ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none pending")
    return applied


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    """`python -m arbiter.platform.store init`: exit 0 when the store is ready, 1 if not."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if argv != ["init"]:
        print("usage: python -m arbiter.platform.store init   (settings from the environment: "
              f"{ENV_OWNER_DSN}, optional {ENV_ADMIN_DSN} with {ENV_OWNER_PASSWORD}, "
              f"{ENV_APP_PASSWORD} and {ENV_VAULT_PASSWORD}, {ENV_WAIT_SECONDS})")
        return 2
    try:
        asyncio.run(initialize(InitSettings.from_env(environ)))
    except (StoreError, psycopg.Error) as exc:
        log.error("store init failed: %s", exc)
        return 1
    return 0
