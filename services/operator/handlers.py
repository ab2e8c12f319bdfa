"""kopf wiring: Tenant lifecycle handlers, drift restoration and status reporting.

Run with::

    kopf run --standalone --all-namespaces -m arbiter.operator.handlers \
        --liveness=http://0.0.0.0:8080/healthz

Handlers stay thin: validate (pure), build (pure), converge (I/O), then report conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from arbiter.operator import issuer, renewal  # noqa: F401  (renewal registers its daemon)
from arbiter.operator.children import (
    CHILD_KINDS,
    MANAGED_BY,
    TENANT_LABEL,
    build_children,
    service_account,
    topic_prefix,
    vault_role,
)
from arbiter.operator.conditions import (
    APPLY_FAILED,
    CONFIG_LOADS,
    CONVERGED,
    DEPLOYMENTS,
    INVALID_CONFIG,
    INVALID_SPEC,
    PAUSED,
    PROGRESSING,
    Check,
    Outcome,
    conditions,
    outcome_of,
)
from arbiter.operator.crd import GROUP, PLURAL, VERSION
from arbiter.operator.kube import KubeClient, KubeError, resource_path
from arbiter.operator.platform import PlatformError, load_platform
from arbiter.operator.reconcile import apply, converge, delete_all, unavailable
from arbiter.operator.store_credentials import delete_store_copy, store_copy
from arbiter.operator.validation import pod_configs, validate_tenant
from arbiter.operator.vault_roles import VaultRoleError, delete_role, ensure_role
from arbiter.platform.config import ConfigError

TENANTS = (GROUP, VERSION, PLURAL)
RETRY_DELAY = 10  # seconds between retries of a failed apply
AVAILABILITY_DELAY = 5  # seconds between looks at deployments that are not available yet
RESYNC_INTERVAL = 60  # seconds between reconciliations of a Tenant nothing happened to


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Namespace kopf's bookkeeping under arbiter.dev and load the platform settings."""
    settings.persistence.finalizer = f"{GROUP}/tenant-cleanup"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    try:
        memo.platform = load_platform()
    except PlatformError as exc:  # a broken release config: stop instead of retrying forever
        raise kopf.PermanentError(str(exc)) from exc
    memo.kube = KubeClient()
    # chart-mode TLS: the release's shared services' certificates, kept current (issuer.py)
    memo.shared_tls = asyncio.create_task(issuer.keep_shared(memo.kube, memo.platform.tls))


@kopf.on.login()
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """Authenticate kopf and the reconciler's client with the same credentials."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is not None:
        await memo.kube.login(info)
    return info


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    memo.shared_tls.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await memo.shared_tls
    await memo.kube.close()


def _report(
    patch: kopf.Patch,
    status: Mapping[str, Any],
    meta: Mapping[str, Any],
    outcome: Outcome,
    checks: Sequence[Check] = (),
    **extra: Any,
) -> None:
    """Write conditions and observedGeneration into the handler's status patch."""
    generation = meta.get("generation")
    now = datetime.datetime.now(datetime.UTC)
    patch.status["conditions"] = conditions(outcome, generation, status.get("conditions") or [],
                                            now, checks)
    if generation is not None:
        patch.status["observedGeneration"] = generation
    for key, value in extra.items():
        patch.status[key] = value


