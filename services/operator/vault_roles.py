"""Each tenant's Vault Kubernetes-auth role and policy, created with the Tenant, removed with it.

The role `arbiter-tenant-<name>` (children.vault_role, the `vault.role` of the tenant's
config) binds the tenant's ServiceAccount in the Tenant's namespace, and nothing else, to the
policy of the same name. The policy grants that tenant's own Transit key only (the platform's
key-name template, `arbiter-tenant-{tenant}` by default): encrypt and decrypt with it and read
its metadata. Another tenant's key, the shared services' key and every other path stay denied.

The token comes from a Secret the chart names, read by name through the API. hvac is
synchronous, so calls run in a worker thread: a slow Vault never stalls other Tenants.
Failures come back as a failed check naming the error, for the Tenant's VaultRoleReady
condition and a retry; they never escape as a crash.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable
from pathlib import Path

import hvac
import requests
from hvac import exceptions as hvac_errors

from arbiter.operator.children import vault_role
from arbiter.operator.conditions import VAULT_ROLE, Check
from arbiter.operator.kube import KubeClient, resource_path
from arbiter.operator.platform import TENANT_PLACEHOLDER, VaultSettings

CREATED = "RoleCreated"
UNAVAILABLE = "VaultUnavailable"
TOKEN_MISSING = "VaultTokenMissing"
NOT_MANAGED = "NotManaged"  # the platform gives the operator no Vault: roles come from elsewhere
TIMEOUT = 10  # seconds per Vault call
SERVICE_ACCOUNT_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")


class VaultRoleError(Exception):
    """Vault refused or could not be reached; the message says which and why."""


def tenant_key(tenant: str, settings: VaultSettings) -> str:
    """The name of the tenant's own Transit key."""
    return settings.tenant_key.replace(TENANT_PLACEHOLDER, tenant)


def tenant_policy(tenant: str, settings: VaultSettings) -> str:
    """The HCL of the tenant's policy: its own Transit key, nothing more. Tenant names are
    DNS labels, so they need no quoting inside the paths."""
    mount, key = settings.transit_mount, tenant_key(tenant, settings)
    return "\n".join([
        f"# Tenant {tenant}: written by the Arbiter operator; removed with the Tenant.",
        f'path "{mount}/encrypt/{key}" {{ capabilities = ["update"] }}',
        f'path "{mount}/decrypt/{key}" {{ capabilities = ["update"] }}',
        f'path "{mount}/keys/{key}" {{ capabilities = ["read"] }}',
        "",
    ])


def _client(settings: VaultSettings, token: str) -> hvac.Client:
    return hvac.Client(url=settings.addr, token=token, timeout=TIMEOUT)


def _ensure_auth_mount(client: hvac.Client, settings: VaultSettings) -> None:
    """A fresh (development) Vault has no Kubernetes auth: enable it, pointed at the cluster's
    API with the operator's own CA (the bundled Vault mounts no service account), when this
    token may. A production token usually may not; there the mount exists already."""
    try:
        mounts = client.sys.list_auth_methods()["data"]
    except hvac_errors.Forbidden:
        return  # may not look: creating the role will say whether the mount is there
    if f"{settings.auth_mount}/" in mounts:
        return
    ca = SERVICE_ACCOUNT_CA.read_text() if SERVICE_ACCOUNT_CA.exists() else None
    client.sys.enable_auth_method("kubernetes", path=settings.auth_mount)
    client.auth.kubernetes.configure(settings.kubernetes_host, kubernetes_ca_cert=ca,
                                     mount_point=settings.auth_mount)


def _create(settings: VaultSettings, token: str, tenant: str, namespace: str,
            service_account: str) -> None:
    client = _client(settings, token)
    name = vault_role(tenant)
    _ensure_auth_mount(client, settings)
    client.sys.create_or_update_policy(name, tenant_policy(tenant, settings))
    client.auth.kubernetes.create_role(
        name, bound_service_account_names=[service_account],
        bound_service_account_namespaces=[namespace], policies=[name],
        mount_point=settings.auth_mount)


def _delete(settings: VaultSettings, token: str, tenant: str) -> None:
    client = _client(settings, token)
    name = vault_role(tenant)
    try:
        client.auth.kubernetes.delete_role(name, mount_point=settings.auth_mount)
    except hvac_errors.InvalidPath:
        pass  # no auth mount any more: no role either
    client.sys.delete_policy(name)


async def _run(operation: Callable[..., None], settings: VaultSettings, *args: str) -> None:
    try:
        await asyncio.to_thread(operation, settings, *args)
    except (hvac_errors.VaultError, requests.RequestException) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise VaultRoleError(f"Vault at {settings.addr}: {type(exc).__name__}: {detail}") from None


async def _token(client: KubeClient, settings: VaultSettings) -> str:
    secret = settings.token_secret
    where = f"{settings.namespace}/{secret.name}"
    live = await client.get(resource_path("v1", "secrets", settings.namespace, secret.name))
    value = ((live or {}).get("data") or {}).get(secret.key)
    if live is None or not value:
        raise VaultRoleError(f"the operator's Vault token Secret {where} "
                             + ("does not exist" if live is None else f"has no key {secret.key!r}"))
    try:
        return base64.b64decode(value, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        raise VaultRoleError(f"Secret {where} key {secret.key!r} is not a token") from None


async def ensure_role(client: KubeClient, settings: VaultSettings | None, tenant: str,
                      namespace: str, service_account: str) -> Check:
    """Create or update the tenant's policy and role; the check says whether it worked."""
    if settings is None:
        return Check(VAULT_ROLE, True, NOT_MANAGED, "the operator manages no Vault roles "
                     "(platform.vault.tokenSecret unset)")
    try:
        token = await _token(client, settings)
    except VaultRoleError as exc:
        return Check(VAULT_ROLE, False, TOKEN_MISSING, str(exc))
    try:
        await _run(_create, settings, token, tenant, namespace, service_account)
    except VaultRoleError as exc:
        return Check(VAULT_ROLE, False, UNAVAILABLE, str(exc))
    return Check(VAULT_ROLE, True, CREATED,
                 f"role {vault_role(tenant)} binds {namespace}/{service_account} to policy "
                 f"{vault_role(tenant)} (Transit key {tenant_key(tenant, settings)})")


async def delete_role(client: KubeClient, settings: VaultSettings | None, tenant: str) -> None:
    """Remove the tenant's role and policy; raises VaultRoleError (the finalizer retries)."""
    if settings is None:
        return
    await _run(_delete, settings, await _token(client, settings), tenant)
