"""Cluster-wide settings the operator needs to build a tenant's execution plane.

They come from the Helm release (the chart renders them into the operator's `platform.yaml`
ConfigMap), so image, dependency addresses and per-tier sizing have a single source: values.yaml.
Loading fails loudly on a malformed file, before the operator handles any Tenant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from arbiter.operator.certificates import TlsSettings, TlsSettingsError, parse_tls
from arbiter.operator.crd import TIERS

PLATFORM_ENV = "ARBITER_OPERATOR_PLATFORM"
DEFAULT_PLATFORM_PATH = "/etc/arbiter-operator/platform.yaml"
COMPONENTS = ("saga", "risk", "gateway")
# Components on the order path: pinned to dedicated cores when the tier asks for it.
LATENCY_CRITICAL = frozenset({"saga", "gateway"})
_WHOLE_CPU = re.compile(r"^[1-9][0-9]*$")


class PlatformError(ValueError):
    """The platform file is missing a key or has a bad value."""


@dataclass(frozen=True)
class Sizing:
    """Replicas and per-container resources of one execution-plane component."""

    replicas: int
    cpu: str
    memory: str


@dataclass(frozen=True)
class Tier:
    """How a service tier sizes and places a tenant's components."""

    pinned: bool  # latency-critical components get dedicated nodes and whole cores
    components: Mapping[str, Sizing]


