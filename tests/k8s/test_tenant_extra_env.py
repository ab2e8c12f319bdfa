"""A Tenant's spec.extraEnv: validated (names, one source, none of the operator's own
variables, each name once) by the same model the CRD is generated from, and rendered after
the operator's environment into every pod of the execution plane."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from arbiter.operator.children import build_children
from arbiter.operator.platform import Platform, parse_platform
from arbiter.operator.spec import ENV_RESERVED, TenantSpec, is_reserved_env
from arbiter.operator.validation import pod_configs, validate_tenant

from .conftest import CHART, platform_yaml, render

EXAMPLE = yaml.safe_load((Path(__file__).parents[2] / "services" / "operator" / "examples"
                          / "tenant.yaml").read_text())
CRD = yaml.safe_load((CHART / "crds" / "tenants.arbiter.dev.yaml").read_text())
SECRET = {"secretKeyRef": {"name": "acme-exporter", "key": "token"}}
EXTRA = [{"name": "OTEL_TRACES_SAMPLER", "value": "parentbased_always_on"},
         {"name": "EXPORTER_TOKEN", "valueFrom": SECRET},
         {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]


def _tenant(extra_env: list[dict[str, Any]]) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body["metadata"]["uid"] = "uid-acme"
    body["spec"]["extraEnv"] = extra_env
    return body


def _deployments(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in children if c["kind"] == "Deployment"]


def test_extra_env_comes_after_the_operators_in_every_pod(platform: Platform) -> None:
    children = build_children(_tenant(EXTRA), platform)
    assert len(_deployments(children)) == 4
    for deployment in _deployments(children):
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert env[-3:] == EXTRA, deployment["metadata"]["name"]
        assert all(is_reserved_env(e["name"]) for e in env[:-3])
        kubernetes_validate.validate(deployment, "1.30", strict=True)
    # The real config loader still loads every pod: extra variables are not configuration.
    assert set(pod_configs(children)) == {
        "acme-saga/saga", "acme-risk/risk", "acme-gateway-kalshi/gateway-kalshi",
        "acme-gateway-polymarket/gateway-polymarket"}


def test_every_variable_the_operator_sets_is_reserved() -> None:
    """With the OTLP endpoint on, the operator's own env is still inside the reserved set, so
    no accepted extraEnv can shadow it."""
    manifests = render({"observability": {"otel": {"endpoint": "http://otel:4317"}}})
    platform = parse_platform(yaml.safe_load(platform_yaml(manifests)))
    for deployment in _deployments(build_children(_tenant([]), platform)):
        names = [e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]]
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in names
        assert all(is_reserved_env(n) for n in names), names


@pytest.mark.parametrize("name", ["ARBITER_CONFIG", "ARBITER__STORE__DSN",
                                  "ARBITER__RISK__MAX_EXPOSURE_USD", "OTEL_EXPORTER_OTLP_ENDPOINT",
                                  "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_RESOURCE_ATTRIBUTES"])
def test_a_reserved_name_is_a_typed_error_naming_the_key(name: str) -> None:
    errors = validate_tenant("acme", _tenant([{"name": name, "value": "x"}])["spec"])
    assert [e.field for e in errors] == ["spec.extraEnv[0].name"]
    assert errors[0].message.startswith(f"{name} is set by the operator"), errors
    with pytest.raises(ValueError) as caught:  # the pydantic error type says which rule
        TenantSpec.model_validate(_tenant([{"name": name, "value": "x"}])["spec"])
    assert [e["type"] for e in caught.value.errors()] == [ENV_RESERVED]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("entry", "field"), [
    ({"name": "1X", "value": "x"}, "spec.extraEnv[0].name"),
    ({"name": "X"}, "spec.extraEnv[0]"),
    ({"name": "X", "value": "x", "valueFrom": SECRET}, "spec.extraEnv[0]"),
    ({"name": "X", "valueFrom": {}}, "spec.extraEnv[0].valueFrom"),
    ({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations"}}},
     "spec.extraEnv[0].valueFrom.fieldRef.fieldPath"),
    ({"name": "X", "valueFrom": {"hostPath": {"path": "/"}}}, "spec.extraEnv[0].valueFrom.hostPath"),
], ids=["bad-name", "no-value", "both", "empty-source", "bad-field", "unknown-source"])
def test_malformed_entries_are_rejected_naming_the_field(entry: dict[str, Any], field: str) -> None:
    errors = validate_tenant("acme", _tenant([entry])["spec"])
    assert [e.field for e in errors] == [field], errors


def test_a_name_given_twice_is_rejected() -> None:
    errors = validate_tenant("acme", _tenant([{"name": "A", "value": "1"},
                                              {"name": "A", "value": "2"}])["spec"])
    assert [e.field for e in errors] == ["spec.extraEnv"]
    assert errors[0].message.startswith("A given more than once"), errors


def test_the_crd_states_the_same_rules_for_the_api_server() -> None:
    spec = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    extra = spec["properties"]["extraEnv"]
    assert extra["x-kubernetes-list-type"] == "map"
    assert extra["x-kubernetes-list-map-keys"] == ["name"]
    rules = [r["rule"] for r in extra["items"]["x-kubernetes-validations"]]
    assert "!self.name.startsWith('ARBITER_')" in rules[0]
    assert "has(self.value) != has(self.valueFrom)" in rules
    assert extra["items"]["properties"]["valueFrom"]["maxProperties"] == 1
    assert "extraEnv" not in spec.get("required", [])
