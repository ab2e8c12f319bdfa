"""Converge live child objects onto the desired manifests: create, patch what drifted, prune.

Every step compares before it writes, so re-running it is cheap and a no-op on a converged
tenant; that is what lets the operator call it from create, update, resume and drift events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from arbiter.operator.children import CHILD_KINDS, MANAGED_BY, TENANT_LABEL, Manifest
from arbiter.operator.kube import KubeClient, KubeError, manifest_path, resource_path


def is_subset(want: Any, have: Any) -> bool:
    """True when every field we set is live with our value (server-added fields are fine)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            key in have and is_subset(value, have[key]) for key, value in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(is_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    return bool(want == have)


async def apply(client: KubeClient, manifest: Manifest) -> str:
    """Make one child match its manifest; returns "created", "patched" or "unchanged"."""
    path = manifest_path(manifest)
    live = await client.get(path)
    if live is None:
        try:
            await client.create(manifest)
            return "created"
        except KubeError as exc:
            if exc.status != 409:  # 409: created concurrently (e.g. by a drift event)
                raise
            live = await client.get(path)
    if live is not None and is_subset(manifest, live):
        return "unchanged"
    await client.merge_patch(path, manifest)
    return "patched"


def _owned(tenant: str) -> dict[str, str]:
    return {TENANT_LABEL: tenant, "app.kubernetes.io/managed-by": MANAGED_BY}


async def _live_children(client: KubeClient, namespace: str, tenant: str) -> list[Manifest]:
    found: list[Manifest] = []
    for kind, (api_version, plural) in CHILD_KINDS.items():
        for item in await client.list(resource_path(api_version, plural, namespace), _owned(tenant)):
            metadata = {**item["metadata"], "namespace": namespace}
            found.append({**item, "kind": kind, "apiVersion": api_version, "metadata": metadata})
    return found


async def converge(
    client: KubeClient, namespace: str, tenant: str, desired: Iterable[Manifest]
) -> dict[str, int]:
    """Apply all desired children, then delete owned ones no longer desired.

    Pruning runs last so a failed apply never leaves a tenant with fewer children than before.
    """
    desired = list(desired)
    counts = {"created": 0, "patched": 0, "unchanged": 0, "deleted": 0}
    for manifest in desired:
        counts[await apply(client, manifest)] += 1
    wanted = {(m["kind"], m["metadata"]["name"]) for m in desired}
    for live in await _live_children(client, namespace, tenant):
        if (live["kind"], live["metadata"]["name"]) not in wanted:
            await client.delete(manifest_path(live))
            counts["deleted"] += 1
    return counts


async def delete_all(client: KubeClient, namespace: str, tenant: str) -> int:
    """Delete every child of a tenant (the finalizer path); returns how many were deleted."""
    children = await _live_children(client, namespace, tenant)
    for live in children:
        await client.delete(manifest_path(live))
    return len(children)


async def unavailable(client: KubeClient, namespace: str, tenant: str) -> list[str]:
    """The tenant's Deployments that do not yet run what their spec asks, as
    "name (available/wanted)": none pending means the execution plane is up."""
    pending: list[str] = []
    api_version, plural = CHILD_KINDS["Deployment"]
    for item in await client.list(resource_path(api_version, plural, namespace), _owned(tenant)):
        wanted = int(item.get("spec", {}).get("replicas", 1))
        status = item.get("status") or {}
        available = int(status.get("availableReplicas") or 0)
        generation = item.get("metadata", {}).get("generation")
        observed = status.get("observedGeneration")
        current = generation is None or (observed is not None and observed >= generation)
        if available < wanted or not current:
            pending.append(f"{item['metadata']['name']} ({available}/{wanted})")
    return sorted(pending)
