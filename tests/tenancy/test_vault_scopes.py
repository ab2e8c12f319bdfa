"""One vault, several tenants: each is signed for within the scope of its own configuration
(its pairs' tokens, its risk limits), as the composition root builds the vault service."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import yaml
from vault.payloads import HARDHAT_ADDRESS, now_ms, order, tenant

from arbiter.platform.config import DEFAULT_PAIRS, ConfigError, load_config
from arbiter.platform.rpc import LocalStub
from arbiter.topology import builders
from arbiter.topology.signing_scope import tenant_signing_policy
from arbiter.vault.client import VaultCredentialError, vault_credential
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA, VaultEoaSigner
from arbiter.venues.polymarket.signing import ExchangeDomain

HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ACME_TOKEN = DEFAULT_PAIRS[0]["a"]["yes_token"]
RIVAL_TOKEN = "777"
RIVAL_PAIR = {"pair_id": "rival-only", "a": {"venue": "polymarket",
                                             "condition_id": "0x" + "ab" * 32,
                                             "yes_token": RIVAL_TOKEN, "no_token": "778"},
              "b": {"venue": "kalshi", "ticker": "KXRIVAL"}}
DOMAIN = ExchangeDomain.for_market(neg_risk=False)


def test_a_tenants_scope_is_its_pairs_instruments_and_its_risk_limits() -> None:
    config = load_config(environ={}, overrides={
        "tenant.id": "rival", "market.pairs": [RIVAL_PAIR],
        "risk.max_exposure_usd": "250", "risk.max_position_per_market": "40"})
    policy = tenant_signing_policy(config)
    assert policy.tenant_id == "rival"
    assert policy.venue("polymarket").instruments == {"0x" + "ab" * 32, RIVAL_TOKEN, "778"}
    assert "KXRIVAL" in policy.venue("kalshi").instruments
    assert (policy.max_order_notional_micros, policy.max_order_qty_micros) == (
        250_000_000, 40_000_000)
    assert policy.venue("noncex").instruments == frozenset()  # a venue it does not trade


async def test_a_shared_vault_signs_each_tenant_within_its_own_scope(tmp_path: Path) -> None:
    secret = tmp_path / "master.key"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    rival_file = tmp_path / "rival.yaml"
    rival_file.write_text(yaml.safe_dump({"tenant": {"id": "rival"},
                                          "market": {"pairs": [RIVAL_PAIR]}}))
    config = load_config(environ={}, overrides={
        "tenant.id": "acme", "vault.store_path": str(tmp_path / "vault.db"),
        "vault.master_secret_path": str(secret), "vault.tenant_configs": [str(rival_file)]})
    async with contextlib.AsyncExitStack() as stack:
        service = await builders.build_vault(config, stack)
        for tenant_id in ("acme", "rival"):
            service.vault.put("ops", tenant_id, "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())

        async def signer(tenant_id: str) -> VaultEoaSigner:
            return VaultEoaSigner(await vault_credential(
                LocalStub(service.servicer), tenant(tenant_id), "poly",  # type: ignore[arg-type]
                kind=POLYMARKET_EOA))

        acme, rival = await signer("acme"), await signer("rival")
        assert acme.address == rival.address == HARDHAT_ADDRESS
        for who, token in ((acme, ACME_TOKEN), (rival, RIVAL_TOKEN)):
            assert len(await who.sign_order(order(now_ms(), token_id=int(token)), DOMAIN)) == 65
        for who, token in ((acme, RIVAL_TOKEN), (rival, ACME_TOKEN)):  # the other's market
            with pytest.raises(VaultCredentialError, match="refused by check 'token'"):
                await who.sign_order(order(now_ms(), token_id=int(token)), DOMAIN)
        service.vault.put("ops", "zeta", "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
        zeta = await signer("zeta")  # stored and described, but no scope: signs nothing
        with pytest.raises(VaultCredentialError, match="no signing policy for tenant 'zeta'"):
            await zeta.sign_clob_auth(now_ms() // 1000, 0, 137)


async def test_a_tenant_listed_twice_stops_the_vault_at_start(tmp_path: Path) -> None:
    twin = tmp_path / "acme.yaml"
    twin.write_text(yaml.safe_dump({"tenant": {"id": "acme"}}))
    config = load_config(environ={}, overrides={"tenant.id": "acme",
                                                "vault.tenant_configs": [str(twin)]})
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(ConfigError, match="is tenant 'acme', whose scope the vault "
                                              "already has"):
            await builders.build_vault(config, stack)
