"""The kind dev loop fits a laptop: everything the release plus one standard tenant requests
under deploy/kind/values.yaml fits the budget below, on one kind worker.

The budget: kind nodes are containers sharing the laptop's cores, and each reports all of
them as its capacity. On a 2-core laptop the control plane's own pods (API server, etcd,
controller manager, scheduler, CoreDNS, kindnet) request about one core, so Arbiter gets the
other: 1000m of CPU requests in all. Memory: 3.5 GiB, the 4 GiB VM Docker Desktop gives an
8 GiB laptop by default less about 512 MiB for the control plane. The store init Job (a hook
that ends) is counted anyway. Everything must fit one worker, so the
tenant schedules even if the latency worker (tainted, 1 core kube/system-reserved) is left out.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from arbiter.operator.children import build_children
from arbiter.operator.platform import parse_platform

from .conftest import ROOT, platform_yaml, render
from .test_observability_chart import validate

KIND_VALUES = yaml.safe_load((ROOT / "deploy" / "kind" / "values.yaml").read_text())
KIND = yaml.safe_load((ROOT / "deploy" / "kind" / "kind-config.yaml").read_text())
SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
EXAMPLE = yaml.safe_load((ROOT / "services" / "operator" / "examples" / "tenant.yaml").read_text())
BUDGET_MILLICPU = 1000
BUDGET_MIB = 3584
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def _millicpu(quantity: Any) -> int:
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def _mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def _requests(manifests: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    """(millicpu, MiB) requested by each workload, all replicas, init Job included."""
    total: dict[str, tuple[int, float]] = {}
    for m in manifests:
        if m["kind"] not in WORKLOADS:
            continue
        replicas = m["spec"].get("replicas", 1)
        cpu = mem = 0.0
        for c in m["spec"]["template"]["spec"]["containers"]:
            cpu += _millicpu(c["resources"]["requests"]["cpu"])
            mem += _mib(c["resources"]["requests"]["memory"])
        total[m["metadata"]["name"]] = (int(cpu * replicas), mem * replicas)
    return total


def _kind_release_and_standard_tenant() -> dict[str, tuple[int, float]]:
    release = render(KIND_VALUES)
    platform = parse_platform(yaml.safe_load(platform_yaml(release)))
    body = copy.deepcopy(EXAMPLE)
    body["metadata"]["uid"] = "uid-acme"
    assert body["spec"]["tenant"]["tier"] == "standard"
    return {**_requests(release), **_requests(build_children(body, platform))}


def test_the_release_plus_a_standard_tenant_fits_the_kind_budget() -> None:
    workloads = _kind_release_and_standard_tenant()
    assert {"acme-saga", "acme-risk", "acme-gateway-polymarket", "arbiter-detector",
            "arbiter-bundled-kafka", "arbiter-operator"} <= set(workloads)
    cpu = sum(c for c, _ in workloads.values())
    mem = sum(m for _, m in workloads.values())
    assert cpu <= BUDGET_MILLICPU, f"{cpu}m of CPU requested: {workloads}"
    assert mem <= BUDGET_MIB, f"{mem:.0f}Mi of memory requested: {workloads}"


def test_nothing_is_pinned_or_asks_for_a_whole_core_under_the_kind_values() -> None:
    release = render(KIND_VALUES)
    platform = parse_platform(yaml.safe_load(platform_yaml(release)))
    assert not any(tier.pinned for tier in platform.tiers.values())
    for name, (cpu, _) in _kind_release_and_standard_tenant().items():
        assert cpu < 1000, name
    for m in release:
        if m["kind"] in WORKLOADS:
            for c in m["spec"]["template"]["spec"]["containers"]:
                limits = c["resources"].get("limits", {})
                assert limits.get("memory"), (m["metadata"]["name"], "memory limit")


def test_the_production_defaults_are_unchanged() -> None:
    """The kind values only layer: the chart's own standard tier still pins whole cores."""
    values = yaml.safe_load((ROOT / "charts" / "arbiter" / "values.yaml").read_text())
    standard = values["operator"]["tiers"]["standard"]
    assert standard["pinned"] and standard["components"]["saga"]["cpu"] == "1"
    assert values["services"]["detector"]["latencyCritical"] is True


def test_skaffold_kind_profile_layers_the_kind_values() -> None:
    kind = next(p for p in SKAFFOLD["profiles"] if p["name"] == "kind")
    (release,) = kind["manifests"]["helm"]["releases"]
    files = [Path(f) for f in release["valuesFiles"]]
    assert files == [Path("deploy/kind/values.yaml")] and (ROOT / files[0]).is_file()
    (plain,) = SKAFFOLD["manifests"]["helm"]["releases"]
    assert "valuesFiles" not in plain
    assert sum(n["role"] == "worker" for n in KIND["nodes"]) == 2


def test_the_kind_values_render_schema_valid_manifests() -> None:
    for manifest in render(KIND_VALUES):
        validate(manifest)
