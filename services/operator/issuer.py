"""Keep every pod's certificate current: issue, renew and roll (the I/O of certificates.py).

chart mode: the operator is the plane's issuer. It signs each leaf with the CA Secret the chart
generated (`peers.issue_service_cert`) and stores it in the Secret the pod mounts: a tenant's
owned by its Tenant, the release's shared services' labelled for the release. certManager
mode: it applies a tenant's Certificates and cert-manager does the signing. In both, a pod
whose Secret now holds another certificate than the one it started with is rolled (its pod
template's SERIAL_ANNOTATION changes), since a process loads its certificate once.

Secrets are read and written by name, never listed: a tenant's stale ones are found among the
names it could have (`config.services()`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from arbiter.operator import certificates as certs
from arbiter.operator.certificates import Identity, TlsSettings
from arbiter.operator.children import MANAGED_BY, TENANT_LABEL, Manifest
from arbiter.operator.kube import KubeClient, KubeError, resource_path
from arbiter.operator.reconcile import apply
from arbiter.platform.config import services
from arbiter.platform.peers import Issued, PeerAuthError, issue_service_cert

log = logging.getLogger(__name__)
RETRY_SECONDS = 10.0  # after a failed round of the shared services' loop
TENANT_SERVICES = frozenset({"saga", "risk"})  # and the gateways


class IssuerError(Exception):
    """A certificate cannot be issued: no CA Secret, or one that cannot sign."""


def _path(kind: str, namespace: str, name: str | None = None) -> str:
    api_version, plural = certs.TLS_KINDS[kind]
    return resource_path(api_version, plural, namespace, name)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def read_ca(kube: KubeClient, settings: TlsSettings) -> Issued:
    """The chart's CA (certificate and key) from its Secret."""
    namespace, name = settings.ca_secret
    found = await kube.get(_path("Secret", namespace, name))
    if found is None:
        raise IssuerError(f"the CA Secret {namespace}/{name} does not exist (tls.mode=chart: "
                          "the chart creates it; see docs/runbooks/rotate-ca.md)")
    data = found.get("data") or {}
    ca = Issued(certs.decoded(data, certs.CERT_KEY), certs.decoded(data, certs.KEY_KEY))
    if not ca.cert_pem or not ca.key_pem:
        raise IssuerError(f"the CA Secret {namespace}/{name} has no tls.crt or tls.key")
    return ca


async def _issue(kube: KubeClient, identity: Identity, ca: Issued, settings: TlsSettings,
                 labels: Mapping[str, str], owner: Mapping[str, Any] | None) -> str:
    """Keep the identity's Secret holding a current certificate; returns its serial."""
    path = _path("Secret", identity.namespace, identity.secret)
    live = await kube.get(path)
    data = (live or {}).get("data")
    reason = certs.renewal_reason(data, identity, ca.cert_pem, _now(), settings.renew_before)
    if reason is None:
        return certs.serial(certs.decoded(data, certs.CERT_KEY))
    try:
        issued = issue_service_cert(ca, identity.service, identity.tenant, identity.hosts,
                                    days=settings.duration / datetime.timedelta(days=1))
    except (PeerAuthError, ValueError) as exc:
        raise IssuerError(f"cannot sign with the CA Secret: {exc}") from None
    manifest = certs.secret(identity, issued, ca.cert_pem, labels)
    if owner is not None:
        kopf.adopt(manifest, owner=dict(owner))
    if live is None:
        try:
            await kube.create(manifest)
        except KubeError as exc:
            if exc.status != 409:  # written meanwhile by the other path: replace it
                raise
            await kube.merge_patch(path, manifest)
    else:
        await kube.merge_patch(path, manifest)
    log.info("issued %s@%s into %s/%s: %s", identity.service, identity.tenant,
             identity.namespace, identity.secret, reason)
    return certs.serial(issued.cert_pem)


async def _held(kube: KubeClient, identity: Identity) -> str | None:
    """The serial of the certificate cert-manager keeps in the identity's Secret, if any yet."""
    live = await kube.get(_path("Secret", identity.namespace, identity.secret))
    pem = certs.decoded((live or {}).get("data"), certs.CERT_KEY)
    return certs.serial(pem) if pem else None


def _tenant_labels(tenant: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "arbiter", "app.kubernetes.io/part-of": "arbiter",
            "app.kubernetes.io/managed-by": MANAGED_BY, TENANT_LABEL: tenant}


