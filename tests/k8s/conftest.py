"""Shared fixtures: the chart rendered offline once per values file, and the platform it yields."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from arbiter.operator.platform import Platform, parse_platform

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "arbiter"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
NAMESPACE = "trading"

Manifest = dict[str, Any]


def render(values: Mapping[str, Any] | None = None) -> list[Manifest]:
    """Render the chart like `helm template arbiter charts/arbiter -n trading`."""
    chart = helm.Chart.load(CHART)
    files = chart.render(dict(values or {}), name="arbiter", namespace=NAMESPACE)
    return [doc for text in files.values() for doc in yaml.safe_load_all(text) if doc]


_CACHE: dict[str, list[Manifest]] = {}


def render_ci(path: Path) -> list[Manifest]:
    """Rendering costs ~100 ms; the same ci file is rendered once per session."""
    if path.name not in _CACHE:
        _CACHE[path.name] = render(yaml.safe_load(path.read_text()) or {})
    return _CACHE[path.name]


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def platform_yaml(manifests: list[Manifest]) -> str:
    return str(find(manifests, "ConfigMap", "arbiter-operator-platform")["data"]["platform.yaml"])


@pytest.fixture(scope="session")
def platform() -> Platform:
    """The platform exactly as the default chart hands it to the operator."""
    text = platform_yaml(render_ci(CHART / "ci" / "default-values.yaml"))
    return parse_platform(yaml.safe_load(text))
