"""Pure builders: a (validated) Tenant + the Platform -> the manifests of its execution plane.

No I/O and no clock, so the same input always yields byte-identical manifests: the reconciler
can compare them with what is live, and tests can assert on them without a cluster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import kopf
import yaml

from arbiter.operator import certificates
from arbiter.operator.platform import LATENCY_CRITICAL, Platform, Sizing
from arbiter.operator.spec import EnvVar

Manifest = dict[str, Any]

HTTP_PORT = 8080
GRPC_PORT = 50051
RUN_AS = 10001
CONFIG_DIR = "/etc/arbiter"
MANAGED_BY = "arbiter-operator"
TENANT_LABEL = "arbiter.dev/tenant"
COMPONENT_LABEL = "app.kubernetes.io/component"
# On every order-entry gateway pod: what NetworkPolicies select them by (the chart's too).
ROLE_LABEL = "arbiter.dev/role"
CONFIG_HASH_ANNOTATION = "arbiter.dev/config-sha256"
# What an annotation-based Prometheus scrapes by: `arbiter serve` serves /metrics on HTTP_PORT.
SCRAPE_ANNOTATIONS = {"prometheus.io/scrape": "true", "prometheus.io/port": str(HTTP_PORT),
                      "prometheus.io/path": "/metrics"}
# Every kind the operator creates; also what it lists to prune and watches for drift.
CHILD_KINDS: dict[str, tuple[str, str]] = {  # kind -> (apiVersion, plural)
    "ServiceAccount": ("v1", "serviceaccounts"),
    "ConfigMap": ("v1", "configmaps"),
    "Service": ("v1", "services"),
    "Deployment": ("apps/v1", "deployments"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies"),
}
# Kinds the operator writes by name only, never lists or watches: it may not list Secrets.
NAMED_KINDS: dict[str, tuple[str, str]] = {"Secret": ("v1", "secrets")}
STORE_SECRET_KEY = "dsn"  # the key of the tenant's store Secret its pods read


def topic_prefix(tenant: str) -> str:
    """Kafka topic prefix that isolates a tenant's execution streams."""
    return f"tenant-{tenant}."


def vault_role(tenant: str) -> str:
    """HashiCorp Vault Kubernetes-auth role bound to the tenant's ServiceAccount."""
    return f"arbiter-tenant-{tenant}"


def service_account(tenant: str) -> str:
    """The ServiceAccount every pod of the tenant runs as (what its Vault role binds)."""
    return f"{tenant}-execution"


def store_secret_name(tenant: str) -> str:
    """The Secret in the tenant's namespace its pods read the store DSN from (a copy)."""
    return f"{tenant}-store"


def _plain(value: Any) -> Any:
    """A kopf Body/Spec view as plain dicts and lists, for YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def venues_traded(spec: Mapping[str, Any]) -> list[str]:
    """Every venue a leg of the spec's pairs is on: one order-entry gateway each."""
    return sorted({pair[leg]["venue"] for pair in spec["market"]["pairs"] for leg in "ab"})


def _labels(tenant: str, component: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": "arbiter",
        "app.kubernetes.io/part-of": "arbiter",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        TENANT_LABEL: tenant,
    }
    if component:
        labels[COMPONENT_LABEL] = component
    return labels


def _selector(tenant: str, component: str) -> dict[str, str]:
    return {TENANT_LABEL: tenant, COMPONENT_LABEL: component}


def _meta(kind: str, name: str, labels: dict[str, str]) -> Manifest:
    api_version, _ = CHILD_KINDS[kind]
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": labels}}


def _config_yaml(tenant: str, spec: Mapping[str, Any]) -> str:
    """The tenant's config file: its spec's sections as written (the CRD has the config's
    names and units), plus what the operator owns. `paused` is not configuration."""
    config = {
        "tenant": {"id": tenant, "tier": spec["tenant"]["tier"]},
        "market": {"pairs": _plain(spec["market"]["pairs"])},
        "bus": {"topic_prefix": topic_prefix(tenant)},
        "vault": {"role": vault_role(tenant)},
        **{section: _plain(spec[section]) for section in ("risk", "venues") if section in spec},
    }
    return yaml.safe_dump(config, sort_keys=True)


def _resource_attributes(tenant: str, namespace: str | None, deployment: str,
                         platform: Platform) -> str:
    """OTEL_RESOURCE_ATTRIBUTES: where the span comes from. The service name is not here:
    tracing.setup_tracing names the service itself (the `arbiter serve` name)."""
    attributes = {"arbiter.tenant": tenant, "k8s.deployment.name": deployment,
                  **({"k8s.namespace.name": namespace} if namespace else {}),
                  **platform.telemetry.resource_attributes}
    return ",".join(f"{k}={v}" for k, v in sorted(attributes.items()))


