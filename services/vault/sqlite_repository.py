"""SQLite credential repository for the embedded topology (stdlib sqlite3).

One connection guarded by a lock serves every thread: signing runs in worker threads, and a
`:memory:` database exists only inside its one connection.
"""

import sqlite3
import threading
from pathlib import Path

from arbiter.vault.repository import AuditEvent, CredentialMetadata, StoredCredential

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credential_metadata (
    tenant_id     TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    kind          TEXT NOT NULL,
    public_id     TEXT NOT NULL,
    key_version   INTEGER NOT NULL,
    revision      INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    rotated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, credential_id)
);
CREATE INDEX IF NOT EXISTS credential_metadata_by_version ON credential_metadata (key_version);
CREATE TABLE IF NOT EXISTS credential_ciphertext (
    tenant_id     TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    ciphertext    BLOB NOT NULL,
    PRIMARY KEY (tenant_id, credential_id),
    FOREIGN KEY (tenant_id, credential_id)
        REFERENCES credential_metadata (tenant_id, credential_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    tenant_id     TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    outcome       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_by_tenant ON audit_log (tenant_id, id);
"""

_META_COLUMNS = (
    "m.tenant_id, m.credential_id, m.kind, m.public_id, m.key_version, m.revision, "
    "m.created_at, m.rotated_at"
)


def _metadata(row: tuple) -> CredentialMetadata:
    tenant, cred, kind, public_id, version, revision, created, rotated = row
    return CredentialMetadata(tenant, cred, kind, public_id, version, revision,
                              created, rotated)


class SqliteCredentialRepository:
    """`CredentialRepository` on a SQLite file, or `:memory:` for tests."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._conn.execute("PRAGMA foreign_keys = ON")
            if str(path) != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)

    def get(self, tenant_id: str, credential_id: str) -> StoredCredential | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_META_COLUMNS}, c.ciphertext FROM credential_metadata m "
                "JOIN credential_ciphertext c USING (tenant_id, credential_id) "
                "WHERE m.tenant_id = ? AND m.credential_id = ?",
                (tenant_id, credential_id),
            ).fetchone()
        return None if row is None else StoredCredential(_metadata(row[:8]), bytes(row[8]))

    def put(self, metadata: CredentialMetadata, ciphertext: bytes) -> CredentialMetadata:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT revision, created_at FROM credential_metadata "
                    "WHERE tenant_id = ? AND credential_id = ?",
                    (metadata.tenant_id, metadata.credential_id),
                ).fetchone()
                revision = 1 if row is None else row[0] + 1
                created = metadata.created_at if row is None else row[1]
                self._conn.execute(
                    "INSERT OR REPLACE INTO credential_metadata VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (metadata.tenant_id, metadata.credential_id, metadata.kind,
                     metadata.public_id, metadata.key_version, revision, created,
                     metadata.rotated_at),
                )
                self._conn.execute(
                    "INSERT OR REPLACE INTO credential_ciphertext VALUES (?, ?, ?)",
                    (metadata.tenant_id, metadata.credential_id, ciphertext),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return CredentialMetadata(metadata.tenant_id, metadata.credential_id, metadata.kind,
                                  metadata.public_id, metadata.key_version, revision, created,
                                  metadata.rotated_at)

    def replace_ciphertext(
        self,
        tenant_id: str,
        credential_id: str,
        expected_revision: int,
        key_version: int,
        ciphertext: bytes,
        rotated_at: str,
    ) -> bool:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                changed = self._conn.execute(
                    "UPDATE credential_metadata SET key_version = ?, revision = revision + 1, "
                    "rotated_at = ? WHERE tenant_id = ? AND credential_id = ? AND revision = ?",
                    (key_version, rotated_at, tenant_id, credential_id, expected_revision),
                ).rowcount
                if changed:
                    self._conn.execute(
                        "UPDATE credential_ciphertext SET ciphertext = ? "
                        "WHERE tenant_id = ? AND credential_id = ?",
                        (ciphertext, tenant_id, credential_id),
                    )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return bool(changed)

    def list_metadata(self, tenant_id: str | None = None) -> list[CredentialMetadata]:
        query = f"SELECT {_META_COLUMNS} FROM credential_metadata m"
        args: tuple = ()
        if tenant_id is not None:
            query, args = query + " WHERE m.tenant_id = ?", (tenant_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY m.tenant_id, m.credential_id", args)
            return [_metadata(row) for row in rows.fetchall()]

    def not_at_version(self, key_version: int, limit: int) -> list[StoredCredential]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_META_COLUMNS}, c.ciphertext FROM credential_metadata m "
                "JOIN credential_ciphertext c USING (tenant_id, credential_id) "
                "WHERE m.key_version != ? ORDER BY m.tenant_id, m.credential_id LIMIT ?",
                (key_version, limit),
            ).fetchall()
        return [StoredCredential(_metadata(row[:8]), bytes(row[8])) for row in rows]

    def count_by_version(self) -> dict[int, int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key_version, COUNT(*) FROM credential_metadata GROUP BY key_version"
            ).fetchall()
        return dict(rows)

    def append_audit(self, event: AuditEvent) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO audit_log (at, actor, action, tenant_id, credential_id, outcome) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event.at, event.actor, event.action, event.tenant_id, event.credential_id,
                 event.outcome),
            )

    def audit(self, tenant_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        query = "SELECT at, actor, action, tenant_id, credential_id, outcome FROM audit_log"
        args: tuple = ()
        if tenant_id is not None:
            query, args = query + " WHERE tenant_id = ?", (tenant_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit))
            return [AuditEvent(*row) for row in rows.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
