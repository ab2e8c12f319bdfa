"""Dashboards and alerts name only metrics the code exports; the metrics follow conventions."""

from __future__ import annotations

import re

import pytest

from arbiter.platform.telemetry import metrics

from .conftest import (
    DASHBOARDS,
    arbiter_metrics,
    exported_names,
    load_dashboard,
    names_in,
    prometheus_exprs,
    render_chart,
)

UNIT_SUFFIXES = ("_seconds", "_dollars", "_contracts", "_messages")
# Gauges that are counts or 0/1 states: no unit to name.
UNITLESS = {"arbiter_sagas_in_flight", "arbiter_sagas_held", "arbiter_books_stale",
            "arbiter_venue_connected", "arbiter_hard_stop_latched", "arbiter_funds_low",
            "arbiter_bus_connected"}


def test_there_are_the_four_dashboards() -> None:
    assert {p.stem for p in DASHBOARDS} == {"trading", "latency", "venues", "tenants"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_query_names_exported_metrics(path) -> None:
    exported = exported_names()
    queries = prometheus_exprs(load_dashboard(path))
    assert queries
    for where, expr in queries:
        named = names_in(expr)
        assert named, f"{where}: query names no arbiter metric: {expr}"
        assert named <= exported, f"{where}: not exported: {sorted(named - exported)}"


def test_a_slow_saga_links_to_its_trace() -> None:
    latency = load_dashboard(next(p for p in DASHBOARDS if p.stem == "latency"))
    tempo = [p for p in latency["panels"] if p["datasource"]["type"] == "tempo"]
    assert tempo and tempo[0]["fieldConfig"]["defaults"]["links"][0]["internal"][
        "datasourceUid"] == "${tempo}"
    exemplars = [t for p in latency["panels"] for t in p["targets"] if t.get("exemplar")]
    assert any("arbiter_saga_duration_seconds_bucket" in t["expr"] for t in exemplars)


def _observability(**overrides: object) -> dict[str, object]:
    return {"observability": {
        "alerts": {"enabled": True, "labels": {"release": "kube-prometheus"}},
        "datasources": {"enabled": True, "prometheusUrl": "http://prometheus:9090",
                        "tempoUrl": "http://tempo:3200"},
        **overrides}}


def test_alert_rules_name_exported_metrics_and_cover_every_required_alert() -> None:
    manifests = render_chart(_observability())
    [rule] = [m for m in manifests if m["kind"] == "PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus"
    rules = [(r["alert"], r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {name for name, _ in rules} == {
        "ArbiterTickToTradeSlow", "ArbiterHardStopLatched", "ArbiterUnhedgedExposureHeld",
        "ArbiterVenueDown", "ArbiterBooksStale", "ArbiterBookDiverges", "ArbiterConsumerLag",
        "ArbiterFundsLow", "ArbiterTargetDown", "ArbiterTargetMissing", "ArbiterBrokerDown",
        "ArbiterBrokerDataLoss"}
    exported = exported_names()
    for name, expr in rules:
        if name.startswith("ArbiterTarget"):  # Prometheus' own scrape health, not ours
            assert "up{" in expr and not names_in(expr), (name, expr)
        else:
            assert names_in(expr) and names_in(expr) <= exported, (name, expr)
    assert "> 0.05" in dict(rules)["ArbiterTickToTradeSlow"]


def test_dashboards_become_labelled_configmaps_and_datasources_are_pinned() -> None:
    manifests = render_chart(_observability())
    maps = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ConfigMap"}
    for path in DASHBOARDS:
        cm = maps[f"arbiter-dashboard-{path.stem}"]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["data"][f"arbiter-{path.stem}.json"] == path.read_text()
    sources = maps["arbiter-grafana-datasources"]["data"]["arbiter-datasources.yaml"]
    assert "uid: arbiter-prometheus" in sources and "uid: arbiter-tempo" in sources


def test_observability_off_renders_none_of_it() -> None:
    manifests = render_chart({"observability": {"dashboards": {"enabled": False}}})
    assert not [m for m in manifests if "observability" in str(m["metadata"].get("labels"))]


def test_metric_names_follow_prometheus_conventions() -> None:
    found = arbiter_metrics()
    assert len(found) >= 30
    for name, metric in found.items():
        assert re.fullmatch(r"arbiter_[a-z][a-z0-9]*(_[a-z0-9]+)*", name), name
        kind = metric._type
        if kind == "counter":
            # prometheus-client keeps `_total` off the family name and adds it to the series.
            assert not name.endswith("_total"), name
            assert not name.endswith(UNIT_SUFFIXES[0]), name
        elif name not in UNITLESS:
            assert name.endswith(UNIT_SUFFIXES), f"{name} has no unit suffix"


def test_no_metric_has_a_label_outside_the_bounded_vocabulary() -> None:
    for name, metric in arbiter_metrics().items():
        labels = set(metric._labelnames)
        assert labels <= metrics.ALLOWED_LABELS, f"{name}: {sorted(labels - metrics.ALLOWED_LABELS)}"
    assert not {"saga", "saga_id", "order_id", "market", "market_id", "pair"} & metrics.ALLOWED_LABELS


def test_hop_children_refuse_values_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="not one of"):
        metrics.hop("some-saga-id")
