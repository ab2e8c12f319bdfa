"""The durable saga log: every input a saga's state machine saw, in order.

Event sourcing: `Saga` is deterministic, so replaying a saga's logged inputs rebuilds it
exactly — orders included (client order ids derive from saga, leg and attempt). An entry is
appended *before* it is applied, and an order is logged as `sent` before it goes to a
gateway, so after a crash every order is either known-unsent (send it now) or possibly-sent
(look it up at the venue); none is ever sent twice by accident.

`SqliteSagaLog` serves the embedded topology (`:memory:` or a file); the PostgreSQL one
(tenant-scoped, row-level security) serves the distributed topology.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

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
    def append(self, entry: LogEntry) -> None: ...

    def replay(self) -> Iterator[LogEntry]: ...


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

    def append(self, entry: LogEntry) -> None:
        self._db.execute(
            "INSERT INTO saga_log (tenant_id, saga_id, kind, data) VALUES (?, ?, ?, ?)",
            (self.tenant_id, entry.saga_id, entry.kind, orjson.dumps(entry.data)),
        )

    def replay(self) -> Iterator[LogEntry]:
        rows = self._db.execute(
            "SELECT saga_id, kind, data FROM saga_log WHERE tenant_id = ? ORDER BY seq",
            (self.tenant_id,),
        )
        for saga_id, kind, data in rows:
            yield LogEntry(saga_id, kind, orjson.loads(data))

    def close(self) -> None:
        self._db.close()
