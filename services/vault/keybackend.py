"""The key-encryption-key (KEK) backend interface.

A backend wraps and unwraps per-credential data keys and manages numbered KEK versions. The
version life cycle is the same for every backend, so its rules live here once and each backend
only supplies the primitives:

    pending (added) -> active (new encryptions) -> decrypt-only -> retired -> deleted

Exactly one version is active; versions from `min_decryption_version` up decrypt; versions
below it are retired (refused) until `delete_retired` removes them for good.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from arbiter.vault.errors import KeyVersionStateError, RetiredKeyVersion, UnknownKeyVersion


class VersionState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    DECRYPT_ONLY = "decrypt-only"
    RETIRED = "retired"


@dataclass(frozen=True)
class KeyringStatus:
    """The KEK versions a backend holds and which of them may encrypt or decrypt."""

    versions: tuple[int, ...]
    active: int
    min_decryption_version: int

    def state(self, version: int) -> VersionState:
        if version not in self.versions:
            raise UnknownKeyVersion(f"key version {version} does not exist")
        if version == self.active:
            return VersionState.ACTIVE
        if version > self.active:
            return VersionState.PENDING
        if version >= self.min_decryption_version:
            return VersionState.DECRYPT_ONLY
        return VersionState.RETIRED

    def check_decryptable(self, version: int) -> None:
        """Raise the specific error for a version that must not be used to decrypt."""
        if self.state(version) is VersionState.RETIRED:
            raise RetiredKeyVersion(
                f"key version {version} is retired (minimum decryption version is "
                f"{self.min_decryption_version})"
            )


class KeyBackend(ABC):
    """Wrap/unwrap data keys under versioned KEKs; enforce the version life cycle."""

    kind: str

    # Primitives supplied by each backend

    @abstractmethod
    def status(self) -> KeyringStatus:
        """Return the current versions and pointers."""

    @abstractmethod
    def wrap(self, data_key: bytes | bytearray, context: bytes) -> tuple[int, bytes]:
        """Wrap `data_key` under the active KEK, bound to `context`; return (version, blob)."""

    @abstractmethod
    def unwrap(self, version: int, wrapped: bytes, context: bytes) -> bytearray:
        """Unwrap a data key; the caller owns (and must wipe) the returned buffer."""

    @abstractmethod
    def _create_version(self) -> int: ...

    @abstractmethod
    def _set_active(self, version: int) -> None: ...

    @abstractmethod
    def _set_min_decryption(self, version: int) -> None: ...

    @abstractmethod
    def _delete_below(self, version: int) -> None: ...

    # Life cycle, identical for every backend

    def add_version(self) -> int:
        """Create a new KEK version; it stays pending until `activate`."""
        return self._create_version()

    def activate(self, version: int) -> None:
        """Make `version` the one new encryptions use."""
        status = self.status()
        if status.state(version) is VersionState.RETIRED:
            raise KeyVersionStateError(f"key version {version} is retired and cannot be activated")
        if version != status.active:
            self._set_active(version)

    def retire_below(self, min_decryption_version: int) -> None:
        """Refuse decryption with every version below `min_decryption_version`."""
        status = self.status()
        status.state(min_decryption_version)  # must exist
        if min_decryption_version > status.active:
            raise KeyVersionStateError(
                f"cannot retire below version {min_decryption_version}: the active version "
                f"{status.active} would be retired"
            )
        if min_decryption_version != status.min_decryption_version:
            self._set_min_decryption(min_decryption_version)

    def delete_retired(self) -> tuple[int, ...]:
        """Destroy the retired versions; what they wrapped can never be opened again."""
        status = self.status()
        doomed = tuple(v for v in status.versions if v < status.min_decryption_version)
        if doomed:
            self._delete_below(status.min_decryption_version)
        return doomed
