"""The session's real PostgreSQL (see `pg_server`) and the app role's `Store` on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from arbiter.platform.store import Store

from .pg_server import Postgres, shared_postgres

__all__ = ["Postgres"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with shared_postgres() as server:
        yield server


@pytest.fixture
async def store(postgres: Postgres) -> AsyncIterator[Store]:
    opened = await Store.open(postgres.dsn("arbiter_app"), max_size=2)
    try:
        yield opened
    finally:
        await opened.close()
