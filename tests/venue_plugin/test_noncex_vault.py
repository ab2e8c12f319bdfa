"""NonceX's own credential kind: onboarded with `arbiter vault put --kind noncex-hmac`, and
signing live requests through the vault that the emulator verifies."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arbiter.emulators.link import InProcessLink
from arbiter.platform.rpc import LocalStub
from arbiter.v1 import common_pb2
from arbiter.vault import TenantPolicy, build_vault_service, policies_of
from arbiter.vault.cli import app
from arbiter.vault.client import VaultCredentialError
from arbiter.venues.plugin import CredentialContext, VaultAccess
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

from .noncex.codec import API
from .noncex.config import NoncexSettings
from .noncex.credentials import KIND, auth_headers, noncex_credentials
from .noncex.emulator import NoncexEmulator

ACME = common_pb2.TenantContext(tenant_id="acme", tier="pro")
SECRET = bytes(range(32))
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.fixture
def master_secret(tmp_path: Path) -> Path:
    path = tmp_path / "master.key"
    path.write_bytes(os.urandom(32))
    path.chmod(0o600)
    return path


def test_vault_put_takes_the_kind_the_test_venue_declares(tmp_path: Path,
                                                          master_secret: Path) -> None:
    base = ["--store", str(tmp_path / "v.db"), "--master-secret", str(master_secret)]
    runner = CliRunner()
    put = runner.invoke(app, [*base, "put", "acme", "nx", "--kind", KIND, "--key-id", "nx-7",
                              "--from", "-"], input=base64.b64encode(SECRET).decode())
    assert put.exit_code == 0, put.output
    assert "stored acme/nx kind=noncex-hmac public_id=nx-7" in put.stdout
    short = runner.invoke(app, [*base, "put", "acme", "nx", "--kind", KIND, "--key-id", "k",
                                "--from", "-"], input=base64.b64encode(b"short").decode())
    assert short.exit_code == 1 and "secret is 5 bytes, at least 32" in short.output
    unknown = runner.invoke(app, [*base, "put", "acme", "x", "--kind", "nope", "--from", "-"],
                            input="x")
    assert unknown.exit_code == 1
    assert "unknown credential kind 'nope'" in unknown.output
    assert all(kind in unknown.output for kind in (KIND, "kalshi-rsa", "polymarket-eoa"))


async def test_live_credentials_sign_through_the_vault_and_the_venue_verifies(
    master_secret: Path,
) -> None:
    service = build_vault_service(":memory:", master_secret, "local",
                                  policies=policies_of(TenantPolicy("acme", 1, 1)))
    try:
        service.vault.put("ops", "acme", "noncex", KIND, base64.b64encode(SECRET), "nx-7")
        service.vault.put("ops", "acme", "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
        emulator = NoncexEmulator()
        emulator.secrets["nx-7"] = SECRET  # the key as the venue issued it
        link = InProcessLink(emulator)
        vault = VaultAccess(LocalStub(service.servicer), ACME)  # type: ignore[arg-type]
        creds = await noncex_credentials(CredentialContext("live", link, NoncexSettings(), vault))
        assert creds.key_id == "nx-7"
        path, now = f"{API}/nonce", time.time_ns() // 1_000_000
        status, _ = await link.request("GET", path,
                                       headers=await auth_headers(creds, now, "GET", path))
        assert status == 200
        # the venue's own policy, registered with its kind: its API only, timestamped now
        with pytest.raises(VaultCredentialError, match="refused by check 'path'"):
            await auth_headers(creds, now, "POST", "/v2/withdraw")
        with pytest.raises(VaultCredentialError, match="refused by check 'timestamp'"):
            await auth_headers(creds, 1, "GET", path)
        with pytest.raises(VaultCredentialError, match="it is a polymarket-eoa credential, "
                                                       "this signer needs a noncex-hmac"):
            await noncex_credentials(CredentialContext(
                "live", link, NoncexSettings(credential="poly"), vault))
    finally:
        service.close()
