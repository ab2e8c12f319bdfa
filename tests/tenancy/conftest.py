"""The session's real PostgreSQL (see `pg_server`), a `Store` on its tenants' roles, and new
tenants with roles of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from arbiter.platform.store import Store, add_tenant

from .pg_server import Postgres, shared_postgres

__all__ = ["Postgres"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with shared_postgres() as server:
        yield server


@pytest.fixture
async def store(postgres: Postgres) -> AsyncIterator[Store]:
    """Each tenant's sessions on its own role (`{role}` in the DSN template)."""
    opened = await Store.open(postgres.dsn("{role}"), max_size=2)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def new_tenant(postgres: Postgres) -> Callable[[], Awaitable[str]]:
    """Make a tenant no other test uses, with its login role provisioned."""
    async def make() -> str:
        tenant_id = f"t-{uuid.uuid4().hex[:10]}"
        await add_tenant(postgres.dsn("postgres"), tenant_id, "password")
        return tenant_id
    return make
