"""Composition root of the vault service: backend + repository + vault + signer + servicer.

Plain arguments in, a ready `VaultService` out; the CLI and `arbiter serve vault` own config.
Constructors here do the I/O of opening the store and the keyring on purpose: a bad master
secret or an unreachable Vault must stop the process at start, not at the first signature.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import grpc

from arbiter.v1 import signing_pb2_grpc
from arbiter.vault.grpc_service import SignerService
from arbiter.vault.keybackend import KeyBackend
from arbiter.vault.local_keyring import LocalKeyring
from arbiter.vault.policy import NO_POLICIES, TenantPolicies
from arbiter.vault.postgres_repository import PostgresCredentialRepository
from arbiter.vault.repository import CredentialRepository
from arbiter.vault.rotation import Rotation
from arbiter.vault.signer import Signer
from arbiter.vault.sqlite_repository import SqliteCredentialRepository
from arbiter.vault.transit import TransitKeyBackend, TransitSettings
from arbiter.vault.vault import CredentialVault

BackendKind = Literal["local", "transit"]


@dataclass
class VaultService:
    vault: CredentialVault
    signer: Signer
    servicer: SignerService = field(init=False)

    def __post_init__(self) -> None:
        self.servicer = SignerService(self.signer, self.vault)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        signing_pb2_grpc.add_SignerServicer_to_server(self.servicer, server)

    def rotation(self, actor: str, batch_size: int = 100) -> Rotation:
        return Rotation(self.vault, actor, batch_size)

    def close(self) -> None:
        self.vault.close()


def open_backend(
    kind: BackendKind,
    master_secret_path: str | Path | None = None,
    keyring_path: str | Path | None = None,
    transit: TransitSettings | None = None,
) -> KeyBackend:
    if kind == "local":
        if master_secret_path is None:
            raise ValueError("backend 'local' needs master_secret_path")
        return LocalKeyring(Path(master_secret_path), Path(keyring_path) if keyring_path else None)
    if kind == "transit":
        if transit is None:
            raise ValueError("backend 'transit' needs transit settings")
        return TransitKeyBackend(transit)
    raise ValueError(f"backend must be 'local' or 'transit', was {kind!r}")


def open_repository(store_path: str | Path | None, store_dsn: str = "") -> CredentialRepository:
    """PostgreSQL (as arbiter_vault, row-level security per tenant) when `store_dsn` is given,
    else the SQLite file at `store_path` (`:memory:` allowed)."""
    if store_dsn:
        return PostgresCredentialRepository.open(store_dsn)
    if store_path is None or not str(store_path):
        raise ValueError("the credential store needs store_path (SQLite) or store_dsn "
                         "(PostgreSQL)")
    return SqliteCredentialRepository(store_path)


def build_vault_service(
    store_path: str | Path | None,
    master_secret_path: str | Path | None = None,
    backend: BackendKind = "local",
    *,
    keyring_path: str | Path | None = None,
    transit: TransitSettings | None = None,
    store_dsn: str = "",
    policies: TenantPolicies = NO_POLICIES,
) -> VaultService:
    """Open the key backend and the credential store (see `open_repository`) and wire the
    service; `policies` gives each tenant's signing scope (without one, a tenant's
    credentials can be stored and described but sign nothing)."""
    key_backend = open_backend(backend, master_secret_path, keyring_path, transit)
    vault = CredentialVault(key_backend, open_repository(store_path, store_dsn))
    return VaultService(vault, Signer(vault, policies))
