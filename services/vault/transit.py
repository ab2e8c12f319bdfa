"""HashiCorp Vault Transit backend (distributed topology) through `hvac`.

Transit keeps the KEKs; this process only ever sees data keys. Mapping of the life cycle:
- active version     = `min_encryption_version` (pinned before each `rotate`, so a new version
                       stays pending until activated); every wrap names it explicitly.
- retire             = `min_decryption_version`.
- delete retired     = `trim` to `min_available_version` (the key material is destroyed).
The wrap is bound to tenant and credential through Transit's `associated_data` (AES-GCM keys).

Auth: Kubernetes service-account login for pods (re-done once when the token expires), a plain
token for development.
"""

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import hvac
import requests
from hvac import exceptions as hvac_errors

from arbiter.vault.errors import (
    BackendUnavailable,
    CiphertextTampered,
    KeyringStateError,
)
from arbiter.vault.keybackend import KeyBackend, KeyringStatus

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
T = TypeVar("T")


@dataclass(frozen=True)
class TransitSettings:
    """Where Transit is and how to log in. `token` wins; else Kubernetes auth with `k8s_role`."""

    url: str
    key_name: str = "arbiter-credentials"
    mount_point: str = "transit"
    token: str | None = None
    k8s_role: str | None = None
    k8s_mount_point: str = "kubernetes"
    k8s_token_path: Path = SERVICE_ACCOUNT_TOKEN

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"TransitSettings(url={self.url!r}, key_name={self.key_name!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, url: str = "", role: str = "",
                 key_name: str = "", mount_point: str = "") -> "TransitSettings":
        """Given values (the config's `vault.*`) first, else VAULT_ADDR and the
        ARBITER_VAULT_TRANSIT_* / _K8S_ROLE variables; the token only ever from VAULT_TOKEN,
        so no secret sits in a config file."""
        url = url or env.get("VAULT_ADDR", "")
        if not url:
            raise BackendUnavailable("the transit backend needs vault.addr or VAULT_ADDR")
        return cls(
            url=url,
            key_name=key_name or env.get("ARBITER_VAULT_TRANSIT_KEY", cls.key_name),
            mount_point=mount_point or env.get("ARBITER_VAULT_TRANSIT_MOUNT", cls.mount_point),
            token=env.get("VAULT_TOKEN") or None,
            k8s_role=role or env.get("ARBITER_VAULT_K8S_ROLE") or None,
        )


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(bytes(data)).decode()


class TransitKeyBackend(KeyBackend):
    """`KeyBackend` on a Transit key; creates the key on first use."""

    kind = "transit"

    def __init__(self, settings: TransitSettings, client: hvac.Client | None = None) -> None:
        self._settings = settings
        self._client = client or hvac.Client(url=settings.url)
        self._login()
        self._call(self._ensure_key)

    def _login(self) -> None:
        if self._settings.token:
            self._client.token = self._settings.token
        elif self._settings.k8s_role:
            jwt = self._settings.k8s_token_path.read_text().strip()
            self._client.auth.kubernetes.login(
                self._settings.k8s_role, jwt, mount_point=self._settings.k8s_mount_point
            )
        else:
            raise BackendUnavailable("transit backend needs a token or a Kubernetes auth role")

    def _call(self, operation: Callable[[], T]) -> T:
        try:
            try:
                return operation()
            except hvac_errors.Forbidden:
                if not self._settings.k8s_role:
                    raise
                self._login()  # service-account login tokens expire; log in again once
                return operation()
        except (hvac_errors.VaultError, requests.RequestException) as exc:
            raise BackendUnavailable(
                f"Vault transit at {self._settings.url} failed: {type(exc).__name__}"
            ) from None

    @property
    def _transit(self) -> Any:
        return self._client.secrets.transit

    def _ensure_key(self) -> None:
        try:
            self._read()
        except hvac_errors.InvalidPath:
            self._ensure_mount()
            self._transit.create_key(self._settings.key_name, key_type="aes256-gcm96",
                                     mount_point=self._settings.mount_point)

    def _ensure_mount(self) -> None:
        """A fresh (development) server has no Transit engine: mount it when this token may.
        A production token usually may not; there the mount comes with the policy."""
        try:
            mounts = self._client.sys.list_mounted_secrets_engines()["data"]
        except hvac_errors.Forbidden:
            return
        if f"{self._settings.mount_point}/" not in mounts:
            self._client.sys.enable_secrets_engine("transit", path=self._settings.mount_point)

    def _read(self) -> dict[str, Any]:
        response = self._transit.read_key(self._settings.key_name,
                                          mount_point=self._settings.mount_point)
        return response["data"]

    def _configure(self, **config: int) -> None:
        self._call(lambda: self._transit.update_key_configuration(
            self._settings.key_name, mount_point=self._settings.mount_point, **config))

    def status(self) -> KeyringStatus:
        data = self._call(self._read)
        # `keys` omits archived versions; versions run contiguously from min_available_version
        latest = int(data["latest_version"])
        if latest < 1:
            raise KeyringStateError(f"transit key {self._settings.key_name!r} has no versions")
        return KeyringStatus(
            versions=tuple(range(max(1, int(data.get("min_available_version") or 0)), latest + 1)),
            active=int(data.get("min_encryption_version") or data["latest_version"]),
            min_decryption_version=int(data["min_decryption_version"]),
        )

    def wrap(self, data_key: bytes | bytearray, context: bytes) -> tuple[int, bytes]:
        active = self.status().active
        response = self._call(lambda: self._transit.encrypt_data(
            self._settings.key_name, plaintext=_b64(data_key), key_version=active,
            associated_data=_b64(context), mount_point=self._settings.mount_point))
        return active, response["data"]["ciphertext"].encode()

    def unwrap(self, version: int, wrapped: bytes, context: bytes) -> bytearray:
        if not wrapped.startswith(f"vault:v{version}:".encode()) or not wrapped.isascii():
            raise CiphertextTampered(f"wrapped data key is not a transit v{version} ciphertext")

        def decrypt() -> dict[str, Any] | None:
            try:
                return self._transit.decrypt_data(
                    self._settings.key_name, ciphertext=wrapped.decode("ascii"),
                    associated_data=_b64(context), mount_point=self._settings.mount_point)
            except hvac_errors.InvalidRequest:
                return None

        # One round trip on the hot path; the key status is read only to explain a refusal
        response = self._call(decrypt)
        if response is None:
            self.status().check_decryptable(version)
            raise CiphertextTampered(
                f"transit refused to unwrap the data key under version {version}"
            )
        return bytearray(base64.b64decode(response["data"]["plaintext"]))

    def _create_version(self) -> int:
        status = self.status()
        # Pin encryption to the current version so the new one stays pending
        self._configure(min_encryption_version=status.active)
        self._call(lambda: self._transit.rotate_key(self._settings.key_name,
                                                     mount_point=self._settings.mount_point))
        return self.status().versions[-1]

    def _set_active(self, version: int) -> None:
        self._configure(min_encryption_version=version)

    def _set_min_decryption(self, version: int) -> None:
        self._configure(min_decryption_version=version)

    def _delete_below(self, version: int) -> None:
        self._call(lambda: self._transit.trim_key(self._settings.key_name, min_version=version,
                                                   mount_point=self._settings.mount_point))
