"""Persistence port of the credential store, and the records it moves.

Metadata (who owns what, under which key version, since when) lives apart from the ciphertext
so listing, status and rotation planning never read secret-bearing rows. Two implementations:
`SqliteCredentialRepository` (embedded) and `PostgresCredentialRepository` (distributed, row-level
security per tenant; docs/vault.md). An audit event's tenant `*` is a platform-wide event.
"""

from dataclasses import dataclass
from typing import Protocol

from arbiter.vault.credentials import CredentialKind


@dataclass(frozen=True)
class CredentialMetadata:
    tenant_id: str
    credential_id: str
    kind: CredentialKind
    public_id: str
    key_version: int
    revision: int
    created_at: str
    rotated_at: str


@dataclass(frozen=True)
class StoredCredential:
    metadata: CredentialMetadata
    ciphertext: bytes


@dataclass(frozen=True)
class AuditEvent:
    """One access: who did what to which credential, when, and how it ended. Never a secret."""

    at: str
    actor: str
    action: str
    tenant_id: str
    credential_id: str
    outcome: str


class CredentialRepository(Protocol):
    def get(self, tenant_id: str, credential_id: str) -> StoredCredential | None: ...

    def put(self, metadata: CredentialMetadata, ciphertext: bytes) -> CredentialMetadata:
        """Insert or replace; the stored revision is one more than any previous one."""
        ...

    def replace_ciphertext(
        self,
        tenant_id: str,
        credential_id: str,
        expected_revision: int,
        key_version: int,
        ciphertext: bytes,
        rotated_at: str,
    ) -> bool:
        """Compare-and-swap on the revision; False when the row changed meanwhile."""
        ...

    def list_metadata(self, tenant_id: str | None = None) -> list[CredentialMetadata]: ...

    def not_at_version(self, key_version: int, limit: int) -> list[StoredCredential]: ...

    def count_by_version(self) -> dict[int, int]: ...

    def append_audit(self, event: AuditEvent) -> None: ...

    def audit(self, tenant_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        """Most recent first."""
        ...

    def close(self) -> None: ...
