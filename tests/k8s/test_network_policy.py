"""NetworkPolicies of the release and of tenants' planes, evaluated against the rendered pods'
real labels: every flow the services need is allowed, and every other pod-to-pod connection
is not (the whole matrix, per ci values file), plus traffic to addresses outside the cluster."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from arbiter.operator.children import build_children
from arbiter.operator.platform import parse_platform

from .conftest import CHART, CI_VALUES, NAMESPACE, find, platform_yaml, render, render_ci
from .netpol import Address, Cluster, Pod, matches, pods_of

EXAMPLE = yaml.safe_load((Path(__file__).parents[2] / "services" / "operator" / "examples"
                          / "tenant.yaml").read_text())
INTERNET = Address("198.51.100.7", "a venue")
PRIVATE = Address("10.20.0.5", "something inside the private network")
OUTSIDE = [
    Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, ((53, "UDP"), (53, "TCP")), role="dns"),
    Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}, ((9090, "TCP"),),
        role="prometheus"),
    Pod("ctl", "ops", {"arbiter.dev/control-client": "true"}, ((8080, "TCP"),), role="client"),
    Pod("stranger", "ops", {"app": "anything"}, ((8080, "TCP"),), role="stranger"),
    # Labelled like the release's pods, in another namespace: selectors must not reach it.
    Pod("lookalike", "elsewhere", {"app.kubernetes.io/name": "arbiter",
                                   "app.kubernetes.io/instance": "arbiter",
                                   "app.kubernetes.io/component": "control",
                                   "arbiter.dev/role": "gateway"}, ((8080, "TCP"),),
        role="stranger"),
]


def _tenant(name: str, namespace: str) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body["metadata"].update(name=name, namespace=namespace, uid=f"uid-{name}")
    return body


def _role(component: str) -> str:
    return "gateway" if component.startswith("gateway-") else component


def world(manifests: list[dict[str, Any]]) -> tuple[Cluster, list[Pod], set[str]]:
    """The release's pods and policies, two standard tenants' (from the operator's real
    output), and the outside pods above."""
    values_serve = {m["metadata"]["labels"]["app.kubernetes.io/component"]
                    for m in manifests if m["kind"] == "Deployment"} - {"operator",
                                                                         "otel-collector"}
    cluster = Cluster(namespaces={"monitoring": {}, "ops": {}, "kube-system": {}})
    pods: list[Pod] = []
    for m in manifests:
        if m["kind"] == "NetworkPolicy":
            cluster.policies.append({**m, "metadata": {**m["metadata"], "namespace": NAMESPACE}})
    for _, pod in pods_of(manifests, NAMESPACE):
        component = pod.labels["app.kubernetes.io/component"]
        pods.append(Pod(pod.name, NAMESPACE, pod.labels, pod.ports, "release", _role(component)))
    operator = [m for m in manifests if m["kind"] == "ConfigMap"
                and m["metadata"]["name"] == "arbiter-operator-platform"]
    if operator:
        platform = parse_platform(yaml.safe_load(platform_yaml(manifests)))
        same_ns = "--namespace=" in " ".join(find(manifests, "Deployment", "arbiter-operator")[
            "spec"]["template"]["spec"]["containers"][0]["args"])
        for name in ("acme", "beta"):
            namespace = NAMESPACE if same_ns else f"desk-{name}"
            children = build_children(_tenant(name, namespace), platform)
            cluster.policies += [c for c in children if c["kind"] == "NetworkPolicy"]
            for _, pod in pods_of(children, namespace):
                component = pod.labels["app.kubernetes.io/component"]
                pods.append(Pod(pod.name, namespace, pod.labels, pod.ports, "tenant",
                                _role(component), name))
    return cluster, pods + OUTSIDE, values_serve


def operator_manages_vault_roles(manifests: list[dict[str, Any]]) -> bool:
    """Whether the operator's platform gives it a Vault (operator.vault): it then reaches it."""
    return any(m["kind"] == "ConfigMap" and m["metadata"]["name"] == "arbiter-operator-platform"
               for m in manifests) and parse_platform(
        yaml.safe_load(platform_yaml(manifests))).vault is not None