def _env(tenant: str, namespace: str | None, service: str, spec: Mapping[str, Any],
         platform: Platform) -> list[Manifest]:
    """The platform's shared settings, where this tenant's own services are, where spans go,
    then the Tenant's own extraEnv (validated: it names none of the operator's variables)."""
    values = {
        **platform.env,
        "ARBITER_CONFIG": f"{CONFIG_DIR}/config.yaml",
        "ARBITER__GRPC__RISK_ADDR": f"{tenant}-risk:{GRPC_PORT}",
    }
    for venue in venues_traded(spec):
        values[f"ARBITER__GRPC__GATEWAY_ADDRS__{venue.upper()}"] = (
            f"{tenant}-gateway-{venue}:{GRPC_PORT}")
    if platform.telemetry.otlp_endpoint:
        # Read by services/platform/telemetry/tracing.py (export on) and the OTLP exporter.
        values["OTEL_EXPORTER_OTLP_ENDPOINT"] = platform.telemetry.otlp_endpoint
        values["OTEL_RESOURCE_ATTRIBUTES"] = _resource_attributes(
            tenant, namespace, f"{tenant}-{service}", platform)
    env: list[Manifest] = [{"name": k, "value": v} for k, v in sorted(values.items())]
    if platform.store:
        ref = {"name": store_secret_name(tenant), "key": STORE_SECRET_KEY}
        env.append({"name": "ARBITER__STORE__DSN", "valueFrom": {"secretKeyRef": ref}})
    # Every name above is reserved (spec.is_reserved_env; tests/k8s/test_children.py checks),
    # so a validated extraEnv cannot shadow one of them.
    env += [EnvVar.model_validate(_plain(e)).manifest() for e in spec.get("extraEnv") or ()]
    return env


def _resources(sizing: Sizing, pinned: bool) -> Manifest:
    """Pinned pods get requests == limits with whole cores: Guaranteed QoS, exclusive CPUs."""
    requests = {"cpu": sizing.cpu, "memory": sizing.memory}
    if pinned:
        return {"requests": requests, "limits": dict(requests)}
    return {"requests": requests, "limits": {"memory": sizing.memory}}


def _placement(tenant: str, component: str, platform: Platform) -> Manifest:
    """Node affinity + tolerations for latency-critical pods, replica spreading for all."""
    key, value = platform.node_label
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
                    ]
                }
            },
            # Preferred, not required: a small cluster with one pinned node still schedules.
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": _selector(tenant, component)},
                        },
                    }
                ]
            },
        },
        "tolerations": [dict(t) for t in platform.tolerations],
    }


