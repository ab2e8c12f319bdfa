"""Observability fixtures: what the code exports, the rendered chart, isolated telemetry."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from arbiter.platform.telemetry import metrics, tracing

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "arbiter"
DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
METRIC_NAME = re.compile(r"\barbiter_[a-zA-Z0-9_:]*")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def arbiter_metrics() -> dict[str, MetricWrapperBase]:
    """Every `arbiter_` metric object in the registry, by family name."""
    assert metrics.HOPS  # importing the module registers every metric
    found = {}
    for collector in list(REGISTRY._collector_to_names):
        if isinstance(collector, MetricWrapperBase) and collector._name.startswith("arbiter_"):
            found[collector._name] = collector
    return found


def exported_names() -> set[str]:
    """The series names a scrape can contain (`_bucket`/`_sum`/`_count`, `_total`, ...)."""
    return {m._name + suffix
            for m in arbiter_metrics().values() for suffix in SUFFIXES[m._type]}


def names_in(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))


def prometheus_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every Prometheus query of a dashboard: panels and variables."""
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == "prometheus":
                out.append((f"{dashboard['uid']}/{panel['title']}", target["expr"]))
    for var in dashboard["templating"]["list"]:
        if var.get("datasource", {}).get("type") == "prometheus":
            out.append((f"{dashboard['uid']}/${var['name']}", var["query"]["query"]))
    return out


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def render_chart(values: dict[str, Any]) -> list[dict[str, Any]]:
    files = helm.Chart.load(CHART).render(values, name="arbiter", namespace="trading")
    return [doc for text in files.values() for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture
def telemetry_reset(restore_logging: None) -> Iterator[None]:
    """Leave logging and tracing as the test found them."""
    yield
    tracing.shutdown_tracing()

