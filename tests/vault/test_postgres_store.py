"""The PostgreSQL credential store: who may open it, and compare-and-swap under real locks.

Isolation between tenants with hand-written SQL is tests/tenancy/test_vault_store_rls.py.
"""

import contextlib
import socket
import threading
from pathlib import Path

import psycopg
import pytest
from tenancy.pg_server import Postgres

from arbiter.platform import rpc
from arbiter.platform.config import load_config
from arbiter.platform.store import StoreError, UnsafeRole
from arbiter.topology.distributed import build_vault
from arbiter.v1 import common_pb2, signing_pb2, signing_pb2_grpc
from arbiter.vault.bootstrap import build_vault_service
from arbiter.vault.errors import StoreUnavailable
from arbiter.vault.postgres_repository import PostgresCredentialRepository
from arbiter.vault.repository import CredentialMetadata
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

from .conftest import HARDHAT_ADDRESS, HARDHAT_KEY

pytestmark = pytest.mark.postgres

T1 = "2025-01-02T03:04:05.678+00:00"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("role", "error", "message"), [
    ("postgres", UnsafeRole,
     "'postgres' is a superuser and has BYPASSRLS.*connect the vault as arbiter_vault"),
    ("arbiter_owner", UnsafeRole, "'arbiter_owner' owns the row-level-secured tables"),
    ("arbiter_t_tenant-a", StoreError, ("role 'arbiter_t_tenant-a' lacks the vault's "
                                        "privileges on credentials_meta, credential_ciphertext,"
                                        " audit; connect the vault as arbiter_vault")),
])
def test_open_refuses_a_role_that_bypasses_rls_or_is_not_the_vaults(
    postgres: Postgres, role: str, error: type[Exception], message: str,
) -> None:
    with pytest.raises(error, match=message):
        PostgresCredentialRepository.open(postgres.dsn(role))


def test_an_unreachable_store_is_named_without_its_password() -> None:
    dsn = "host=127.0.0.1 port=1 dbname=arbiter user=arbiter_vault password=hunter2"
    with pytest.raises(StoreError,
                       match="credential store at arbiter_vault@127.0.0.1:1/arbiter") as caught:
        PostgresCredentialRepository.open(dsn, timeout_s=0.5)
    assert "hunter2" not in str(caught.value)


def test_a_concurrent_put_wins_over_a_reseal(postgres: Postgres, vault_dsn: str) -> None:
    """The reseal's UPDATE waits for the put's row lock, then re-checks the revision."""
    repo = PostgresCredentialRepository.open(vault_dsn)
    try:
        put = repo.put(CredentialMetadata("acme", "poly", POLYMARKET_EOA, "pub",
                                          1, 0, T1, T1), b"v1")
        results: list[bool] = []
        with psycopg.connect(vault_dsn) as writer:
            # Prepare: a put in flight, holding the row
            writer.execute("SELECT set_config('arbiter.tenant_id', 'acme', true)")
            writer.execute("UPDATE credentials_meta SET revision = revision + 1")
            writer.execute("UPDATE credential_ciphertext SET ciphertext = 'from-put'")
            # Act: the reseal read revision 1 before the put and now tries to swap
            reseal = threading.Thread(target=lambda: results.append(repo.replace_ciphertext(
                "acme", "poly", put.revision, 2, b"resealed", T1)))
            reseal.start()
            reseal.join(0.5)
            assert reseal.is_alive(), "the swap must wait for the row lock"
            writer.commit()
            reseal.join(10)
        # Assert
        assert results == [False]
        stored = repo.get("acme", "poly")
        assert stored is not None
        assert (stored.metadata.revision, stored.metadata.key_version, stored.ciphertext) == (
            2, 1, b"from-put")
    finally:
        repo.close()


def test_build_vault_service_uses_the_dsn(master_secret: Path, vault_dsn: str) -> None:
    service = build_vault_service(None, master_secret, "local", store_dsn=vault_dsn)
    try:
        service.vault.put("ops", "acme", "poly", POLYMARKET_EOA,
                          HARDHAT_KEY.encode())
    finally:
        service.close()
    repo = PostgresCredentialRepository.open(vault_dsn)
    try:
        assert [m.public_id for m in repo.list_metadata("acme")] == [HARDHAT_ADDRESS]
    finally:
        repo.close()


def test_a_store_needs_a_path_or_a_dsn(master_secret: Path) -> None:
    with pytest.raises(ValueError, match="needs store_path \\(SQLite\\) or store_dsn"):
        build_vault_service(None, master_secret, "local")


async def test_serve_vault_signs_from_the_postgres_store(
    postgres: Postgres, vault_dsn: str, master_secret: Path,
) -> None:
    """`arbiter serve vault` wiring: `vault.store_dsn` (and `store.migrate_dsn`) from config."""
    # Prepare: a key put by the CLI's code path into the shared store
    seeding = build_vault_service(None, master_secret, "local", store_dsn=vault_dsn)
    seeding.vault.put("ops", "acme", "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
    seeding.close()
    port = free_port()
    config = load_config(environ={}, overrides={
        "grpc.port": port, "vault.master_secret_path": str(master_secret),
        "vault.store_path": "/nonexistent/never-opened.db", "vault.store_dsn": vault_dsn,
        "store.migrate_dsn": postgres.dsn("arbiter_owner")})
    # Act
    async with contextlib.AsyncExitStack() as stack:
        await build_vault(config, stack)
        acme = common_pb2.TenantContext(tenant_id="acme", tier="pro")
        async with rpc.insecure_channel(f"127.0.0.1:{port}", acme) as channel:
            info = await signing_pb2_grpc.SignerStub(channel).GetCredentialInfo(
                signing_pb2.CredentialInfoRequest(tenant=acme, credential_id="poly"))
    # Assert
    assert info.public_info["address"] == HARDHAT_ADDRESS


def test_a_lost_connection_is_unavailable_once_then_reconnects(
    postgres: Postgres, vault_dsn: str,
) -> None:
    repo = PostgresCredentialRepository.open(vault_dsn, min_size=1, max_size=1)
    try:
        assert repo.list_metadata("acme") == []
        with psycopg.connect(postgres.dsn("postgres"), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE usename = 'arbiter_vault'")
        with pytest.raises(StoreUnavailable, match="the credential store is unavailable"):
            repo.list_metadata("acme")
        assert repo.list_metadata("acme") == []
    finally:
        repo.close()
