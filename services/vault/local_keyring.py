"""Local keyring: KEKs derived with HKDF-SHA256 from a master secret file (embedded topology).

Each version has its own random salt, kept in a JSON state file beside the secret, so
`KEK_v = HKDF(master, salt_v, info="arbiter-vault/kek/v<n>")`. Deleting a version deletes its
salt, after which even the master secret cannot re-derive it. A key-check value per version
lets a wrong master secret fail at open with a clear error instead of as "tampered" later.

The state file is rewritten atomically (temp file, fsync, rename) under an advisory lock, and
reloaded when another process (e.g. `arbiter vault rotate`) replaced it.
"""

import fcntl
import hashlib
import hmac
import json
import os
import stat
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from arbiter.vault.errors import (
    CiphertextTampered,
    CiphertextTruncated,
    KeyringStateError,
    MasterSecretError,
    WrongMasterSecret,
)
from arbiter.vault.keybackend import KeyBackend, KeyringStatus

MIN_SECRET_BYTES = 32
_STATE_FORMAT = 1
_NONCE = 12
_TAG = 16
_CHECK_LABEL = b"arbiter-vault/key-check"


def read_master_secret(path: Path) -> bytearray:
    """Read the master secret, refusing a short file or one others can read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise MasterSecretError(f"master secret file {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise MasterSecretError(f"master secret {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise MasterSecretError(
            f"master secret file {path} has mode {mode:04o}; it must be readable by its owner "
            "only (chmod 600)"
        )
    secret = bytearray(info.st_size)
    with path.open("rb", buffering=0) as handle:
        size = handle.readinto(secret)
    del secret[size:]
    if size < MIN_SECRET_BYTES:
        secret[:] = bytes(len(secret))
        raise MasterSecretError(
            f"master secret file {path} holds {size} bytes; "
            f"at least {MIN_SECRET_BYTES} are required"
        )
    return secret


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalKeyring(KeyBackend):
    """KEK versions derived from a master secret file; state in `<secret>.keyring.json`."""

    kind = "local"

    def __init__(self, master_secret_path: Path, state_path: Path | None = None) -> None:
        self._secret_path = Path(master_secret_path)
        self._state_path = Path(state_path or f"{master_secret_path}.keyring.json")
        self._lock_path = self._state_path.with_name(self._state_path.name + ".lock")
        self._secret = read_master_secret(self._secret_path)
        self._mutex = threading.RLock()
        self._keks: dict[int, AESGCM] = {}
        self._state: dict[str, Any] = {}
        self._identity: tuple[int, int] | None = None
        with self._locked():
            if not self._state_path.exists():
                self._state = {"format": _STATE_FORMAT, "active": 1, "min_decryption_version": 1,
                               "versions": {}}
                self._new_version(1)
                self._save()
            self._load()

    # State file

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex, open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> None:
        try:
            info = self._state_path.stat()
            state = json.loads(self._state_path.read_text())
            versions = {int(v): entry for v, entry in state["versions"].items()}
            active, min_dec = int(state["active"]), int(state["min_decryption_version"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyringStateError(
                f"keyring state file {self._state_path} is unreadable: {type(exc).__name__}"
            ) from None
        if (state.get("format") != _STATE_FORMAT or active not in versions
                or not min(versions) <= min_dec <= active):
            raise KeyringStateError(f"keyring state file {self._state_path} is inconsistent")
        keks = {}
        for version, entry in versions.items():
            kek = self._derive(version, bytes.fromhex(entry["salt"]))
            if not hmac.compare_digest(self._check_value(kek), entry["check"]):
                raise WrongMasterSecret(
                    f"master secret {self._secret_path} does not match keyring "
                    f"{self._state_path} (key check of version {version} failed)"
                )
            keks[version] = AESGCM(kek)
        self._state = state
        self._keks = keks
        self._identity = (info.st_ino, info.st_mtime_ns)

    def _refresh(self) -> None:
        # Another process may have replaced the state file (rename gives a new inode)
        try:
            info = self._state_path.stat()
        except FileNotFoundError:
            raise KeyringStateError(f"keyring state file {self._state_path} vanished") from None
        if (info.st_ino, info.st_mtime_ns) != self._identity:
            with self._locked():
                self._load()

    def _save(self) -> None:
        tmp = self._state_path.with_name(f".{self._state_path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self._state, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._state_path)
        dir_fd = os.open(self._state_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextmanager
    def _mutation(self) -> Iterator[dict[str, Any]]:
        with self._locked():
            self._load()
            yield self._state
            self._save()
            self._load()

    # Key derivation

    def _derive(self, version: int, salt: bytes) -> bytearray:
        kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                   info=f"arbiter-vault/kek/v{version}".encode())
        return bytearray(kdf.derive(bytes(self._secret)))

    @staticmethod
    def _check_value(kek: bytearray) -> str:
        return hmac.new(bytes(kek), _CHECK_LABEL, hashlib.sha256).hexdigest()[:32]

    def _new_version(self, version: int) -> None:
        salt = os.urandom(32)
        self._state["versions"][str(version)] = {
            "salt": salt.hex(),
            "check": self._check_value(self._derive(version, salt)),
            "created_at": _now(),
        }

    # KeyBackend primitives

    def status(self) -> KeyringStatus:
        self._refresh()
        with self._mutex:
            return KeyringStatus(
                versions=tuple(sorted(self._keks)),
                active=int(self._state["active"]),
                min_decryption_version=int(self._state["min_decryption_version"]),
            )

    def wrap(self, data_key: bytes | bytearray, context: bytes) -> tuple[int, bytes]:
        self._refresh()
        with self._mutex:
            version = int(self._state["active"])
            kek = self._keks[version]
        nonce = os.urandom(_NONCE)
        return version, nonce + kek.encrypt(nonce, bytes(data_key), _aad(version, context))

    def unwrap(self, version: int, wrapped: bytes, context: bytes) -> bytearray:
        status = self.status()
        status.check_decryptable(version)
        if len(wrapped) < _NONCE + _TAG:
            raise CiphertextTruncated(f"wrapped data key is {len(wrapped)} bytes, too short")
        with self._mutex:
            kek = self._keks[version]
        out = bytearray(len(wrapped) - _NONCE - _TAG)
        try:
            kek.decrypt_into(wrapped[:_NONCE], wrapped[_NONCE:], _aad(version, context), out)
        except InvalidTag:
            raise CiphertextTampered(
                f"wrapped data key failed authentication under key version {version}"
            ) from None
        return out

    def _create_version(self) -> int:
        with self._mutation() as state:
            version = max(int(v) for v in state["versions"]) + 1
            self._new_version(version)
        return version

    def _set_active(self, version: int) -> None:
        with self._mutation() as state:
            state["active"] = version

    def _set_min_decryption(self, version: int) -> None:
        with self._mutation() as state:
            state["min_decryption_version"] = version

    def _delete_below(self, version: int) -> None:
        with self._mutation() as state:
            state["versions"] = {v: e for v, e in state["versions"].items() if int(v) >= version}


def _aad(version: int, context: bytes) -> bytes:
    return struct.pack(">I", version) + context
