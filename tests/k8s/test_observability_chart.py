"""The chart's observability resources, rendered by the real Helm engine: what Prometheus
scrapes (PodMonitors, annotations), the target and absent-metric alerts, the OpenTelemetry
endpoint and collector, and extra environment for the chart's pods.

The PodMonitor and PrometheusRule are checked against the models generated from
prometheus-operator's CRDs (cloudcoil-models-prometheus-operator), the rest with
kubernetes-validate; the
rendered environment is handed to the code that reads it (tracing.setup_tracing, the OTLP
exporter), and every alert expression is parsed with promql-parser (the Prometheus grammar).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from typing import Any

import helm_python as helm
import kubernetes_validate
import promql_parser
import pytest
import yaml
from cloudcoil.models.cert_manager import v1 as cert_manager
from cloudcoil.models.prometheus_operator import v1 as monitoring

from arbiter.operator.children import build_children
from arbiter.operator.platform import parse_platform
from arbiter.platform.telemetry import tracing

from .conftest import CHART, NAMESPACE, Manifest, find, platform_yaml, render
from .invariants import pod_violations

K8S_VERSION = "1.30"
EXAMPLE = yaml.safe_load((CHART.parents[1] / "services" / "operator" / "examples"
                          / "tenant.yaml").read_text())
SHARED = {"gateway-polymarket", "gateway-kalshi", "orderbook", "detector", "vault", "control"}
ALERTS_ON = {"observability": {"alerts": {"enabled": True}}}


# -- helpers ---------------------------------------------------------------------------
# Kinds of CRDs (not in kubernetes-validate's schemas) -> the models cloudcoil generates
# from those CRDs.
CRD_MODELS = {
    "monitoring.coreos.com/v1": {"PodMonitor": monitoring.PodMonitor,
                                 "PrometheusRule": monitoring.PrometheusRule},
    "cert-manager.io/v1": {"Certificate": cert_manager.Certificate,
                           "Issuer": cert_manager.Issuer,
                           "ClusterIssuer": cert_manager.ClusterIssuer},
}


def validate(manifest: Manifest) -> None:
    """prometheus-operator's and cert-manager's kinds against the models generated from
    their CRDs (cloudcoil): parsed, then dumped back, the manifest must come out unchanged,
    so a misspelt or unknown field fails as the API server's strict validation would; the
    rest with kubernetes-validate."""
    if manifest["apiVersion"] in CRD_MODELS:
        model = CRD_MODELS[manifest["apiVersion"]][manifest["kind"]].model_validate(manifest)
        assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == manifest, (
            f"{manifest['kind']} {manifest['metadata']['name']} has fields its CRD "
            "does not define")
    else:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def _kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against pod labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _scraped(monitor: Manifest, deployments: Iterator[Manifest] | list[Manifest],
             namespace: str = NAMESPACE) -> set[str]:
    """The Deployments whose pods a PodMonitor scrapes (namespace and labels)."""
    where = monitor["spec"]["namespaceSelector"]
    return {d["metadata"]["name"] for d in deployments
            if (where.get("any") or namespace in where.get("matchNames", []))
            and _selects(monitor["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])}


def _rules(manifests: list[Manifest]) -> list[dict[str, Any]]:
    [rule] = _kind(manifests, "PrometheusRule").values()
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def _container(deployment: Manifest) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _env(deployment: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(deployment)["env"]}


def _serve_deployments(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {n: d for n, d in _kind(manifests, "Deployment").items()
            if _container(d).get("args", [None])[0] == "serve"}


def _tenant_children(manifests: list[Manifest], **spec: Any) -> list[Manifest]:
    platform = parse_platform(yaml.safe_load(platform_yaml(manifests)))
    body = copy.deepcopy(EXAMPLE)
    body["metadata"]["uid"] = "uid-acme"
    body["spec"].update(spec)
    return build_children(body, platform)


# -- scraping --------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "rendered"), [
    ({}, False),                                                    # alerts off: nothing
    (ALERTS_ON, True),                                              # follows the alerts
    ({"observability": {"alerts": {"enabled": True}, "podMonitor": {"enabled": False}}}, False),
    ({"observability": {"podMonitor": {"enabled": True}}}, True),   # scraping without rules
], ids=["default", "with-alerts", "opted-out", "without-alerts"])
def test_podmonitors_follow_the_alerts_unless_set(values: dict[str, Any], rendered: bool) -> None:
    manifests = render(values)
    monitors = _kind(manifests, "PodMonitor")
    assert set(monitors) == ({"arbiter", "arbiter-tenants"} if rendered else set())
    if not rendered and values:  # alerts on, PodMonitors off: no rule needs their job labels
        assert not [r for r in _rules(manifests) if r["alert"].startswith("ArbiterTarget")]


def test_the_shared_podmonitor_scrapes_every_serving_pod_and_nothing_else() -> None:
    values = {"observability": {"alerts": {"enabled": True}, "otel": {"collector": {
        "enabled": True}}, "podMonitor": {"labels": {"release": "kube-prometheus"}}}}
    manifests = render(values)
    monitors = _kind(manifests, "PodMonitor")
    deployments = list(_kind(manifests, "Deployment").values())
    shared = monitors["arbiter"]
    assert _scraped(shared, deployments) == {f"arbiter-{s}" for s in SHARED}
    # ...which is every `arbiter serve` pod, and each has the port it scrapes.
    assert _scraped(shared, deployments) == set(_serve_deployments(manifests))
    assert [e["port"] for e in shared["spec"]["podMetricsEndpoints"]] == ["http"]
    for deployment in _serve_deployments(manifests).values():
        assert "http" in [p["name"] for p in _container(deployment)["ports"]]
    assert shared["spec"]["jobLabel"] == "app.kubernetes.io/component"
    assert shared["spec"]["podMetricsEndpoints"][0]["interval"] == "30s"
    assert shared["metadata"]["labels"]["release"] == "kube-prometheus"
    # Neither the operator (kopf: no /metrics), nor the collector, nor a bundled dependency.
    assert _scraped(monitors["arbiter-tenants"], deployments) == set()
    for monitor in monitors.values():
        validate(monitor)


def test_the_tenants_podmonitor_scrapes_the_operators_pods_in_any_namespace() -> None:
    manifests = render(ALERTS_ON)
    monitors = _kind(manifests, "PodMonitor")
    children = [c for c in _tenant_children(manifests) if c["kind"] == "Deployment"]
    tenants = monitors["arbiter-tenants"]
    assert tenants["spec"]["namespaceSelector"] == {"any": True}
    assert _scraped(tenants, children, namespace="desk-acme") == {
        "acme-saga", "acme-risk", "acme-gateway-kalshi", "acme-gateway-polymarket"}
    assert _scraped(monitors["arbiter"], children) == set()  # not the shared job names
    [relabel] = tenants["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert (relabel["targetLabel"], relabel["replacement"]) == ("job", "tenant-${1}")
    for child in children:
        assert "http" in [p["name"] for p in _container(child)["ports"]]


def test_a_namespaced_operator_gets_a_tenants_podmonitor_on_its_namespace_only() -> None:
    manifests = render({**ALERTS_ON, "operator": {"watch": "release-namespace"}})
    tenants = _kind(manifests, "PodMonitor")["arbiter-tenants"]
    assert tenants["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    no_operator = render({**ALERTS_ON, "operator": {"enabled": False}, "tls": {"mode": "disabled"}})
    assert set(_kind(no_operator, "PodMonitor")) == {"arbiter"}
    assert "tenant-" not in next(r for r in _rules(no_operator)
                                 if r["alert"] == "ArbiterTargetDown")["expr"]


@pytest.mark.parametrize("annotations", [True, False])
def test_scrape_annotations_on_every_serving_pod_shared_and_tenant(annotations: bool) -> None:
    manifests = render({"observability": {"scrape": {"annotations": annotations}}})
    wanted = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
              "prometheus.io/path": "/metrics"}
    pods = [*_serve_deployments(manifests).values(),
            *(c for c in _tenant_children(manifests) if c["kind"] == "Deployment")]
    assert len(pods) == len(SHARED) + 4
    for deployment in pods:
        got = deployment["spec"]["template"]["metadata"]["annotations"]
        assert (wanted.items() <= got.items()) is annotations, deployment["metadata"]["name"]
        port = _container(deployment)["ports"][0]
        assert (port["name"], port["containerPort"]) == ("http", 8080)
    operator = find(manifests, "Deployment", "arbiter-operator")
    assert "prometheus.io/scrape" not in operator["spec"]["template"]["metadata"]["annotations"]


# -- alerts ----------------------------------------------------------------------------
def test_every_rendered_alert_expression_is_valid_promql_and_the_rule_schema_valid() -> None:
    manifests = render(ALERTS_ON)
    [rule] = _kind(manifests, "PrometheusRule").values()
    validate(rule)
    rules = _rules(manifests)
    assert len(rules) >= 16
    for r in rules:
        promql_parser.parse(r["expr"])  # ValueError on a syntax error
        assert {"severity"} <= set(r["labels"]), r["alert"]
        assert {"summary", "description", "runbook_url"} <= set(r["annotations"]), r["alert"]
    with pytest.raises(ValueError):  # the check has teeth
        promql_parser.parse('absent(up{job="x"} == )')


def test_a_missing_gateway_fires_venue_down_through_absent() -> None:
    rules = _rules(render(ALERTS_ON))
    absent = {r["labels"]["venue"]: r for r in rules
              if r["alert"] == "ArbiterVenueDown" and r["expr"].startswith("absent(")}
    assert set(absent) == {"polymarket", "kalshi"}
    for venue, r in absent.items():
        call = promql_parser.parse(r["expr"])
        assert isinstance(call, promql_parser.Call) and call.func.name == "absent"
        assert r["expr"] == (f'absent(arbiter_venue_connected{{namespace="{NAMESPACE}", '
                             f'job="gateway-{venue}", venue="{venue}"}})')
        assert r["labels"]["severity"] == "critical"
        assert r["annotations"]["runbook_url"].endswith("/runbooks/venue-down/")
    # The value rule is still there for a gateway that runs but is disconnected.
    assert any(r["alert"] == "ArbiterVenueDown" and "< 1" in r["expr"] for r in rules)


def test_target_alerts_cover_exactly_the_services_that_run() -> None:
    values = {**ALERTS_ON, "services": {"control": {"enabled": False},
                                        "vault": {"replicas": 0}}}
    rules = _rules(render(values))
    missing = {r["labels"]["job"]: r["expr"] for r in rules if r["alert"] == "ArbiterTargetMissing"}
    running = SHARED - {"control", "vault"}
    assert set(missing) == running
    for job, expr in missing.items():
        assert expr == f'absent(up{{namespace="{NAMESPACE}", job="{job}"}} == 1)'
    [down] = [r for r in rules if r["alert"] == "ArbiterTargetDown"]
    jobs = "|".join(sorted(running))
    assert down["expr"] == (f'up{{namespace="{NAMESPACE}", job=~"{jobs}"}} == 0 '
                            'or up{job=~"tenant-.+"} == 0')
    gateways = {r["labels"]["venue"] for r in rules if r["expr"].startswith("absent(arbiter_")}
    assert gateways == {"polymarket", "kalshi"}


# -- OpenTelemetry ---------------------------------------------------------------------
OTEL = {"observability": {"otel": {"endpoint": "http://otel.observability.svc:4317",
                                   "resourceAttributes": {"deployment.environment": "prod"}}}}


def test_every_serving_pod_gets_the_otlp_endpoint_and_the_operator_none() -> None:
    manifests = render(OTEL)
    for name, deployment in _serve_deployments(manifests).items():
        env = _env(deployment)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel.observability.svc:4317"
        assert env["OTEL_RESOURCE_ATTRIBUTES"] == (
            f"deployment.environment=prod,k8s.deployment.name={name},"
            f"k8s.namespace.name={NAMESPACE}")
        assert "OTEL_SERVICE_NAME" not in env  # setup_tracing names the service itself
    assert not [k for k in _env(find(manifests, "Deployment", "arbiter-operator"))
                if k.startswith("OTEL_")]
    assert not [k for d in _serve_deployments(render({})).values() for k in _env(d)
                if k.startswith("OTEL_")]


def _tracing_resource(env: Mapping[str, Any], service: str,
                      monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Any]:
    """Start tracing the way `arbiter serve` does, in a process with the pod's OTEL_* env."""
    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("OTEL_"):
            monkeypatch.setenv(key, value)
    provider = tracing.setup_tracing(service)
    try:
        assert provider is not None, "the pod's env does not turn tracing on"
        [processor] = provider._active_span_processor._span_processors
        return dict(provider.resource.attributes), processor.span_exporter
    finally:
        tracing.shutdown_tracing()


