"""Versioned schema migrations, applied at start by the owner role.

Files are `migrations/NNNN_name.sql`, applied in version order. One run is one transaction
under an advisory lock, so services starting together do not race and a failing file leaves
the schema as it was. Each applied file is recorded in `schema_migrations` with a SHA-256 of
its text; a recorded file whose text has changed stops the run, because editing history
silently would let two databases with the same version differ.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from arbiter.platform.store.errors import MigrationError

_FILE = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql")
# Any constant works; it only has to be the same for every process running migrations.
_LOCK_KEY = 0x4172_6269_7465_72  # "Arbiter"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    sha256     text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def bundled_migrations() -> list[Migration]:
    """The migration files shipped in this package, in version order."""
    found: dict[int, Migration] = {}
    for entry in resources.files("arbiter.platform.store").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.fullmatch(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise MigrationError(
                f"migration version {version} is used by {found[version].name!r} and {entry.name!r}")
        found[version] = Migration(version, match["name"], entry.read_text())
    if not found:  # e.g. a wheel built without the package data
        raise MigrationError("no migration files are installed with arbiter.platform.store")
    return [found[v] for v in sorted(found)]


async def migrate(conninfo: str, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply pending migrations as the owner role; returns the ones applied this run."""
    pending = bundled_migrations() if migrations is None else migrations
    async with await psycopg.AsyncConnection.connect(conninfo) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(_CREATE_LEDGER)
        cursor = await conn.execute("SELECT version, name, sha256 FROM schema_migrations")
        applied = {version: (name, digest) for version, name, digest in await cursor.fetchall()}
        done: list[Migration] = []
        for migration in pending:
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded[1] != migration.sha256:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it "
                        f"was applied (recorded as {recorded[0]!r}); add a new migration instead")
                continue
            try:
                await conn.execute(migration.sql)  # type: ignore[arg-type]  # file text, no params
            except psycopg.Error as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.sha256))
            done.append(migration)
        return done