async def ensure_tenant(kube: KubeClient, tenant: Mapping[str, Any], children: Iterable[Manifest],
                        settings: TlsSettings) -> dict[str, str]:
    """Every serving pod of the tenant's `children` gets a current certificate, the ones of
    services it no longer runs go; returns {Deployment name: serial} of those held now."""
    if not settings.enabled:
        return {}
    name, namespace = tenant["metadata"]["name"], tenant["metadata"]["namespace"]
    identities = certs.tenant_identities(children, name, namespace)
    serials: dict[str, str] = {}
    if settings.mode == "chart":
        ca = await read_ca(kube, settings)
        for identity in identities:
            serials[identity.deployment] = await _issue(
                kube, identity, ca, settings, _tenant_labels(name), tenant)
    else:
        for identity in identities:
            manifest = certs.certificate(identity, settings, _tenant_labels(name))
            kopf.adopt(manifest, owner=dict(tenant))
            await apply(kube, manifest)
            held = await _held(kube, identity)
            if held is not None:
                serials[identity.deployment] = held
    wanted = {i.secret for i in identities}
    await _delete(kube, namespace, [s for s in _possible(name) if s not in wanted], settings)
    return serials


def _possible(tenant: str) -> list[str]:
    """The Secrets a tenant's certificates could be in: one per service it may run."""
    return [f"{tenant}-{s}-tls" for s in services() if s in TENANT_SERVICES
            or s.startswith("gateway-")]


async def _delete(kube: KubeClient, namespace: str, secrets: Iterable[str],
                  settings: TlsSettings) -> None:
    for secret in secrets:
        if settings.mode == "certManager":  # cert-manager leaves the Secret behind
            await kube.delete(_path("Certificate", namespace, secret))
        await kube.delete(_path("Secret", namespace, secret))


async def delete_tenant(kube: KubeClient, namespace: str, tenant: str,
                        settings: TlsSettings) -> None:
    """Remove the tenant's certificates (the finalizer path; ownerReferences do it too where
    a garbage collector runs)."""
    if settings.enabled:
        await _delete(kube, namespace, _possible(tenant), settings)


def annotate(children: Iterable[Manifest], serials: Mapping[str, str]) -> None:
    """Stamp each Deployment's pod template with the serial its pods must hold."""
    for manifest in children:
        held = serials.get(manifest["metadata"]["name"])
        if manifest["kind"] == "Deployment" and held is not None:
            manifest["spec"]["template"]["metadata"]["annotations"][
                certs.SERIAL_ANNOTATION] = held


async def roll(kube: KubeClient, namespace: str, serials: Mapping[str, str]) -> list[str]:
    """Roll the Deployments whose pods hold another certificate than their Secret's now;
    returns their names."""
    rolled: list[str] = []
    for deployment, held in sorted(serials.items()):
        path = resource_path("apps/v1", "deployments", namespace, deployment)
        live = await kube.get(path)
        if live is None:
            continue
        annotations = live["spec"]["template"].get("metadata", {}).get("annotations") or {}
        if annotations.get(certs.SERIAL_ANNOTATION) != held:
            await kube.merge_patch(path, {"spec": {"template": {"metadata": {"annotations": {
                certs.SERIAL_ANNOTATION: held}}}}})
            rolled.append(deployment)
    return rolled


async def ensure_shared(kube: KubeClient, settings: TlsSettings) -> list[str]:
    """The release's shared services' certificates current (chart mode: issued here;
    certManager: by cert-manager) and their pods on them; returns the Deployments rolled."""
    if not settings.enabled or not settings.shared:
        return []
    serials: dict[str, str] = {}
    if settings.mode == "chart":
        ca = await read_ca(kube, settings)
        for identity in settings.shared:
            serials[identity.deployment] = await _issue(kube, identity, ca, settings,
                                                        settings.shared_labels, None)
    else:
        for identity in settings.shared:
            held = await _held(kube, identity)
            if held is not None:
                serials[identity.deployment] = held
    return await roll(kube, settings.shared[0].namespace, serials)


async def keep_shared(kube: KubeClient, settings: TlsSettings) -> None:
    """Run `ensure_shared` every check interval for as long as the operator runs (its first
    round may find the client not logged in yet: it is retried soon)."""
    while True:
        delay = settings.check_interval
        try:
            rolled = await ensure_shared(kube, settings)
            if rolled:
                log.warning("rolled shared services onto renewed certificates: %s",
                            ", ".join(rolled))
        except (KubeError, IssuerError) as exc:
            log.error("shared services' certificates: %s", exc)
            delay = min(delay, RETRY_SECONDS)
        await asyncio.sleep(delay)