def expected(src: Pod, dst: Pod, port: int, serve: set[str], operator_vault: bool) -> bool:
    """The flows Arbiter needs (services/topology/distributed.py), and nothing else;
    `operator_vault`: the operator manages tenants' Vault roles."""
    serving = src.group == "tenant" or (src.group == "release" and
                                        src.labels.get("app.kubernetes.io/component") in serve)
    if dst.role == "dns":
        return src.group != "outside" and port == 53
    if dst.group == "outside":
        return src.role == "otel-collector"  # exporters: anywhere unless narrowed
    shared_control = src.group == "release" and src.role == "control"
    if dst.group == "release":
        if dst.role == "bundled-kafka":
            return serving and port == 9092
        if dst.role == "bundled-postgresql":
            return (serving or src.role == "store-init") and port == 5432
        if dst.role == "bundled-vault":
            vault_clients = ("vault", "operator") if operator_vault else ("vault",)
            return src.group == "release" and src.role in vault_clients and port == 8200
        if dst.role == "otel-collector":
            return serving and port == 4317  # OTLP/gRPC; nothing sends OTLP/HTTP
        component = dst.labels["app.kubernetes.io/component"]
        if port == 8080:
            return component in serve and src.role == "prometheus"
        if port == 50051:
            if dst.role == "control":
                return src.role == "client"
            if dst.role == "vault":
                return src.role == "gateway" and src.group in ("release", "tenant")
            if dst.role == "gateway":
                return shared_control or (src.group == "release" and src.role == "saga")
            if dst.role == "risk":
                return src.group == "release" and src.role in ("saga", "gateway", "control")
        return False
    # A tenant's pod.
    if port == 8080:
        return src.role == "prometheus"
    if port == 50051:
        same = src.group == "tenant" and src.tenant == dst.tenant
        if dst.role == "risk":
            return shared_control or (same and src.role in ("saga", "gateway"))
        if dst.role == "gateway":
            return shared_control or (same and src.role == "saga")
    return False


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)
def test_every_needed_flow_is_allowed_and_nothing_else(values_file: Path) -> None:
    manifests = render_ci(values_file)
    cluster, pods, serve = world(manifests)
    operator_vault = operator_manages_vault_roles(manifests)
    checked, wrong = 0, []
    for src in pods:
        for dst in pods:
            if src is dst or (src.group == "outside" and dst.group == "outside"):
                continue
            for port, protocol in dst.ports:
                want = expected(src, dst, port, serve, operator_vault)
                if cluster.allowed(src, dst, port, protocol) != want:
                    wrong.append(f"{src.namespace}/{src.name} -> {dst.namespace}/{dst.name}:"
                                 f"{port}/{protocol} should be {'allowed' if want else 'denied'}")
                checked += 1
    assert checked > 100
    assert wrong == []


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)
def test_only_gateways_reach_the_venues_and_the_operator_the_api(values_file: Path) -> None:
    cluster, pods, _ = world(render_ci(values_file))
    for pod in (p for p in pods if p.group != "outside"):
        internet = cluster.allowed(pod, INTERNET, 443)
        # The operator's API server rule and the collector's exporters are any address.
        assert internet == (pod.role in ("gateway", "operator", "otel-collector")), pod.name
        if pod.role == "gateway":
            assert not cluster.allowed(pod, PRIVATE, 443), pod.name
            assert not cluster.allowed(pod, INTERNET, 80), pod.name


@pytest.mark.parametrize("token_secret", ["", "vault-operator-token"])
def test_external_dependencies_are_reached_on_their_ports(token_secret: str) -> None:
    """An external Vault is reached by the vault service, and by the operator only when it is
    given a token to manage tenants' roles with."""
    values = yaml.safe_load((CHART / "ci" / "external-deps-values.yaml").read_text())
    values.setdefault("operator", {})["vault"] = {"tokenSecret": {"name": token_secret}}
    manifests = render(values)
    assert operator_manages_vault_roles(manifests) == bool(token_secret)
    cluster, pods, serve = world(manifests)
    db = Address("10.30.0.9", "the database")
    vault_clients = ("vault", "operator") if token_secret else ("vault",)
    for pod in pods:
        serving = pod.group == "tenant" or pod.labels.get("app.kubernetes.io/component") in serve
        if pod.group == "outside":
            continue
        assert cluster.allowed(pod, db, 9092) == serving, pod.name
        assert cluster.allowed(pod, db, 5432) == serving, pod.name
        assert cluster.allowed(pod, db, 8200) == (pod.group == "release"
                                                  and pod.role in vault_clients), pod.name


