"""The store credentials a tenant's pods read, copied into the tenant's namespace.

Secrets do not cross namespaces: pods in `desk-acme` cannot read the release's store Secret.
The operator copies the one key they read (the DSN) from the Secret the chart names for the
tenant's own database login role into `<tenant>-store` next to the pods. The copy is owned by the Tenant (it goes with it) and is
re-copied on every reconciliation, the periodic resync included, so a rotated source reaches
it. Only named Secrets are read and written: the operator never lists Secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from arbiter.operator.children import (
    MANAGED_BY,
    NAMED_KINDS,
    STORE_SECRET_KEY,
    TENANT_LABEL,
    Manifest,
    store_secret_name,
)
from arbiter.operator.conditions import STORE_CREDENTIALS, Check
from arbiter.operator.kube import KubeClient, resource_path
from arbiter.operator.platform import StoreSource

COPIED = "Copied"
SOURCE_MISSING = "StoreSecretMissing"
KEY_MISSING = "StoreSecretKeyMissing"
NOT_CONFIGURED = "NoStore"  # the platform names no store: pods use the config's default


def store_secret(tenant: Mapping[str, Any], value: str, source: str) -> Manifest:
    """The copy (`value`: the source key's base64 data as read), owned by the Tenant."""
    name = tenant["metadata"]["name"]
    api_version, _ = NAMED_KINDS["Secret"]
    manifest: Manifest = {
        "apiVersion": api_version,
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": store_secret_name(name),
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, TENANT_LABEL: name},
            "annotations": {"arbiter.dev/copied-from": source},
        },
        "data": {STORE_SECRET_KEY: value},
    }
    kopf.adopt(manifest, owner=dict(tenant))
    return manifest


async def store_copy(
    client: KubeClient, source: StoreSource | None, tenant: Mapping[str, Any]
) -> tuple[Check, Manifest | None]:
    """The copy to apply, read from the tenant's source Secret, and its check.

    No source Secret: no copy (a copy already there stays, so running pods keep working) and
    a failed check naming the Secret."""
    name = tenant["metadata"]["name"]
    if source is None:
        return Check(STORE_CREDENTIALS, True, NOT_CONFIGURED, "the platform names no store "
                     "Secret"), None
    secret = source.source(name)
    where = f"{source.namespace}/{secret.name}"
    live = await client.get(resource_path("v1", "secrets", source.namespace, secret.name))
    if live is None:
        return Check(STORE_CREDENTIALS, False, SOURCE_MISSING,
                     f"no store Secret to copy into Secret {store_secret_name(name)}: {where} "
                     "does not exist (provision the tenant's database role)"), None
    value = (live.get("data") or {}).get(secret.key)
    if not value:
        return Check(STORE_CREDENTIALS, False, KEY_MISSING,
                     f"Secret {where} has no key {secret.key!r}"), None
    return (Check(STORE_CREDENTIALS, True, COPIED,
                  f"{where} key {secret.key!r} is in Secret {store_secret_name(name)}"),
            store_secret(tenant, value, f"{where}#{secret.key}"))


async def delete_store_copy(client: KubeClient, namespace: str, tenant: str) -> None:
    """The finalizer's part: the copy goes with the Tenant (as its garbage collection would)."""
    await client.delete(resource_path("v1", "secrets", namespace, store_secret_name(tenant)))
