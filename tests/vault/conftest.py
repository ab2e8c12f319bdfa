"""Vault fixtures: a master secret file, both key backends, both credential stores, a vault,
and test keys."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tenancy.pg_server import Postgres, shared_postgres  # tests/ is on sys.path (rootdir)

from arbiter.vault.keybackend import KeyBackend
from arbiter.vault.local_keyring import LocalKeyring
from arbiter.vault.postgres_repository import PostgresCredentialRepository
from arbiter.vault.repository import CredentialRepository
from arbiter.vault.signer import Signer
from arbiter.vault.sqlite_repository import SqliteCredentialRepository
from arbiter.vault.transit import TransitKeyBackend, TransitSettings
from arbiter.vault.vault import CredentialVault

from .openbao import vault_api
from .payloads import scope

# Public Hardhat account #0, the key of the Polymarket SDK test vectors (protocol-facts A3)
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
API_SECRET = "A" * 43 + "="  # protocol-facts A4 vector secret


def write_secret(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def master_secret(tmp_path: Path) -> Path:
    return write_secret(tmp_path / "master.key", os.urandom(32))


@pytest.fixture
def local_keyring(master_secret: Path) -> LocalKeyring:
    return LocalKeyring(master_secret)


@pytest.fixture(scope="session")
def transit_env() -> Iterator[dict[str, str]]:
    """A live Vault API for the Transit contract (see `vault_api`)."""
    with vault_api() as env:
        # no transit mount yet: the backend mounts it itself, as on a fresh dev server
        yield env


def _transit_backend(env: dict[str, str]) -> Iterator[KeyBackend]:
    base = TransitSettings.from_env(env)
    settings = TransitSettings(url=base.url, key_name=f"arbiter-test-{uuid.uuid4().hex[:12]}",
                               mount_point=base.mount_point, token=base.token,
                               k8s_role=base.k8s_role)
    backend = TransitKeyBackend(settings)
    yield backend
    transit = backend._client.secrets.transit  # test cleanup only
    transit.update_key_configuration(settings.key_name, deletion_allowed=True,
                                     mount_point=settings.mount_point)
    transit.delete_key(settings.key_name, mount_point=settings.mount_point)


@pytest.fixture(params=["local", "transit"])
def backend(request: pytest.FixtureRequest, master_secret: Path) -> Iterator[KeyBackend]:
    """Every key backend; the contract suite runs once per backend."""
    if request.param == "local":
        yield LocalKeyring(master_secret)
    else:
        yield from _transit_backend(request.getfixturevalue("transit_env"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The same server tests/tenancy uses (one per process, see `shared_postgres`)."""
    with shared_postgres() as server:
        yield server


@pytest.fixture
def vault_dsn(postgres: Postgres) -> str:
    """The vault role's DSN on an empty credential store."""
    with psycopg.connect(postgres.dsn("arbiter_owner"), autocommit=True) as conn:
        # RLS is forced even for the owner; TRUNCATE is the one policy-free way to empty it.
        conn.execute("TRUNCATE credentials_meta, credential_ciphertext, audit")
    return postgres.dsn("arbiter_vault")


@pytest.fixture(params=["sqlite", "postgres"])
def repository(request: pytest.FixtureRequest) -> Iterator[CredentialRepository]:
    """Every credential store, empty: the vault and repository suites run once per store."""
    repo: CredentialRepository
    if request.param == "sqlite":
        repo = SqliteCredentialRepository(":memory:")
    else:
        repo = PostgresCredentialRepository.open(request.getfixturevalue("vault_dsn"),
                                                 max_size=4)
    yield repo
    repo.close()


@pytest.fixture
def vault(backend: KeyBackend, repository: CredentialRepository) -> CredentialVault:
    """A vault on every key backend and store: rotation and signing run against Transit and
    PostgreSQL too. The `repository` fixture closes the store."""
    return CredentialVault(backend, repository)


NOW_MS = 1_765_000_000_000
"""The vault's clock in the domain-level tests: fixed, so a vector's timestamp can be now."""


@pytest.fixture
def signer(vault: CredentialVault) -> Signer:
    """Every tenant gets the test scope (`payloads.scope`); the clock stands at NOW_MS."""
    return Signer(vault, scope, now_ms=lambda: NOW_MS)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="session")
def rsa_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return pem(rsa_key)


def api_creds_json(secret: str = API_SECRET) -> bytes:
    return f'{{"apiKey": "key-1", "secret": "{secret}", "passphrase": "pass-1"}}'.encode()
