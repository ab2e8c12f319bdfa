"""Tenants' Vault roles against a live OpenBao: what the policy the operator writes lets a
tenant's token do (its own Transit key, nothing else), the development path that enables a
missing auth mount, and a missing token Secret. The token Secret is read through kmock."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import hvac
import kmock
import kopf
import pytest
from hvac import exceptions as hvac_errors

from arbiter.operator import vault_roles
from arbiter.operator.kube import KubeClient
from arbiter.operator.platform import SecretKey, VaultSettings

from .conftest import dummy_ca, policy, role

RELEASE_NS = "trading"


@pytest.fixture()
async def kube(kmock: kmock.KubernetesEmulator) -> AsyncIterator[KubeClient]:
    """The operator's own API client against kmock, which holds the token Secret."""
    kmock.resources["v1/secrets"] = kmock.ResourceInfo(
        kind="Secret", namespaced=True, verbs=["get", "create", "patch", "delete"])
    client = KubeClient()
    await client.login(kopf.ConnectionInfo(server=str(kmock.url).rstrip("/")))
    yield client
    await client.close()


async def put_token(kube: KubeClient, token: str) -> None:
    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "vault-token", "namespace": RELEASE_NS},
        "data": {"token": base64.b64encode(token.encode()).decode()}})


def settings(openbao: dict[str, str], auth_mount: str, transit_mount: str = "transit"
             ) -> VaultSettings:
    return VaultSettings(addr=openbao["VAULT_ADDR"], namespace=RELEASE_NS,
                         token_secret=SecretKey("vault-token", "token"), auth_mount=auth_mount,
                         transit_mount=transit_mount)


async def test_a_tenants_token_may_use_its_own_transit_key_and_nothing_else(
    kube: KubeClient, openbao: dict[str, str], vault: tuple[hvac.Client, str],
) -> None:
    root, mount = vault
    transit = f"transit-{uuid.uuid4().hex[:8]}"
    root.sys.enable_secrets_engine("transit", path=transit)
    acme, beta = (f"t{uuid.uuid4().hex[:8]}" for _ in range(2))
    for key in (f"arbiter-tenant-{acme}", f"arbiter-tenant-{beta}", "arbiter-credentials"):
        root.secrets.transit.create_key(key, mount_point=transit)
    await put_token(kube, openbao["VAULT_TOKEN"])
    config = settings(openbao, mount, transit)
    for tenant in (acme, beta):
        check = await vault_roles.ensure_role(kube, config, tenant, f"desk-{tenant}",
                                              f"{tenant}-execution")
        assert (check.type, check.ok, check.reason) == ("VaultRoleReady", True, "RoleCreated")
    assert role(vault, f"arbiter-tenant-{acme}")["bound_service_account_namespaces"] == [
        f"desk-{acme}"]

    # What a login through the role would get: a token with the role's policy.
    issued = root.auth.token.create(policies=[f"arbiter-tenant-{acme}"], ttl="5m")
    tenant = hvac.Client(url=openbao["VAULT_ADDR"], token=issued["auth"]["client_token"])
    plaintext = base64.b64encode(b"data key").decode()
    own = tenant.secrets.transit.encrypt_data(f"arbiter-tenant-{acme}", plaintext,
                                              mount_point=transit)
    assert tenant.secrets.transit.decrypt_data(
        f"arbiter-tenant-{acme}", own["data"]["ciphertext"], mount_point=transit
    )["data"]["plaintext"] == plaintext
    for key in (f"arbiter-tenant-{beta}", "arbiter-credentials"):  # another's, the shared one
        with pytest.raises(hvac_errors.Forbidden):
            tenant.secrets.transit.encrypt_data(key, plaintext, mount_point=transit)
    with pytest.raises(hvac_errors.Forbidden):  # nor may it widen its own access
        tenant.sys.create_or_update_policy(f"arbiter-tenant-{acme}", 'path "*" {}')

    # Offboarding removes the role and the policy: the issued token loses its key with it.
    await vault_roles.delete_role(kube, config, acme)
    assert role(vault, f"arbiter-tenant-{acme}") is None
    assert policy(vault, f"arbiter-tenant-{acme}") is None
    with pytest.raises(hvac_errors.Forbidden):
        tenant.secrets.transit.encrypt_data(f"arbiter-tenant-{acme}", plaintext,
                                            mount_point=transit)
    assert role(vault, f"arbiter-tenant-{beta}") is not None  # the other tenant keeps its own
    await vault_roles.delete_role(kube, config, beta)
    root.sys.disable_secrets_engine(transit)


async def test_a_missing_auth_mount_is_enabled_with_the_operators_ca(
    kube: KubeClient, openbao: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh development Vault: the root token may enable the mount, pointed at the API
    with the operator's own service-account CA (the bundled Vault mounts none)."""
    ca = tmp_path / "ca.crt"
    ca.write_text(dummy_ca())
    monkeypatch.setattr(vault_roles, "SERVICE_ACCOUNT_CA", ca)
    root = hvac.Client(url=openbao["VAULT_ADDR"], token=openbao["VAULT_TOKEN"])
    mount = f"fresh-{uuid.uuid4().hex[:8]}"
    await put_token(kube, openbao["VAULT_TOKEN"])
    try:
        check = await vault_roles.ensure_role(kube, settings(openbao, mount), "acme",
                                              "desk-acme", "acme-execution")
        assert check.ok, check.message
        config = root.auth.kubernetes.read_config(mount_point=mount)
        assert config["kubernetes_host"] == "https://kubernetes.default.svc"
        assert config["kubernetes_ca_cert"] == ca.read_text()
        assert role((root, mount), "arbiter-tenant-acme") is not None
    finally:
        await vault_roles.delete_role(kube, settings(openbao, mount), "acme")
        root.sys.disable_auth_method(mount)


async def test_a_missing_token_secret_is_named_not_raised(
    kube: KubeClient, openbao: dict[str, str], vault: tuple[hvac.Client, str],
) -> None:
    check = await vault_roles.ensure_role(kube, settings(openbao, vault[1]), "acme",
                                          "desk-acme", "acme-execution")
    assert (check.ok, check.reason) == (False, "VaultTokenMissing")
    assert check.message == "the operator's Vault token Secret trading/vault-token does not exist"
    assert role(vault, "arbiter-tenant-acme") is None