def test_an_operator_that_manages_no_vault_roles_does_not_reach_vault() -> None:
    manifests = render({"operator": {"vault": {"manageRoles": False}}})
    assert not operator_manages_vault_roles(manifests)
    cluster, pods, _ = world(manifests)
    [operator] = [p for p in pods if p.role == "operator"]
    [vault] = [p for p in pods if p.role == "bundled-vault"]
    assert not cluster.allowed(operator, vault, 8200)


def test_an_external_collector_is_reached_by_the_serving_pods_only() -> None:
    cluster, pods, _ = world(render({"observability": {"otel": {
        "endpoint": "http://otel.observability.svc:4317"}},
        "networkPolicy": {"otlp": {"to": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "observability"}}}], "ports": [4317]}}}))
    collector = Pod("collector", "observability", {"app": "otel"}, ((4317, "TCP"),))
    cluster.namespaces["observability"] = {}
    for pod in (p for p in pods if p.group != "outside"):
        assert cluster.allowed(pod, collector, 4317) == (
            pod.group == "tenant" or pod.role in ("gateway", "orderbook", "detector", "vault",
                                                  "control")), pod.name


def test_opening_a_flow_by_values_opens_that_flow() -> None:
    """The documented knobs: where Prometheus and control clients are."""
    cluster, pods, _ = world(render({"networkPolicy": {
        "prometheus": {"from": [{"namespaceSelector": {"matchLabels": {"team": "obs"}}}]},
        "controlClients": {"from": [{"podSelector": {"matchLabels": {"app": "anything"}},
                                     "namespaceSelector": {"matchLabels": {
                                         "kubernetes.io/metadata.name": "ops"}}}]}}}))
    cluster.namespaces["obs-ns"] = {"team": "obs"}
    scraper = Pod("vm", "obs-ns", {"app": "victoria"})
    by_name = {p.name: p for p in pods}
    stranger = by_name["stranger"]
    assert cluster.allowed(scraper, by_name["arbiter-detector"], 8080)
    assert cluster.allowed(scraper, by_name["acme-saga"], 8080)
    assert not cluster.allowed(by_name["prometheus"], by_name["arbiter-detector"], 8080)
    assert cluster.allowed(stranger, by_name["arbiter-control"], 50051)
    assert not cluster.allowed(by_name["ctl"], by_name["arbiter-control"], 50051)


def test_an_empty_caller_list_admits_no_one_rather_than_everyone() -> None:
    cluster, pods, _ = world(render({"networkPolicy": {"prometheus": {"from": []},
                                                       "controlClients": {"from": []}}}))
    by_name = {p.name: p for p in pods}
    for src in ("prometheus", "ctl", "stranger"):
        assert not cluster.allowed(by_name[src], by_name["arbiter-control"], 50051)
        assert not cluster.allowed(by_name[src], by_name["arbiter-detector"], 8080)
        assert not cluster.allowed(by_name[src], by_name["acme-risk"], 8080)


def test_disabled_renders_no_policies_for_the_release_or_the_tenants() -> None:
    manifests = render({"networkPolicy": {"enabled": False}})
    assert not [m for m in manifests if m["kind"] == "NetworkPolicy"]
    platform = parse_platform(yaml.safe_load(platform_yaml(manifests)))
    children = build_children(_tenant("acme", "desk-acme"), platform)
    assert not [c for c in children if c["kind"] == "NetworkPolicy"]


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)
def test_policies_are_schema_valid_and_select_real_pods(values_file: Path) -> None:
    manifests = render_ci(values_file)
    cluster, pods, _ = world(manifests)
    for policy in cluster.policies:
        kubernetes_validate.validate(policy, "1.30", strict=True)
        selector = policy["spec"]["podSelector"]
        assert any(matches(selector, p.labels) and p.namespace == policy["metadata"]["namespace"]
                   for p in pods if p.group != "outside"), policy["metadata"]["name"]
    # Every pod of the release and of the tenants is isolated both ways.
    for pod in (p for p in pods if p.group != "outside"):
        for kind in ("Ingress", "Egress"):
            assert any(kind in p["spec"]["policyTypes"] and matches_pod(p, pod)
                       for p in cluster.policies), (pod.name, kind)


def matches_pod(policy: dict[str, Any], pod: Pod) -> bool:
    return (policy["metadata"]["namespace"] == pod.namespace
            and matches(policy["spec"]["podSelector"], pod.labels))