@kopf.on.resume(*TENANTS)
@kopf.on.create(*TENANTS)
@kopf.on.update(*TENANTS)
async def reconcile(
    body: kopf.Body,
    name: str,
    namespace: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Validate the whole Tenant, provision what its namespace needs, converge its execution
    plane onto the spec, then report each prerequisite; retried until all of them hold."""
    errors = validate_tenant(name, spec)
    if errors:
        # Nothing is applied: existing children keep serving the last valid spec.
        message = "; ".join(map(str, errors))
        logger.error(f"Tenant rejected: {message}")
        _report(patch, status, meta, Outcome(False, INVALID_SPEC, message))
        return
    desired = build_children(body, memo.platform)
    try:
        loaded = pod_configs(desired)
    except ConfigError as exc:
        # Rolling these out would crash-loop every pod: keep what runs, say why.
        logger.error(f"Tenant config does not load: {exc}")
        check = Check(CONFIG_LOADS, False, INVALID_CONFIG, str(exc))
        _report(patch, status, meta, Outcome(False, INVALID_CONFIG, str(exc)), [check])
        return
    checks = [Check(CONFIG_LOADS, True, "Loaded", f"the config of {len(loaded)} containers "
                    "loads")]
    try:
        # Certificates first: pods that start find their Secret (the kubelet would wait).
        issuer.annotate(desired, await issuer.ensure_tenant(memo.kube, body, desired,
                                                            memo.platform.tls))
        store, secret = await store_copy(memo.kube, memo.platform.store, body)
        counts = await converge(memo.kube, namespace, name, [*desired, *([secret] if secret else [])])
    except (KubeError, issuer.IssuerError) as exc:
        _report(patch, status, meta, Outcome(False, APPLY_FAILED, str(exc)[:1024]), checks)
        raise kopf.TemporaryError(f"applying children failed: {exc}", delay=RETRY_DELAY) from exc
    logger.info(f"Children converged: {counts}")
    checks += [store, await ensure_role(memo.kube, memo.platform.vault, name, namespace,
                                        service_account(name))]
    try:
        pending = await unavailable(memo.kube, namespace, name)
    except KubeError as exc:
        raise kopf.TemporaryError(f"reading the deployments failed: {exc}",
                                  delay=RETRY_DELAY) from exc
    # Applied is not running: Ready waits for the pods (image pulls, scheduling, probes).
    checks.append(Check(DEPLOYMENTS, False, PROGRESSING, f"waiting for {len(pending)} "
                        f"deployments to be available: {', '.join(pending)}") if pending else
                  Check(DEPLOYMENTS, True, "Available", "every deployment is available"))
    paused = bool(spec.get("paused"))
    outcome = outcome_of(checks, PAUSED if paused else CONVERGED,
                         f"{len(desired)} children converged and available"
                         + (", execution plane scaled to 0" if paused else ""))
    _report(patch, status, meta, outcome, checks, children=len(desired),
            topicPrefix=topic_prefix(name), vaultRole=vault_role(name))
    if not outcome.ready:
        # Pods starting are looked at again soon; a missing Secret or Vault less often.
        only_pods = all(c.ok or c.type == DEPLOYMENTS for c in checks)
        raise kopf.TemporaryError(outcome.message,
                                  delay=AVAILABILITY_DELAY if only_pods else RETRY_DELAY)


@kopf.timer(*TENANTS, interval=RESYNC_INTERVAL, initial_delay=RESYNC_INTERVAL, idle=RESYNC_INTERVAL)
async def resync(**kwargs: Any) -> None:
    """Reconcile again now and then: what changes outside the Tenant (a rotated store Secret,
    a Vault that lost the role) is put back without a Tenant event."""
    if not kwargs["meta"].get("deletionTimestamp"):
        await reconcile(**kwargs)


@kopf.on.delete(*TENANTS)
async def cleanup(name: str, namespace: str, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Finalizer: delete the execution plane, the store copy and the Vault role before the
    Tenant is let go (a role left behind would still admit the namespace's account)."""
    try:
        deleted = await delete_all(memo.kube, namespace, name)
        await delete_store_copy(memo.kube, namespace, name)
        await delete_role(memo.kube, memo.platform.vault, name)
        await issuer.delete_tenant(memo.kube, namespace, name, memo.platform.tls)
    except (KubeError, VaultRoleError) as exc:
        raise kopf.TemporaryError(f"deleting children failed: {exc}", delay=RETRY_DELAY) from exc
    logger.info(f"Deleted {deleted} children, the store Secret copy and the Vault role")


async def restore_drift(
    type: str | None,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    resource: kopf.Resource,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Put a deleted or hand-edited child back the way its Tenant says it should be."""
    if type not in ("DELETED", "MODIFIED"):
        return
    path = resource_path(f"{GROUP}/{VERSION}", PLURAL, namespace, labels[TENANT_LABEL])
    tenant = await memo.kube.get(path)
    if tenant is None or tenant["metadata"].get("deletionTimestamp"):
        return  # the tenant is going away: its children are supposed to go too
    if validate_tenant(tenant["metadata"]["name"], tenant.get("spec") or {}):
        return  # reported on the Tenant; keep what runs
    desired = build_children(tenant, memo.platform)
    try:
        pod_configs(desired)
    except ConfigError:
        return  # reported on the Tenant; keep what runs
    kind = next(k for k, (_, plural) in CHILD_KINDS.items() if plural == resource.plural)
    for manifest in desired:
        if manifest["kind"] == kind and manifest["metadata"]["name"] == name:
            action = await apply(memo.kube, manifest)
            if action != "unchanged":
                logger.warning(f"Restored drifted {kind} {name}: {action}")


for _api_version, _plural in CHILD_KINDS.values():
    _group, _, _version = _api_version.rpartition("/")
    kopf.on.event(
        _group,
        _version,
        _plural,
        id=f"restore-{_plural}",
        labels={"app.kubernetes.io/managed-by": MANAGED_BY, TENANT_LABEL: kopf.PRESENT},
    )(restore_drift)
