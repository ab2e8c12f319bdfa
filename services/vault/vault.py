"""The credential vault: tenant-scoped sealed credentials, with every access audited.

This is the one place that turns stored ciphertext into key material, so the audit trail and the
wipe-after-use rule are enforced here rather than trusted to each caller.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from arbiter.vault.credentials import CredentialKind, parse_credential, public_info
from arbiter.vault.envelope import Binding, open_sealed, parse, seal, wipe
from arbiter.vault.errors import (
    CredentialNotFound,
    PayloadMismatch,
    RetiredKeyVersion,
    RotationIncomplete,
    UnknownKeyVersion,
    VaultError,
)
from arbiter.vault.ids import validate_credential_id, validate_tenant_id
from arbiter.vault.keybackend import KeyBackend, KeyringStatus
from arbiter.vault.repository import (
    AuditEvent,
    CredentialMetadata,
    CredentialRepository,
    StoredCredential,
)

Clock = Callable[[], str]
ANY = "*"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CredentialInfo:
    """What may leave the vault about a credential: its kind, key version and public side."""

    credential_id: str
    kind: CredentialKind
    key_version: int
    public_info: dict[str, str]


@dataclass(frozen=True)
class VaultStatus:
    keyring: KeyringStatus
    backend: str
    credentials_by_version: dict[int, int]


class CredentialVault:
    """Seal, store, open and re-seal credentials for tenants."""

    def __init__(self, backend: KeyBackend, repository: CredentialRepository,
                 clock: Clock = utc_now) -> None:
        self.backend = backend
        self._repo = repository
        self._clock = clock

    def audit_event(self, actor: str, action: str, tenant_id: str, credential_id: str,
                    outcome: str) -> None:
        self._repo.append_audit(
            AuditEvent(self._clock(), actor, action, tenant_id, credential_id, outcome)
        )

    @contextmanager
    def _audited(
        self, actor: str, action: str, tenant_id: str, credential_id: str
    ) -> Iterator[None]:
        try:
            yield
        except VaultError as exc:
            self.audit_event(actor, action, tenant_id, credential_id, f"error:{type(exc).__name__}")
            raise
        self.audit_event(actor, action, tenant_id, credential_id, "ok")

    def put(self, actor: str, tenant_id: str, credential_id: str, kind: CredentialKind,
            raw: bytes, key_id: str | None = None,
            passphrase: bytes | None = None) -> CredentialMetadata:
        """Validate, seal and store a credential (replacing any with the same id); an
        encrypted PEM is opened with `passphrase`, which is not kept."""
        tenant_id = validate_tenant_id(tenant_id)
        credential_id = validate_credential_id(credential_id)
        with self._audited(actor, "put", tenant_id, credential_id):
            parsed = parse_credential(kind, raw, key_id, passphrase)
            try:
                ciphertext = seal(self.backend, Binding(tenant_id, credential_id), parsed.material)
            finally:
                wipe(parsed.material)
            now = self._clock()
            metadata = CredentialMetadata(tenant_id, credential_id, kind, parsed.public_id,
                                          parse(ciphertext).key_version, 0, now, now)
            return self._repo.put(metadata, ciphertext)

    def describe(self, actor: str, tenant_id: str, credential_id: str) -> CredentialInfo:
        """A credential's public side (see `credentials.public_info`), audited as `info`."""
        with self.unsealed(actor, "info", tenant_id, credential_id) as (meta, material):
            return CredentialInfo(meta.credential_id, meta.kind, meta.key_version,
                                  public_info(meta.kind, material, meta.public_id))

    def metadata(self, tenant_id: str, credential_id: str) -> CredentialMetadata:
        """A credential's stored metadata (kind, public id), read without opening it;
        `CredentialNotFound` for another tenant's id too. Not audited: the caller audits
        what it does with it."""
        return self._get(validate_tenant_id(tenant_id),
                         validate_credential_id(credential_id)).metadata

    @contextmanager
    def unsealed(self, actor: str, action: str, tenant_id: str, credential_id: str,
                 kind: CredentialKind | None = None,
                 ) -> Iterator[tuple[CredentialMetadata, bytearray]]:
        """Yield a credential's plaintext material for the duration of the block, then wipe it.
        With `kind`, a credential of another kind is refused before it is opened.

        A rotation may re-seal the row between our read and our unwrap, then retire the old
        key; one re-read of a changed row covers that race without any lock on the hot path.
        """
        tenant_id = validate_tenant_id(tenant_id)
        credential_id = validate_credential_id(credential_id)
        binding = Binding(tenant_id, credential_id)
        with self._audited(actor, action, tenant_id, credential_id):
            stored = self._get(tenant_id, credential_id)
            stored_kind = stored.metadata.kind
            if kind is not None and stored_kind != kind:
                raise PayloadMismatch(f"credential {credential_id!r} is a {stored_kind} key; "
                                      f"{action} needs a {kind} key")
            try:
                material = open_sealed(self.backend, binding, stored.ciphertext)
            except (RetiredKeyVersion, UnknownKeyVersion):
                fresh = self._get(tenant_id, credential_id)
                if fresh.metadata.revision == stored.metadata.revision:
                    raise
                stored = fresh
                material = open_sealed(self.backend, binding, stored.ciphertext)
            try:
                yield stored.metadata, material
            finally:
                wipe(material)

    def _get(self, tenant_id: str, credential_id: str) -> StoredCredential:
        stored = self._repo.get(tenant_id, credential_id)
        if stored is None:
            raise CredentialNotFound(f"tenant {tenant_id!r} has no credential {credential_id!r}")
        return stored

    def reseal_batch(self, actor: str, limit: int) -> tuple[int, int]:
        """Re-seal up to `limit` credentials not under the active key: (examined, moved).

        The write is a compare-and-swap on the row revision, so a concurrent `put` wins and the
        row is simply picked up again (or not, if it is already current) by the next batch.
        """
        active = self.backend.status().active
        moved = 0
        batch = self._repo.not_at_version(active, limit)
        for stored in batch:
            meta = stored.metadata
            binding = Binding(meta.tenant_id, meta.credential_id)
            with self._audited(actor, "reseal", meta.tenant_id, meta.credential_id):
                material = open_sealed(self.backend, binding, stored.ciphertext)
                try:
                    ciphertext = seal(self.backend, binding, material)
                finally:
                    wipe(material)
                moved += self._repo.replace_ciphertext(
                    meta.tenant_id, meta.credential_id, meta.revision,
                    parse(ciphertext).key_version, ciphertext, self._clock(),
                )
        return len(batch), moved

    def require_all_at(self, version: int) -> None:
        """Raise unless every credential is sealed under `version`."""
        stale = {v: n for v, n in self._repo.count_by_version().items() if v != version}
        if stale:
            raise RotationIncomplete(
                f"credentials still sealed under other key versions {stale} "
                f"(version: count); re-seal them under version {version} first"
            )

    def list_credentials(self, tenant_id: str | None = None) -> list[CredentialMetadata]:
        if tenant_id is not None:
            tenant_id = validate_tenant_id(tenant_id)
        return self._repo.list_metadata(tenant_id)

    def audit(self, tenant_id: str | None = None, limit: int = 100) -> list[AuditEvent]:
        return self._repo.audit(tenant_id, limit)

    def status(self) -> VaultStatus:
        return VaultStatus(self.backend.status(), self.backend.kind, self._repo.count_by_version())

    def close(self) -> None:
        self._repo.close()
