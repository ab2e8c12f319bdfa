"""skaffold.yaml and the kind cluster config agree with the chart they drive."""

from __future__ import annotations

from typing import Any

import yaml

from .conftest import CHART, ROOT

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
KIND = yaml.safe_load((ROOT / "deploy" / "kind" / "kind-config.yaml").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def _releases(config: dict[str, Any]) -> list[dict[str, Any]]:
    return list(config["manifests"]["helm"]["releases"])


def test_skaffold_builds_one_image_from_the_root_dockerfile() -> None:
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4beta")
    assert SKAFFOLD["kind"] == "Config"
    (artifact,) = SKAFFOLD["build"]["artifacts"]
    assert artifact["context"] == "." and artifact["docker"]["dockerfile"] == "Dockerfile"
    assert (ROOT / "Dockerfile").is_file()
    syncs = artifact["sync"]["manual"]
    assert {s["src"] for s in syncs} == {"services/**/*.py"}


def test_skaffold_deploys_the_chart_with_the_built_image() -> None:
    image = SKAFFOLD["build"]["artifacts"][0]["image"]
    for release in _releases(SKAFFOLD) + _releases(next(p for p in SKAFFOLD["profiles"] if p["name"] == "kind")):
        assert (ROOT / release["chartPath"]).resolve() == CHART
        templates = release["setValueTemplates"]
        assert templates["image.repository"] == f"{{{{.IMAGE_REPO_{image}}}}}"
        assert templates["image.tag"] == f"{{{{.IMAGE_TAG_{image}}}}}"
    assert "helm" in SKAFFOLD["deploy"]


def test_kind_profile_uses_local_images_and_dev_sync() -> None:
    kind = next(p for p in SKAFFOLD["profiles"] if p["name"] == "kind")
    (release,) = _releases(kind)
    assert release["setValues"] == {"image.pullPolicy": "Never", "devSync": True}
    assert kind["activation"] == [{"kubeContext": f"kind-{KIND['name']}"}]


def test_kind_has_a_labelled_and_tainted_latency_worker_matching_the_chart() -> None:
    assert KIND["kind"] == "Cluster" and KIND["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    label = VALUES["latencyCritical"]["nodeLabel"]
    (toleration,) = VALUES["latencyCritical"]["tolerations"]
    pinned = [n for n in KIND["nodes"] if n.get("labels", {}).get(label["key"]) == label["value"]]
    assert len(pinned) == 1 and pinned[0]["role"] == "worker"
    patch = yaml.safe_load(pinned[0]["kubeadmConfigPatches"][0])
    (taint,) = patch["nodeRegistration"]["taints"]
    assert (taint["key"], taint["value"], taint["effect"]) == (
        toleration["key"], toleration["value"], toleration["effect"])
    assert patch["nodeRegistration"]["kubeletExtraArgs"]["cpu-manager-policy"] == "static"
    assert any(n["role"] == "worker" and "labels" not in n for n in KIND["nodes"])