def test_the_code_exports_to_the_chart_endpoint_with_the_chart_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    detector = find(render(OTEL), "Deployment", "arbiter-detector")
    attributes, exporter = _tracing_resource(_env(detector), "detector", monkeypatch)
    assert attributes["service.name"] == "detector"
    assert attributes["k8s.namespace.name"] == NAMESPACE
    assert attributes["k8s.deployment.name"] == "arbiter-detector"
    assert attributes["deployment.environment"] == "prod"
    assert (exporter._endpoint, exporter._insecure) == ("otel.observability.svc:4317", True)


def test_tenant_pods_export_to_the_same_endpoint_named_by_tenant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    children = _tenant_children(render(OTEL))
    saga = next(c for c in children if c["metadata"]["name"] == "acme-saga")
    attributes, exporter = _tracing_resource(_env(saga), "saga", monkeypatch)
    assert attributes["service.name"] == "saga"
    assert attributes["arbiter.tenant"] == "acme"
    assert attributes["k8s.namespace.name"] == "desk-acme"
    assert attributes["k8s.deployment.name"] == "acme-saga"
    assert attributes["deployment.environment"] == "prod"
    assert exporter._endpoint == "otel.observability.svc:4317"
    no_otel = next(c for c in _tenant_children(render({})) if c["metadata"]["name"] == "acme-saga")
    assert not [k for k in _env(no_otel) if k.startswith("OTEL_")]


