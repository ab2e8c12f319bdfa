"""The Helm chart, rendered offline by the real Helm engine and checked against Kubernetes schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from arbiter.operator.crd import tenant_crd_yaml
from arbiter.operator.platform import SecretKey, parse_platform

from .conftest import CHART, CI_VALUES, find, platform_yaml, render, render_ci
from .invariants import is_guaranteed_pinned, pod_violations
from .test_observability_chart import validate

K8S_VERSION = "1.30"
LATENCY_CRITICAL = {"gateway-polymarket", "gateway-kalshi", "detector"}
WORKLOADS = ("Deployment", "StatefulSet")
LABEL = ("arbiter.dev/latency-critical", "true")

ci = pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)


def _values(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def test_there_are_several_ci_values_files() -> None:
    assert len(CI_VALUES) >= 4


@ci
def test_chart_lints_strictly(values_file: Path) -> None:
    report = helm.lint(CHART, _values(values_file), strict=True, namespace="trading")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == []


@ci
def test_every_rendered_manifest_matches_the_kubernetes_schema(values_file: Path) -> None:
    manifests = render_ci(values_file)
    assert manifests
    for manifest in manifests:
        validate(manifest)  # prometheus-operator's CRD schemas for its kinds


def test_shipped_crd_is_generated_from_the_config_models_and_schema_valid() -> None:
    shipped = (CHART / "crds" / "tenants.arbiter.dev.yaml").read_text()
    assert shipped == tenant_crd_yaml(), "the config models changed: run python tools/gen_crd.py"
    kubernetes_validate.validate(yaml.safe_load(shipped), K8S_VERSION, strict=True)


@ci
def test_every_pod_is_hardened_probed_and_sized(values_file: Path) -> None:
    for w in (m for m in render_ci(values_file) if m["kind"] in WORKLOADS):
        pod = w["spec"]["template"]["spec"]
        # Bundled Kafka's launcher writes its config into the image: the one declared exception.
        writable = w["metadata"]["name"] == "arbiter-bundled-kafka"
        assert pod_violations(pod, read_only_root=not writable) == [], w["metadata"]["name"]
        if w["kind"] == "Deployment":
            for probe in ("livenessProbe", "readinessProbe"):
                assert pod["containers"][0][probe]["httpGet"]["port"] == "http"
            assert pod["containers"][0]["ports"][0]["containerPort"] == 8080


@ci
def test_latency_critical_pods_are_pinned_and_the_rest_float(values_file: Path) -> None:
    manifests = render_ci(values_file)
    label = tuple(_values(values_file).get("latencyCritical", {}).get("nodeLabel", {}).values()) or LABEL
    for d in (m for m in manifests if m["kind"] == "Deployment"):
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = d["spec"]["template"]["spec"]
        if component in LATENCY_CRITICAL:
            assert is_guaranteed_pinned(pod, label), component  # type: ignore[arg-type]
        else:
            assert "nodeAffinity" not in pod.get("affinity", {}), component
            assert "tolerations" not in pod, component


@ci
def test_pdb_exactly_where_there_are_replicas(values_file: Path) -> None:
    manifests = render_ci(values_file)
    pdbs = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "PodDisruptionBudget"}
    deployments = [m for m in manifests if m["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments if d["spec"]["replicas"] > 1} == set(pdbs)
    for d in deployments:
        if d["metadata"]["name"] in pdbs:
            assert pdbs[d["metadata"]["name"]]["spec"]["selector"] == d["spec"]["selector"]


def test_defaults_install_the_shared_plane_operator_and_bundled_dependencies() -> None:
    manifests = render_ci(CHART / "ci" / "default-values.yaml")
    deployments = {m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"}
    assert deployments == {f"arbiter-{s}" for s in (
        "gateway-polymarket", "gateway-kalshi", "orderbook", "detector", "vault", "control", "operator")}
    assert {m["metadata"]["name"] for m in manifests if m["kind"] == "StatefulSet"} == {
        "arbiter-bundled-kafka", "arbiter-bundled-postgresql", "arbiter-bundled-vault"}
    detector = find(manifests, "Deployment", "arbiter-detector")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in detector["containers"][0]["env"]}
    assert env["ARBITER__BUS__KAFKA_BOOTSTRAP"]["value"] == "arbiter-bundled-kafka.trading.svc:9092"
    assert "ARBITER__STORE__DSN" not in env  # only tenants' pods hold a store role
    assert detector["containers"][0]["args"] == ["serve", "detector"]
    assert find(manifests, "ClusterRole", "arbiter-operator")


def test_external_dependencies_replace_the_bundled_ones() -> None:
    manifests = render_ci(CHART / "ci" / "external-deps-values.yaml")
    assert not [m for m in manifests if m["kind"] == "StatefulSet"]
    pod = find(manifests, "Deployment", "arbiter-orderbook")
    env = {e["name"]: e for e in pod["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ARBITER__BUS__KAFKA_BOOTSTRAP"]["value"] == "kafka-0.kafka.svc:9092,kafka-1.kafka.svc:9092"
    assert env["ARBITER__VAULT__ADDR"]["value"] == "https://vault.vault.svc:8200"
    assert "ARBITER__STORE__DSN" not in env
    assert pod["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/arbiter:0.1.0"


def test_namespaced_operator_gets_a_role_and_watches_its_namespace() -> None:
    manifests = render_ci(CHART / "ci" / "namespaced-operator-values.yaml")
    kinds = {m["kind"] for m in manifests}
    assert "Role" in kinds and "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    operator = find(manifests, "Deployment", "arbiter-operator")["spec"]["template"]["spec"]
    container = operator["containers"][0]
    assert container["command"] == ["kopf"]
    assert "--namespace=trading" in container["args"]
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert find(manifests, "Deployment", "arbiter-operator")["spec"]["strategy"]["type"] == "Recreate"


@ci
def test_operator_platform_config_is_what_the_operator_can_load(values_file: Path) -> None:
    manifests = render_ci(values_file)
    if not any(m["metadata"]["name"] == "arbiter-operator" for m in manifests):
        # operator disabled in this values file: then nothing of it renders
        assert [m["metadata"]["name"] for m in manifests
                if "operator" in m["metadata"]["name"]] == []
        return
    platform = parse_platform(yaml.safe_load(platform_yaml(manifests)))
    orderbook = find(manifests, "Deployment", "arbiter-orderbook")
    image = orderbook["spec"]["template"]["spec"]["containers"][0]["image"]
    assert platform.image == image
    assert platform.tiers["pro"].components["gateway"].replicas == 2


@ci
def test_the_operator_reads_and_writes_secrets_by_name_only(values_file: Path) -> None:
    """It copies the store Secret and reads its Vault token by name: no list or watch, which
    would hand it every Secret of every namespace it watches."""
    manifests = render_ci(values_file)
    roles = [m for m in manifests if m["kind"] in ("Role", "ClusterRole")
             and m["metadata"]["name"] == "arbiter-operator"]
    for rbac in roles:
        verbs = [set(r["verbs"]) for r in rbac["rules"] if "secrets" in r["resources"]]
        assert verbs == [{"get", "create", "patch", "delete"}], rbac["kind"]


VAULT_OFF = {"vault": {"enabled": False, "external": {"addr": "https://vault.example:8200"}}}


@pytest.mark.parametrize(("values", "addr", "token"), [
    ({}, "http://arbiter-bundled-vault.trading.svc:8200", SecretKey("arbiter-bundled-vault",
                                                                   "token")),
    ({"operator": {"vault": {"manageRoles": False}}}, None, None),
    (VAULT_OFF, None, None),
    ({**VAULT_OFF, "operator": {"vault": {"tokenSecret": {"name": "ops-token", "key": "t"}}}},
     "https://vault.example:8200", SecretKey("ops-token", "t")),
], ids=["bundled", "not-managed", "external-no-token", "external-token"])
def test_the_operator_manages_tenants_vault_roles_when_given_a_token(
    values: dict[str, Any], addr: str | None, token: SecretKey | None
) -> None:
    vault = parse_platform(yaml.safe_load(platform_yaml(render(values)))).vault
    if token is None:
        assert vault is None
        return
    assert vault is not None and (vault.addr, vault.token_secret) == (addr, token)
    assert (vault.namespace, vault.auth_mount, vault.tenant_key) == (
        "trading", "kubernetes", "arbiter-tenant-{tenant}")


def test_dev_sync_only_relaxes_the_read_only_root() -> None:
    relaxed = render({"devSync": True})
    for d in (m for m in relaxed if m["kind"] == "Deployment"):
        pod = d["spec"]["template"]["spec"]
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False
        assert pod_violations(pod, read_only_root=False) == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"services": {"detector": {"replicas": "two"}}}, "/services/detector/replicas"),
        ({"services": {"risk-engine": {}}}, "risk-engine"),
        ({"services": {"orderbook": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}}}},
         "/services/orderbook/resources/requests/cpu"),
        ({"operator": {"watch": "everything"}}, "/operator/watch"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"kafka": {"enabled": "yes"}}, "/kafka/enabled"),
        ({"operator": {"tiers": {"pro": {"components": {"saga": {"replicas": -1}}}}}},
         "/operator/tiers/pro/components/saga/replicas"),
        ({"unknownTopLevel": 1}, "unknownTopLevel"),
    ],
    ids=["string-for-int", "unknown-service", "bad-quantity", "bad-enum", "bad-pull-policy",
         "string-for-bool", "negative-replicas", "unknown-key"],
)
def test_bad_values_fail_with_a_schema_error_naming_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=message):
        render(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"services": {"detector": {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}}},
         "services.detector.resources.requests.cpu must be a whole number"),
        ({"kafka": {"enabled": False}}, "kafka.external.bootstrap is required"),
        ({"postgresql": {"enabled": False, "external": {"vaultDsnSecret": {"name": "v"}}}},
         "postgresql.external.tenantDsnSecret.name is required"),
        ({"vault": {"enabled": False}}, "vault.external.addr is required"),
    ],
    ids=["fractional-cpu-on-pinned", "kafka-off-no-bootstrap", "pg-off-no-secret", "vault-off-no-addr"],
)
def test_inconsistent_values_fail_rendering_with_a_clear_message(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=message):
        render(values)


@pytest.mark.parametrize(("values", "token"), [({}, True), (
    {"vault": {"enabled": False, "external": {"addr": "https://vault.example:8200"}},
     "postgresql": {"enabled": False, "external": {
         "tenantDsnSecret": {"name": "dsn-{tenant}"}, "vaultDsnSecret": {"name": "vault-dsn"}}}},
    False)],
    ids=["bundled-vault", "external-vault"])
def test_the_vault_service_wraps_keys_with_transit(values: dict[str, Any], token: bool) -> None:
    """Bundled (development) Vault: its generated root token; a real Vault: Kubernetes auth
    with vault.role, and no token in the pod at all."""
    pod = find(render(values), "Deployment", "arbiter-vault")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["ARBITER__VAULT__BACKEND"]["value"] == "transit"
    assert env["ARBITER__VAULT__ROLE"]["value"] and env["ARBITER__VAULT__ADDR"]["value"]
    if token:
        assert env["VAULT_TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": "arbiter-bundled-vault", "key": "token"}
    else:
        assert "VAULT_TOKEN" not in env