@dataclass(frozen=True)
class Telemetry:
    """How tenants' pods are observed: the same as the release's shared services."""

    scrape_annotations: bool = False  # prometheus.io/scrape|port|path on every pod
    otlp_endpoint: str = ""  # OTLP/gRPC endpoint for spans; empty: no export
    resource_attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PodSettings:
    """Placement and pull settings of every tenant pod: the chart's global values."""

    node_selector: Mapping[str, str] = field(default_factory=dict)
    affinity: Mapping[str, Any] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    priority_class_name: str = ""
    topology_spread_constraints: tuple[Mapping[str, Any], ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    image_pull_secrets: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class NetworkPolicySettings:
    """What tenants' NetworkPolicies are built from: the chart's rules as seen from a tenant's
    namespace (templates/_helpers.tpl, arbiter.np.platform). `egress`: ready-made egress rules
    by flow (dns, kafka, postgresql, venues, and when there are such: otlp, signer); `ingress`:
    peer lists by who calls in (prometheus, and with a shared control service: control)."""

    enabled: bool = False
    egress: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ingress: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretKey:
    """One key of one Secret."""

    name: str
    key: str


TENANT_PLACEHOLDER = "{tenant}"


@dataclass(frozen=True)
class StoreSource:
    """Where a tenant's store credentials are copied from: the Secret in the release's
    namespace of that tenant's own database login role (`secret`'s name is a template with
    `{tenant}`; docs/adr/0013-tenant-login-roles.md). No tenant falls back to another's."""

    namespace: str
    secret: SecretKey

    def source(self, tenant: str) -> SecretKey:
        return SecretKey(self.secret.name.replace(TENANT_PLACEHOLDER, tenant), self.secret.key)


@dataclass(frozen=True)
class VaultSettings:
    """How the operator reaches Vault/OpenBao to manage tenants' Kubernetes-auth roles: the
    address, a token Secret in the release's namespace, the auth mount (enabled and pointed at
    `kubernetes_host` when missing and the token may), and the Transit mount and key-name
    template of the paths a tenant's policy grants."""

    addr: str
    namespace: str
    token_secret: SecretKey
    auth_mount: str = "kubernetes"
    kubernetes_host: str = "https://kubernetes.default.svc"
    transit_mount: str = "transit"
    tenant_key: str = "arbiter-tenant-{tenant}"


@dataclass(frozen=True)
class Platform:
    """Everything outside the Tenant that its children depend on."""

    image: str
    image_pull_policy: str
    env: Mapping[str, str]  # shared connection settings (Kafka, Vault, shared gRPC services)
    store: StoreSource | None  # where tenants' PostgreSQL DSN Secret is copied from
    node_label: tuple[str, str]  # latency-critical node label key and value
    tolerations: tuple[Mapping[str, Any], ...]
    tiers: Mapping[str, Tier]
    telemetry: Telemetry = Telemetry()
    pods: PodSettings = PodSettings()
    network_policy: NetworkPolicySettings = NetworkPolicySettings()
    vault: VaultSettings | None = None  # None: the operator manages no Vault roles
    tls: TlsSettings = field(default_factory=TlsSettings)


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise PlatformError(f"{where}.{key} is required")
    return data[key]


def _sizing(data: Mapping[str, Any], where: str, pinned: bool) -> Sizing:
    sizing = Sizing(
        replicas=int(_require(data, "replicas", where)),
        cpu=str(_require(data, "cpu", where)),
        memory=str(_require(data, "memory", where)),
    )
    if pinned and not _WHOLE_CPU.match(sizing.cpu):
        raise PlatformError(
            f"{where}.cpu must be a whole number of cores for a pinned tier "
            f"(Guaranteed QoS, static CPU manager), got {sizing.cpu!r}"
        )
    return sizing


def _mapping(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping):
        raise PlatformError(f"{where}.{key} must be a mapping")
    return value


def _list(data: Mapping[str, Any], key: str, where: str) -> tuple[Mapping[str, Any], ...]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise PlatformError(f"{where}.{key} must be a list of mappings")
    return tuple(value)


def _pods(data: Mapping[str, Any]) -> PodSettings:
    raw = _mapping(data, "pods", "platform")  # absent from a chart older than the operator
    where = "platform.pods"
    return PodSettings(
        node_selector={str(k): str(v) for k, v in _mapping(raw, "nodeSelector", where).items()},
        affinity=dict(_mapping(raw, "affinity", where)),
        tolerations=_list(raw, "tolerations", where),
        priority_class_name=str(raw.get("priorityClassName") or ""),
        topology_spread_constraints=_list(raw, "topologySpreadConstraints", where),
        annotations={str(k): str(v) for k, v in _mapping(raw, "podAnnotations", where).items()},
        image_pull_secrets=_list(raw, "imagePullSecrets", where),
    )


def _secret_key(data: Mapping[str, Any], where: str) -> SecretKey:
    return SecretKey(str(_require(data, "name", where)), str(_require(data, "key", where)))


def _store(data: Mapping[str, Any]) -> StoreSource | None:
    raw = _mapping(data, "storeSecret", "platform")
    if not raw:
        return None
    where = "platform.storeSecret"
    secret = _secret_key(raw, where)
    if TENANT_PLACEHOLDER not in secret.name:
        raise PlatformError(f"{where}.name must contain {TENANT_PLACEHOLDER}: each tenant "
                            f"has its own login role's Secret, was {secret.name!r}")
    return StoreSource(namespace=str(_require(raw, "namespace", where)), secret=secret)


def _vault(data: Mapping[str, Any]) -> VaultSettings | None:
    raw = _mapping(data, "vault", "platform")
    token = _mapping(raw, "tokenSecret", "platform.vault")
    if not token.get("name"):
        return None  # roles are provisioned outside the operator
    where = "platform.vault"
    defaults = VaultSettings  # the dataclass's field defaults
    settings = VaultSettings(
        addr=str(_require(raw, "addr", where)),
        namespace=str(_require(raw, "namespace", where)),
        token_secret=_secret_key(token, f"{where}.tokenSecret"),
        auth_mount=str(raw.get("authMount") or defaults.auth_mount).strip("/"),
        kubernetes_host=str(raw.get("kubernetesHost") or defaults.kubernetes_host),
        transit_mount=str(raw.get("transitMount") or defaults.transit_mount).strip("/"),
        tenant_key=str(raw.get("tenantKey") or defaults.tenant_key),
    )
    if TENANT_PLACEHOLDER not in settings.tenant_key:
        raise PlatformError(f"{where}.tenantKey must contain {TENANT_PLACEHOLDER}: one key per "
                            "tenant")
    return settings


_REQUIRED_EGRESS = ("dns", "kafka", "postgresql", "venues")


def _network_policy(data: Mapping[str, Any]) -> NetworkPolicySettings:
    raw = _mapping(data, "networkPolicy", "platform")  # absent from an older chart: none
    where = "platform.networkPolicy"
    if not raw.get("enabled"):
        return NetworkPolicySettings()
    egress = _mapping(raw, "egress", where)
    for flow in _REQUIRED_EGRESS:
        _require(egress, flow, f"{where}.egress")
    for flow, rule in egress.items():
        if not isinstance(rule, Mapping) or "ports" not in rule:
            raise PlatformError(f"{where}.egress.{flow} must be a rule with ports")
    ingress = _mapping(raw, "ingress", where)
    return NetworkPolicySettings(
        enabled=True,
        egress={str(k): dict(v) for k, v in egress.items()},
        ingress={str(k): _list(ingress, k, f"{where}.ingress") for k in ingress},
    )


def parse_platform(data: Mapping[str, Any]) -> Platform:
    """Build a Platform from the rendered `platform.yaml` mapping."""
    tiers: dict[str, Tier] = {}
    raw_tiers = _require(data, "tiers", "platform")
    for tier in TIERS:
        raw = _require(raw_tiers, tier, "platform.tiers")
        pinned = bool(raw.get("pinned", False))
        components = _require(raw, "components", f"platform.tiers.{tier}")
        tiers[tier] = Tier(
            pinned=pinned,
            components={
                name: _sizing(
                    _require(components, name, f"platform.tiers.{tier}.components"),
                    f"platform.tiers.{tier}.components.{name}",
                    pinned and name in LATENCY_CRITICAL,
                )
                for name in COMPONENTS
            },
        )
    latency = _require(data, "latencyCritical", "platform")
    telemetry = data.get("telemetry") or {}  # absent from a chart older than the operator
    if not isinstance(telemetry, Mapping):
        raise PlatformError("platform.telemetry must be a mapping")
    try:
        tls = parse_tls(_mapping(data, "tls", "platform"))  # absent from an older chart: off
    except TlsSettingsError as exc:
        raise PlatformError(str(exc)) from None
    return Platform(
        image=str(_require(data, "image", "platform")),
        image_pull_policy=str(data.get("imagePullPolicy", "IfNotPresent")),
        env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
        store=_store(data),
        node_label=(
            str(_require(latency, "nodeLabelKey", "platform.latencyCritical")),
            str(_require(latency, "nodeLabelValue", "platform.latencyCritical")),
        ),
        tolerations=tuple(latency.get("tolerations") or ()),
        tiers=tiers,
        telemetry=Telemetry(
            scrape_annotations=bool(telemetry.get("scrapeAnnotations", False)),
            otlp_endpoint=str(telemetry.get("otlpEndpoint") or ""),
            resource_attributes={str(k): str(v) for k, v in
                                 (telemetry.get("resourceAttributes") or {}).items()},
        ),
        pods=_pods(data),
        network_policy=_network_policy(data),
        vault=_vault(data),
        tls=tls,
    )


def load_platform(path: str | None = None) -> Platform:
    """Read the platform file named by $ARBITER_OPERATOR_PLATFORM (or the mounted default)."""
    path = path or os.environ.get(PLATFORM_ENV, DEFAULT_PLATFORM_PATH)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlatformError(f"cannot read platform file {path}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise PlatformError(f"platform file {path} must hold a mapping")
    return parse_platform(data)
