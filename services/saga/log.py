"""The durable saga log: every input a saga's state machine saw, in order.

Event sourcing: `Saga` is deterministic, so replaying a saga's logged inputs rebuilds it
exactly — orders included (client order ids derive from saga, leg and attempt). An entry is
appended *before* it is applied, and an order is logged as `sent` before it goes to a
gateway, so after a crash every order is either known-unsent (send it now) or possibly-sent
(look it up at the venue); none is ever sent twice by accident.

`SqliteSagaLog` serves the embedded topology (`:memory:` or a file); `PostgresSagaLog`
(tenant-scoped, row-level security) serves the distributed topology when `store.dsn` is set.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    from arbiter.platform.store import Store

CREATED = "created"
REJECTED = "rejected"
APPROVED = "approved"
SENT = "sent"
FILL = "fill"
DONE = "done"
KINDS = (CREATED, REJECTED, APPROVED, SENT, FILL, DONE)


@dataclass(frozen=True, slots=True)
class LogEntry:
    saga_id: str
    kind: str
    data: dict[str, Any]


class SagaLog(Protocol):
    async def append(self, entry: LogEntry) -> None: ...

    def replay(self) -> AsyncIterator[LogEntry]: ...


class SqliteSagaLog:
    """Append-only table; one row per entry, replayed in insertion order."""

    def __init__(self, path: str = ":memory:", tenant_id: str = "default") -> None:
        self.tenant_id = tenant_id
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS saga_log ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " tenant_id TEXT NOT NULL, saga_id TEXT NOT NULL,"
            " kind TEXT NOT NULL CHECK (kind IN ('created','rejected','approved','sent',"
            "'fill','done')),"
            " data BLOB NOT NULL)"
        )

    async def append(self, entry: LogEntry) -> None:
        # Synchronous on purpose: a local SQLite insert is microseconds, and it must be
        # durable before the caller goes on to act on the entry.
        self._db.execute(
            "INSERT INTO saga_log (tenant_id, saga_id, kind, data) VALUES (?, ?, ?, ?)",
            (self.tenant_id, entry.saga_id, entry.kind, orjson.dumps(entry.data)),
        )

    async def replay(self) -> AsyncIterator[LogEntry]:
        rows = self._db.execute(
            "SELECT saga_id, kind, data FROM saga_log WHERE tenant_id = ? ORDER BY seq",
            (self.tenant_id,),
        ).fetchall()
        for saga_id, kind, data in rows:
            yield LogEntry(saga_id, kind, orjson.loads(data))

    def close(self) -> None:
        self._db.close()


class PostgresSagaLog:
    """The saga log in the tenant's `saga_events` rows (row-level security: a tenant's
    saga service can neither read nor write another tenant's log)."""

    def __init__(self, store: Store, tenant_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self._versions: dict[str, int] = {}
        self._pairs: dict[str, str] = {}

    async def append(self, entry: LogEntry) -> None:
        version = self._versions.get(entry.saga_id, -1) + 1
        pair_id = self._pairs.setdefault(entry.saga_id, str(entry.data.get("pair_id", "")))
        async with self.store.tenant_session(self.tenant_id) as repo:
            await repo.append_saga_event(entry.saga_id, version, entry.kind, pair_id,
                                         orjson.dumps(entry.data))
        self._versions[entry.saga_id] = version

    async def replay(self) -> AsyncIterator[LogEntry]:
        async with self.store.tenant_session(self.tenant_id) as repo:
            rows = await repo.all_saga_events()
        for row in rows:
            self._versions[row.saga_id] = row.version
            data = orjson.loads(row.payload)
            self._pairs.setdefault(row.saga_id, str(data.get("pair_id", "")))
            yield LogEntry(row.saga_id, row.state, data)