def _overlay(base: Mapping[str, Any], over: Mapping[str, Any]) -> Manifest:
    """`over` deep-merged onto `base`: where both have a key, `over`'s value wins."""
    merged = _plain(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = _plain(value)
    return merged


def _pod_settings(tenant: str, service: str, platform: Platform, pinned: bool) -> Manifest:
    """The platform's placement and pull settings (the chart's global values) with the pin of
    a latency-critical pod, which wins over a user affinity of the same kind: the same rules
    as the chart's arbiter.podPlacement."""
    pods = platform.pods
    placement = _placement(tenant, service, platform) if pinned else {}
    settings: Manifest = {}
    if pods.image_pull_secrets:
        settings["imagePullSecrets"] = [_plain(s) for s in pods.image_pull_secrets]
    if pods.priority_class_name:
        settings["priorityClassName"] = pods.priority_class_name
    if pods.node_selector:
        settings["nodeSelector"] = dict(pods.node_selector)
    affinity = _overlay(pods.affinity, placement.get("affinity", {}))
    if affinity:
        settings["affinity"] = affinity
    tolerations = placement.get("tolerations", []) + [_plain(t) for t in pods.tolerations]
    if tolerations:
        settings["tolerations"] = tolerations
    if pods.topology_spread_constraints:
        own = {"labelSelector": {"matchLabels": _selector(tenant, service)}}
        settings["topologySpreadConstraints"] = [
            {**own, **_plain(c)} for c in pods.topology_spread_constraints]
    return settings


def _annotations(platform: Platform) -> dict[str, str]:
    """The platform's extra pod annotations, minus the ones the operator sets itself."""
    return {k: v for k, v in sorted(platform.pods.annotations.items())
            if not k.startswith(("arbiter.dev/", "prometheus.io/"))}


def _deployment(
    tenant: str,
    namespace: str | None,
    component: str,
    service: str,
    spec: Mapping[str, Any],
    platform: Platform,
    config_sha: str,
) -> Manifest:
    tier = platform.tiers[spec["tenant"]["tier"]]
    sizing = tier.components[component]
    pinned = tier.pinned and component in LATENCY_CRITICAL
    name = f"{tenant}-{service}"
    container = {
        "name": service,
        "image": platform.image,
        "imagePullPolicy": platform.image_pull_policy,
        "args": ["serve", service],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "env": _env(tenant, namespace, service, spec, platform),
        "resources": _resources(sizing, pinned),
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec: Manifest = {
        "serviceAccountName": service_account(tenant),
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{tenant}-config"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        ],
    }
    pod_spec.update(_pod_settings(tenant, service, platform, pinned))
    deployment = _meta("Deployment", name, _labels(tenant, service))
    deployment["spec"] = {
        "replicas": 0 if spec.get("paused") else sizing.replicas,
        "selector": {"matchLabels": _selector(tenant, service)},
        # One saga writer per tenant: never run old and new side by side on the saga log.
        "strategy": {"type": "Recreate"} if component == "saga" else {"type": "RollingUpdate"},
        "template": {
            "metadata": {
                "labels": {**_labels(tenant, service),
                           **({ROLE_LABEL: "gateway"} if component == "gateway" else {})},
                "annotations": {
                    CONFIG_HASH_ANNOTATION: config_sha,
                    **(SCRAPE_ANNOTATIONS if platform.telemetry.scrape_annotations else {}),
                    **_annotations(platform),
                },
            },
            "spec": pod_spec,
        },
    }
    return deployment


def _service(tenant: str, service: str) -> Manifest:
    manifest = _meta("Service", f"{tenant}-{service}", _labels(tenant, service))
    manifest["spec"] = {
        "type": "ClusterIP",
        "selector": _selector(tenant, service),
        "ports": [
            {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
            {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
        ],
    }
    return manifest


def _pdb(tenant: str, service: str) -> Manifest:
    manifest = _meta("PodDisruptionBudget", f"{tenant}-{service}", _labels(tenant, service))
    manifest["spec"] = {"maxUnavailable": 1, "selector": {"matchLabels": _selector(tenant, service)}}
    return manifest


def _tcp(port: int) -> list[Manifest]:
    return [{"port": port, "protocol": "TCP"}]


def _network_policies(tenant: str, components: list[tuple[str, str]],
                      platform: Platform) -> list[Manifest]:
    """Default deny for the tenant's pods, then one policy per pod with its flows: metrics
    from Prometheus; risk's gRPC from saga, gateways and the shared control; gateways' gRPC from
    saga and control; out to DNS, Kafka, PostgreSQL, the OTLP endpoint, and saga -> risk and
    gateways, gateways -> risk, the shared vault service and the venues. The rules towards the
    release come ready-made from the chart (platform.yaml), so both sides agree."""
    np = platform.network_policy
    if not np.enabled:
        return []
    deny = _meta("NetworkPolicy", f"{tenant}-default-deny", _labels(tenant))
    deny["spec"] = {"podSelector": {"matchLabels": {TENANT_LABEL: tenant}},
                    "policyTypes": ["Ingress", "Egress"]}
    saga = {"podSelector": {"matchLabels": _selector(tenant, "saga")}}
    risk = {"podSelector": {"matchLabels": _selector(tenant, "risk")}}
    gateways = {"podSelector": {"matchLabels": {TENANT_LABEL: tenant, ROLE_LABEL: "gateway"}}}
    control = [_plain(p) for p in np.ingress.get("control", ())]
    prometheus = [_plain(p) for p in np.ingress.get("prometheus", ())]
    common = [_plain(np.egress[flow]) for flow in ("dns", "kafka", "postgresql", "otlp")
              if flow in np.egress]
    policies = [deny]
    for component, service in components:
        # An empty `from` would admit everyone: a caller that is not configured gets no rule.
        ingress = [{"from": prometheus, "ports": _tcp(HTTP_PORT)}] if prometheus else []
        egress = list(common)
        if component == "risk":
            ingress.append({"from": [saga, gateways, *control], "ports": _tcp(GRPC_PORT)})
        elif component == "gateway":
            ingress.append({"from": [saga, *control], "ports": _tcp(GRPC_PORT)})
            egress.append({"to": [risk], "ports": _tcp(GRPC_PORT)})
            egress += [_plain(np.egress[f]) for f in ("signer", "venues") if f in np.egress]
        elif component == "saga":
            egress.append({"to": [risk, gateways], "ports": _tcp(GRPC_PORT)})
        policy = _meta("NetworkPolicy", f"{tenant}-{service}", _labels(tenant, service))
        policy["spec"] = {"podSelector": {"matchLabels": _selector(tenant, service)},
                          "policyTypes": ["Ingress", "Egress"], "egress": egress,
                          **({"ingress": ingress} if ingress else {})}
        policies.append(policy)
    return policies


def build_children(tenant: Mapping[str, Any], platform: Platform) -> list[Manifest]:
    """All child manifests of a validated Tenant, owned by it (deletion cascades)."""
    name: str = tenant["metadata"]["name"]
    namespace: str | None = tenant["metadata"].get("namespace")
    spec: Mapping[str, Any] = tenant["spec"]
    config = _config_yaml(name, spec)
    config_sha = hashlib.sha256(config.encode()).hexdigest()

    account = _meta("ServiceAccount", service_account(name), _labels(name))
    config_map = _meta("ConfigMap", f"{name}-config", _labels(name))
    config_map["data"] = {"config.yaml": config}
    children: list[Manifest] = [account, config_map]

    components = [("saga", "saga"), ("risk", "risk")]
    components += [("gateway", f"gateway-{venue}") for venue in venues_traded(spec)]
    for component, service in components:
        deployment = _deployment(name, namespace, component, service, spec, platform,
                                 config_sha)
        children += [deployment, _service(name, service)]
        if deployment["spec"]["replicas"] > 1:
            children.append(_pdb(name, service))
    children += _network_policies(name, components, platform)
    certificates.mount(children, platform.tls)

    kopf.adopt(children, owner=dict(tenant))
    return children
