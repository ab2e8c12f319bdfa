"""Bad Tenants are rejected twice: by the CRD schema (API server) and by the operator."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from arbiter.operator.validation import _strict, validate_tenant

from .conftest import CHART

CRD = yaml.safe_load((CHART / "crds" / "tenants.arbiter.dev.yaml").read_text())
# kubectl's strict field validation rejects unknown fields; _strict adds that to the schema.
SCHEMA = _strict(CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
EXAMPLE = yaml.safe_load((Path(__file__).parents[2] / "services" / "operator" / "examples" / "tenant.yaml").read_text())


def _with(path: str, value: Any) -> dict[str, Any]:
    """The example Tenant with one field set (value None deletes it)."""
    tenant = copy.deepcopy(EXAMPLE)
    *parents, leaf = path.split(".")
    node = tenant
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return tenant


BAD = [
    ("spec.tier", "gold", "spec.tier"),
    ("spec.tier", None, "tier"),
    ("spec.paused", "no", "spec.paused"),
    ("spec.venues", {}, "spec.venues"),
    ("spec.venues.ftx", {"credentials": {"vaultPath": "a/b"}}, "ftx"),
    ("spec.venues.kalshi.credentials", {}, "spec.venues.kalshi.credentials"),
    ("spec.venues.kalshi.credentials.vaultPath", "tenants/acme/kalshi", "spec.venues.kalshi.credentials"),
    ("spec.venues.kalshi.credentials.secretRef.name", "Acme_Keys", "spec.venues.kalshi.credentials.secretRef.name"),
    ("spec.venues.kalshi.credentials.apiKey", "sk-live-123", "apiKey"),
    ("spec.venues.polymarket.credentials.vaultPath", "/abs/../path", "spec.venues.polymarket.credentials.vaultPath"),
    ("spec.markets.0.polymarketConditionId", "0x1234", "spec.markets[0].polymarketConditionId"),
    ("spec.markets.0.kalshiTicker", "fed-lowercase", "spec.markets[0].kalshiTicker"),
    ("spec.markets.0.id", "Has Spaces", "spec.markets[0].id"),
    ("spec.risk.maxTotalPosition", -1, "spec.risk.maxTotalPosition"),
    ("spec.risk.maxExposureCents", "2500.00", "spec.risk.maxExposureCents"),
    ("spec.risk.maxExposureCents", 12.5, "spec.risk.maxExposureCents"),
    ("spec.risk.dailyLossLimitCents", None, "dailyLossLimitCents"),
    ("spec.risk.maxOrdersPerSecond", 0, "spec.risk.maxOrdersPerSecond"),
    ("spec", None, "spec"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_crd_schema_and_operator_both_reject(path: str, value: Any, field: str) -> None:
    tenant = _with(path, value)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(tenant, SCHEMA)
    errors = validate_tenant(tenant["metadata"]["name"], tenant.get("spec") or {})
    assert any(field in str(e) for e in errors), errors


CROSS_FIELD = [  # CEL rules in the CRD; jsonschema cannot run CEL, the operator must catch them
    ("spec.risk.maxPositionPerMarket", 2001, "spec.risk.maxPositionPerMarket"),
    ("spec.venues.kalshi", None, "spec.markets"),
]


@pytest.mark.parametrize(("path", "value", "field"), CROSS_FIELD, ids=[p for p, _, _ in CROSS_FIELD])
def test_operator_enforces_the_crd_cel_rules(path: str, value: Any, field: str) -> None:
    tenant = _with(path, value)
    errors = validate_tenant("acme", tenant["spec"])
    assert [e.field for e in errors] == [field]


def test_duplicate_market_ids_and_long_names_are_rejected() -> None:
    tenant = copy.deepcopy(EXAMPLE)
    tenant["spec"]["markets"].append(copy.deepcopy(tenant["spec"]["markets"][0]))
    assert [e.field for e in validate_tenant("acme", tenant["spec"])] == ["spec.markets[1].id"]
    assert [e.field for e in validate_tenant("a" * 41, EXAMPLE["spec"])] == ["metadata.name"]
    rules = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    assert "size() <= 40" in rules[0]["rule"]


def test_the_example_tenant_is_valid_everywhere() -> None:
    jsonschema.validate(EXAMPLE, SCHEMA)
    assert validate_tenant("acme", EXAMPLE["spec"]) == []


def test_printer_columns_and_status_subresource() -> None:
    version = CRD["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Tier", "Paused", "Ready", "Reason", "Age"]
    assert CRD["spec"]["scope"] == "Namespaced" and CRD["metadata"]["name"] == "tenants.arbiter.dev"
