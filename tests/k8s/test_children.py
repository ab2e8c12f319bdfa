"""Pure child builders: what a Tenant turns into, without any API server."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from arbiter.operator.children import build_children
from arbiter.operator.platform import Platform, PlatformError, parse_platform
from arbiter.operator.reconcile import is_subset

from .invariants import is_guaranteed_pinned, pod_violations

EXAMPLE = yaml.safe_load((Path(__file__).parents[2] / "services" / "operator" / "examples" / "tenant.yaml").read_text())


def tenant(**spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body["metadata"]["uid"] = "uid-acme"
    body["spec"].update(spec)
    return body


def by_name(children: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in children if c["kind"] == kind}


def test_standard_tenant_builds_its_execution_plane(platform: Platform) -> None:
    children = build_children(tenant(), platform)
    assert [(c["kind"], c["metadata"]["name"]) for c in children] == [
        ("ServiceAccount", "acme-execution"),
        ("ConfigMap", "acme-config"),
        ("Deployment", "acme-saga"), ("Service", "acme-saga"),
        ("Deployment", "acme-risk"), ("Service", "acme-risk"),
        ("Deployment", "acme-gateway-kalshi"), ("Service", "acme-gateway-kalshi"),
        ("Deployment", "acme-gateway-polymarket"), ("Service", "acme-gateway-polymarket"),
        ("NetworkPolicy", "acme-default-deny"), ("NetworkPolicy", "acme-saga"),
        ("NetworkPolicy", "acme-risk"), ("NetworkPolicy", "acme-gateway-kalshi"),
        ("NetworkPolicy", "acme-gateway-polymarket"),
    ]
    for child in children:
        kubernetes_validate.validate(child, "1.30", strict=True)
        assert child["metadata"]["namespace"] == "desk-acme"
        owner = child["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("Tenant", "uid-acme", True)


def test_a_same_venue_tenant_gets_one_gateway(platform: Platform) -> None:
    body = tenant()
    body["spec"]["market"]["pairs"][0]["b"] = dict(body["spec"]["market"]["pairs"][0]["a"],
                                                   condition_id="0x" + "cd" * 32)
    deployments = by_name(build_children(body, platform), "Deployment")
    assert sorted(deployments) == ["acme-gateway-polymarket", "acme-risk", "acme-saga"]


def test_builders_are_deterministic(platform: Platform) -> None:
    assert build_children(tenant(), platform) == build_children(tenant(), platform)


def test_pinning_follows_tier_and_component(platform: Platform) -> None:
    deployments = by_name(build_children(tenant(), platform), "Deployment")
    label = platform.node_label
    for name, d in deployments.items():
        pod = d["spec"]["template"]["spec"]
        assert pod_violations(pod) == [], name
        assert is_guaranteed_pinned(pod, label) == (name != "acme-risk"), name
    paper = by_name(build_children(tenant(tenant={"tier": "paper"}), platform), "Deployment")
    assert not any("affinity" in d["spec"]["template"]["spec"] for d in paper.values())


def test_pro_tier_replicates_and_protects_with_pdbs(platform: Platform) -> None:
    children = build_children(tenant(tenant={"tier": "pro"}), platform)
    deployments = by_name(children, "Deployment")
    assert deployments["acme-gateway-kalshi"]["spec"]["replicas"] == 2
    assert deployments["acme-saga"]["spec"]["replicas"] == 1
    assert deployments["acme-saga"]["spec"]["strategy"] == {"type": "Recreate"}
    assert set(by_name(children, "PodDisruptionBudget")) == {
        "acme-risk", "acme-gateway-kalshi", "acme-gateway-polymarket"}


def test_paused_scales_to_zero_and_drops_pdbs(platform: Platform) -> None:
    children = build_children(tenant(tenant={"tier": "pro"}, paused=True), platform)
    assert {d["spec"]["replicas"] for d in by_name(children, "Deployment").values()} == {0}
    assert by_name(children, "PodDisruptionBudget") == {}
    config = yaml.safe_load(by_name(children, "ConfigMap")["acme-config"]["data"]["config.yaml"])
    assert "paused" not in str(config)  # not configuration: the pods never see it


def test_env_wires_the_tenant_identity_and_peers(platform: Platform) -> None:
    saga = by_name(build_children(tenant(), platform), "Deployment")["acme-saga"]
    container = saga["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert container["args"] == ["serve", "saga"]
    assert env["ARBITER__GRPC__RISK_ADDR"] == "acme-risk:50051"
    assert env["ARBITER__GRPC__GATEWAY_ADDRS__KALSHI"] == "acme-gateway-kalshi:50051"
    assert env["ARBITER__GRPC__GATEWAY_ADDRS__POLYMARKET"] == "acme-gateway-polymarket:50051"
    assert env["ARBITER__BUS__KAFKA_BOOTSTRAP"] == platform.env["ARBITER__BUS__KAFKA_BOOTSTRAP"]
    # the operator's copy of the store Secret in the tenant's namespace (store_credentials.py)
    assert env["ARBITER__STORE__DSN"] == {"secretKeyRef": {"name": "acme-store", "key": "dsn"}}
    config = yaml.safe_load(by_name(build_children(tenant(), platform), "ConfigMap")["acme-config"]["data"]["config.yaml"])
    assert config["tenant"] == {"id": "acme", "tier": "standard"}
    assert config["bus"] == {"topic_prefix": "tenant-acme."}
    assert config["vault"] == {"role": "arbiter-tenant-acme"}
    assert config["risk"] == EXAMPLE["spec"]["risk"]  # as written: the CRD is the config
    assert config["venues"] == EXAMPLE["spec"]["venues"]
    assert config["market"] == EXAMPLE["spec"]["market"]


def test_a_spec_change_rolls_the_pods_through_the_config_hash(platform: Platform) -> None:
    def sha(body: dict[str, Any]) -> str:
        saga = by_name(build_children(body, platform), "Deployment")["acme-saga"]
        return str(saga["spec"]["template"]["metadata"]["annotations"]["arbiter.dev/config-sha256"])

    changed = tenant()
    changed["spec"]["risk"]["max_daily_loss_usd"] = 1
    assert sha(tenant()) != sha(changed)


def test_drift_detection_ignores_server_fields_but_not_our_fields(platform: Platform) -> None:
    desired = by_name(build_children(tenant(), platform), "Deployment")["acme-saga"]
    live = copy.deepcopy(desired)
    live["metadata"]["resourceVersion"] = "42"
    live["spec"]["progressDeadlineSeconds"] = 600
    live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/termination-log"
    assert is_subset(desired, live)
    live["spec"]["replicas"] = 5
    assert not is_subset(desired, live)


def test_a_pinned_tier_with_fractional_cores_is_a_platform_error(platform: Platform) -> None:
    raw = {
        "image": "arbiter:1", "latencyCritical": {"nodeLabelKey": "k", "nodeLabelValue": "v"},
        "tiers": {t: {"pinned": True, "components": {c: {"replicas": 1, "cpu": "1", "memory": "1Gi"}
                                                     for c in ("saga", "risk", "gateway")}}
                  for t in ("paper", "standard", "pro")},
    }
    assert parse_platform(raw).tiers["pro"].pinned
    raw["tiers"]["pro"]["components"]["saga"]["cpu"] = "1500m"
    with pytest.raises(PlatformError, match="platform.tiers.pro.components.saga.cpu"):
        parse_platform(raw)
