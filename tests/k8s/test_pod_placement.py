"""Placement and pull settings (nodeSelector, affinity, tolerations, priorityClassName,
topologySpreadConstraints, podAnnotations, imagePullSecrets) reach every pod the chart renders
and, through platform.yaml, every tenant pod the operator builds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from arbiter.operator.children import build_children
from arbiter.operator.platform import PlatformError, parse_platform

from .conftest import find, platform_yaml, render

EXAMPLE = yaml.safe_load((Path(__file__).parents[2] / "services" / "operator" / "examples"
                          / "tenant.yaml").read_text())
PINNED = ("arbiter.dev/latency-critical", "true")
SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
          "whenUnsatisfiable": "ScheduleAnyway"}
GLOBAL: dict[str, Any] = {
    "nodeSelector": {"node.example.com/pool": "arbiter"},
    "affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                           "labelSelector": {"matchLabels": {"cache": "x"}}}}]}},
    "tolerations": [{"key": "node.example.com/spot", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "trading-high",
    "topologySpreadConstraints": [SPREAD],
    "podAnnotations": {"team.example.com/owner": "desk", "arbiter.dev/config-sha256": "mine"},
    "imagePullSecrets": [{"name": "registry-credentials"}],
}
WORKLOADS = ("Deployment", "StatefulSet", "Job")
SELECTOR_KEYS = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                 "app.kubernetes.io/component")


def _pods(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m["spec"]["template"] for m in manifests
            if m["kind"] in WORKLOADS}


def _has_globals(name: str, template: dict[str, Any], selector: dict[str, str]) -> None:
    pod = template["spec"]
    assert pod["nodeSelector"] == GLOBAL["nodeSelector"], name
    assert pod["priorityClassName"] == "trading-high", name
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}], name
    assert GLOBAL["tolerations"][0] in pod["tolerations"], name
    assert pod["affinity"]["podAffinity"] == GLOBAL["affinity"]["podAffinity"], name
    assert pod["topologySpreadConstraints"] == [
        {**SPREAD, "labelSelector": {"matchLabels": selector}}], name
    annotations = template["metadata"]["annotations"]
    assert annotations["team.example.com/owner"] == "desk", name
    assert annotations.get("arbiter.dev/config-sha256") != "mine", name  # the chart's own


def _pinned(pod: dict[str, Any]) -> bool:
    terms = pod.get("affinity", {}).get("nodeAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {}).get("nodeSelectorTerms", [])
    wanted = {"key": PINNED[0], "operator": "In", "values": [PINNED[1]]}
    return any(wanted in t["matchExpressions"] for t in terms) and any(
        t.get("key") == PINNED[0] for t in pod.get("tolerations", []))


def test_every_chart_pod_carries_the_global_settings_and_stays_valid() -> None:
    manifests = render({**GLOBAL, "observability": {"otel": {"collector": {"enabled": True}}}})
    pods = _pods(manifests)
    assert {"arbiter-operator", "arbiter-bundled-kafka", "arbiter-store-init",
            "arbiter-otel-collector", "arbiter-detector"} <= set(pods)
    for name, template in pods.items():
        labels = template["metadata"]["labels"]
        _has_globals(name, template, {k: labels[k] for k in SELECTOR_KEYS})
    for manifest in manifests:
        if manifest["kind"] in WORKLOADS:
            kubernetes_validate.validate(manifest, "1.30", strict=True)
    # The latency-critical pin survives a user affinity and tolerations.
    for name in ("arbiter-detector", "arbiter-gateway-kalshi", "arbiter-gateway-polymarket"):
        assert _pinned(pods[name]["spec"]), name
    assert not _pinned(pods["arbiter-orderbook"]["spec"])


def test_a_service_entry_overrides_a_global_setting_even_with_an_empty_value() -> None:
    pods = _pods(render({**GLOBAL, "services": {
        "detector": {"nodeSelector": {}, "priorityClassName": "trading-critical",
                     "podAnnotations": {"only": "detector"}, "tolerations": []},
        "orderbook": {"imagePullSecrets": [{"name": "other"}]}}}))
    detector = pods["arbiter-detector"]
    assert "nodeSelector" not in detector["spec"]
    assert detector["spec"]["priorityClassName"] == "trading-critical"
    assert detector["metadata"]["annotations"]["only"] == "detector"
    assert "team.example.com/owner" not in detector["metadata"]["annotations"]
    assert _pinned(detector["spec"])  # the chart's toleration stays
    assert pods["arbiter-orderbook"]["spec"]["imagePullSecrets"] == [{"name": "other"}]
    assert pods["arbiter-control"]["spec"]["nodeSelector"] == GLOBAL["nodeSelector"]


def test_defaults_render_no_placement_keys() -> None:
    pod = _pods(render())["arbiter-orderbook"]["spec"]
    assert not {"nodeSelector", "priorityClassName", "topologySpreadConstraints",
                "imagePullSecrets", "tolerations"} & set(pod)


@pytest.mark.parametrize("bad", [
    {"priorityClassName": "Not_A_Name"},
    {"tolerations": [{"key": "a", "operator": "Maybe"}]},
    {"topologySpreadConstraints": [{"maxSkew": 1}]},
    {"nodeSelector": {"a": 1}},
    {"imagePullSecrets": [{"name": ""}]},
    {"services": {"detector": {"affinity": {"nodeAfinity": {}}}}},
])
def test_the_schema_refuses_malformed_settings(bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError):
        render(bad)


def test_the_operator_builds_tenant_pods_with_the_release_settings() -> None:
    text = platform_yaml(render(GLOBAL))
    platform = parse_platform(yaml.safe_load(text))
    body = copy.deepcopy(EXAMPLE)
    body["metadata"]["uid"] = "uid-acme"
    deployments = [c for c in build_children(body, platform) if c["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {
        "acme-saga", "acme-risk", "acme-gateway-kalshi", "acme-gateway-polymarket"}
    for d in deployments:
        kubernetes_validate.validate(d, "1.30", strict=True)
        _has_globals(d["metadata"]["name"], d["spec"]["template"],
                     d["spec"]["selector"]["matchLabels"])
        pinned = _pinned(d["spec"]["template"]["spec"])
        assert pinned == (d["metadata"]["name"] != "acme-risk")  # standard tier pins saga, gateways


def test_a_malformed_pods_section_is_refused() -> None:
    data = yaml.safe_load(platform_yaml(render()))
    data["pods"]["tolerations"] = {"key": "x"}
    with pytest.raises(PlatformError, match="platform.pods.tolerations"):
        parse_platform(data)
    del data["pods"]  # a chart older than the operator: no settings
    assert parse_platform(data).pods.node_selector == {}


def test_the_release_operator_pod_itself_is_placed_too() -> None:
    pod = find(render(GLOBAL), "Deployment", "arbiter-operator")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "trading-high"