def test_the_collector_is_hardened_schema_valid_and_the_default_endpoint() -> None:
    manifests = render({"observability": {"otel": {"collector": {
        "enabled": True, "exporters": {"debug": None,  # null drops a default (Helm)
                                       "otlp/tempo": {"endpoint": "tempo:4317"}},
        "extraConfig": {"processors": {"batch": {"timeout": "2s"}}}}}}})
    objects = [m for m in manifests if m["metadata"]["name"] == "arbiter-otel-collector"]
    assert sorted(m["kind"] for m in objects) == ["ConfigMap", "Deployment", "NetworkPolicy",
                                                  "Service"]
    for manifest in objects:
        validate(manifest)
    deployment = find(manifests, "Deployment", "arbiter-otel-collector")
    pod = deployment["spec"]["template"]["spec"]
    assert pod_violations(pod) == []
    assert _container(deployment)["image"].startswith("otel/opentelemetry-collector-contrib:")
    config = yaml.safe_load(find(manifests, "ConfigMap", "arbiter-otel-collector")["data"][
        "config.yaml"])
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp/tempo"]
    assert config["processors"]["batch"] == {"timeout": "2s"}
    assert config["extensions"]["health_check"]["endpoint"] == "0.0.0.0:8080"
    service_ports = {p["name"]: p["port"] for p in find(
        manifests, "Service", "arbiter-otel-collector")["spec"]["ports"]}
    assert service_ports == {"otlp-grpc": 4317, "otlp-http": 4318}
    # With no endpoint of its own, every pod exports to the collector.
    assert _env(find(manifests, "Deployment", "arbiter-detector"))[
        "OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://arbiter-otel-collector.{NAMESPACE}.svc:4317"


def test_the_default_collector_logs_spans_with_the_debug_exporter() -> None:
    manifests = render({"observability": {"otel": {"collector": {"enabled": True}}}})
    config = yaml.safe_load(find(manifests, "ConfigMap", "arbiter-otel-collector")["data"][
        "config.yaml"])
    assert config["exporters"] == {"debug": {"verbosity": "basic"}}
    assert config["service"]["pipelines"] == {"traces": {
        "receivers": ["otlp"], "processors": ["memory_limiter", "batch"], "exporters": ["debug"]}}
    assert not [m for m in render({}) if "otel-collector" in m["metadata"]["name"]]


# -- extra env -------------------------------------------------------------------------
def test_extra_env_reaches_every_shared_service_and_an_entry_can_replace_it() -> None:
    secret = {"secretKeyRef": {"name": "exporter-token", "key": "token"}}
    manifests = render({
        "defaults": {"extraEnv": [{"name": "OTEL_TRACES_SAMPLER", "value": "parentbased_always_off"},
                                  {"name": "EXPORTER_TOKEN", "valueFrom": secret}]},
        "services": {"detector": {"extraEnv": [{"name": "ONLY_DETECTOR", "value": "1"}]}}})
    for name, deployment in _serve_deployments(manifests).items():
        env = _env(deployment)
        if name == "arbiter-detector":
            assert env["ONLY_DETECTOR"] == "1" and "EXPORTER_TOKEN" not in env
        else:
            assert env["OTEL_TRACES_SAMPLER"] == "parentbased_always_off"
            assert env["EXPORTER_TOKEN"] == secret
        validate(deployment)


@pytest.mark.parametrize("name", ["ARBITER_CONFIG", "ARBITER__STORE__DSN",
                                  "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES"])
def test_extra_env_may_not_override_what_the_chart_sets(name: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=f"services.orderbook.extraEnv: {name} is set by "
                       "the chart"):
        render({"services": {"orderbook": {"extraEnv": [{"name": name, "value": "x"}]}}})


@pytest.mark.parametrize("entry", [
    {"name": "1BAD", "value": "x"},
    {"name": "BOTH", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "NEITHER"},
    {"name": "X", "valueFrom": {"hostPath": {}}},
])
def test_extra_env_entries_are_schema_checked(entry: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError, match="extraEnv"):
        render({"defaults": {"extraEnv": [entry]}})


def test_the_observability_ci_values_render_schema_valid_throughout() -> None:
    values = yaml.safe_load((CHART / "ci" / "observability-values.yaml").read_text())
    manifests = render(values)
    kinds = {m["kind"] for m in manifests}
    assert {"PodMonitor", "PrometheusRule"} <= kinds
    for manifest in manifests:
        validate(manifest)
