"""The store's command line: one-shot initialisation for a cluster, and tenant roles.

`python -m arbiter.platform.store init` (the Helm chart runs it as a Job after every install
and upgrade) provisions roles, their passwords, then migrations, so the services themselves
hold only their own tenant role's DSN (the vault service: the vault role's): they can neither
create roles nor change the schema. With an admin DSN (the bundled PostgreSQL's superuser) it
provisions `roles.sql`, sets the owner and vault passwords from Secrets and, after migrating,
adds one login role per file in the tenant password directory; with only the owner DSN (a
managed database whose roles a DBA created) it migrates. Everything it does is idempotent, so
a re-run (a retried Job, the next upgrade) is safe.

`tenant add <id>` / `tenant remove <id>` (admin DSN) create or drop one tenant's role; the
password comes from the environment, never from the command line (`ps` shows arguments).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from arbiter.platform.store.errors import StoreError
from arbiter.platform.store.provision import add_tenant, provision_roles, remove_tenant
from arbiter.platform.store.schema import Migration, migrate
from arbiter.platform.tenancy import InvalidTenant, validate_tenant_id

log = logging.getLogger(__name__)

ENV_ADMIN_DSN = "ARBITER_STORE_ADMIN_DSN"
ENV_OWNER_DSN = "ARBITER_STORE_OWNER_DSN"
ENV_OWNER_PASSWORD = "ARBITER_STORE_OWNER_PASSWORD"
ENV_VAULT_PASSWORD = "ARBITER_STORE_VAULT_PASSWORD"
ENV_WAIT_SECONDS = "ARBITER_STORE_WAIT_SECONDS"
# A directory with one file per tenant, named by its id, holding its role's password.
ENV_TENANT_PASSWORDS_DIR = "ARBITER_STORE_TENANT_PASSWORDS_DIR"
ENV_TENANT_PASSWORD = "ARBITER_STORE_TENANT_PASSWORD"


@dataclass(frozen=True)
class InitSettings:
    owner_dsn: str
    admin_dsn: str = ""
    passwords: Mapping[str, str] | None = None
    wait_seconds: float = 300.0
    tenant_passwords: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> InitSettings:
        """Read the settings, naming every missing variable at once."""
        owner_dsn, admin_dsn = environ.get(ENV_OWNER_DSN, ""), environ.get(ENV_ADMIN_DSN, "")
        missing = [ENV_OWNER_DSN] if not owner_dsn else []
        passwords = None
        if admin_dsn:
            by_role = {"arbiter_owner": ENV_OWNER_PASSWORD, "arbiter_vault": ENV_VAULT_PASSWORD}
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
        tenants_dir = environ.get(ENV_TENANT_PASSWORDS_DIR, "")
        if tenants_dir and not admin_dsn:
            raise StoreError(f"{ENV_TENANT_PASSWORDS_DIR} needs {ENV_ADMIN_DSN}: only an admin "
                             "creates tenant roles")
        return cls(owner_dsn, admin_dsn, passwords, wait,
                   read_tenant_passwords(Path(tenants_dir)) if tenants_dir else {})


def read_tenant_passwords(directory: Path) -> dict[str, str]:
    """Tenant id -> password from `directory`'s files (a mounted Secret: hidden entries, such
    as Kubernetes' ..data links, are skipped); an empty file or a bad id is refused by name."""
    if not directory.is_dir():
        raise StoreError(f"{ENV_TENANT_PASSWORDS_DIR}={str(directory)!r} is not a directory")
    passwords = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        validate_tenant_id(entry.name)
        if not (password := entry.read_text().strip()):
            raise StoreError(f"the password file for tenant {entry.name!r} is empty")
        passwords[entry.name] = password
    return passwords


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
    for tenant_id, password in settings.tenant_passwords.items():  # tenant_roles is 0006's
        log.info("tenant %s logs in as %s", tenant_id,
                 await add_tenant(settings.admin_dsn, tenant_id, password))
    return applied


async def tenant_command(action: str, tenant_id: str, environ: Mapping[str, str]) -> None:
    """`tenant add|remove <id>` with the admin DSN (and for add the password) from `environ`."""
    admin_dsn = environ.get(ENV_ADMIN_DSN, "")
    password = environ.get(ENV_TENANT_PASSWORD, "")
    missing = [ENV_ADMIN_DSN] if not admin_dsn else []
    if action == "add" and not password:
        missing.append(ENV_TENANT_PASSWORD)
    if missing:
        raise StoreError(f"store tenant {action} needs {', '.join(missing)}")
    if action == "add":
        role = await add_tenant(admin_dsn, tenant_id, password)
        log.info("tenant %s logs in as %s at %s", tenant_id, role, describe(admin_dsn))
    elif await remove_tenant(admin_dsn, tenant_id):
        log.info("tenant %s's role dropped at %s", tenant_id, describe(admin_dsn))
    else:
        log.info("tenant %s had no role at %s", tenant_id, describe(admin_dsn))


USAGE = f"""usage: python -m arbiter.platform.store init
       python -m arbiter.platform.store tenant add|remove TENANT
settings from the environment: init: {ENV_OWNER_DSN}, optional {ENV_ADMIN_DSN} with
{ENV_OWNER_PASSWORD} and {ENV_VAULT_PASSWORD} (and optional {ENV_TENANT_PASSWORDS_DIR}),
{ENV_WAIT_SECONDS}; tenant: {ENV_ADMIN_DSN}, for add {ENV_TENANT_PASSWORD}"""


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    """`python -m arbiter.platform.store ...`: exit 0 when done, 1 if it failed, 2 on usage."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    match argv:
        case ["init"]:
            run, what = (lambda: initialize(InitSettings.from_env(environ))), "store init"
        case ["tenant", "add" | "remove" as action, tenant_id]:
            run, what = (lambda: tenant_command(action, tenant_id, environ)), f"tenant {action}"
        case _:
            print(USAGE)
            return 2
    try:
        asyncio.run(run())
    except (StoreError, InvalidTenant, psycopg.Error) as exc:
        log.error("%s failed: %s", what, exc)
        return 1
    return 0
