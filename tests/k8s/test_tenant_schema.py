"""Bad Tenants are rejected twice: by the generated CRD schema (API server) and by the
operator, which validates the spec with the config models the schema came from."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from arbiter.operator.validation import validate_tenant

from .conftest import CHART

CRD = yaml.safe_load((CHART / "crds" / "tenants.arbiter.dev.yaml").read_text())
EXAMPLE = yaml.safe_load((Path(__file__).parents[2] / "services" / "operator" / "examples" / "tenant.yaml").read_text())


def _as_apply(schema: Any) -> Any:
    """The CRD schema as `kubectl apply` with strict field validation enforces it: unknown
    fields refused, `x-kubernetes-int-or-string` as an integer-or-string type."""
    if isinstance(schema, dict):
        strict = {key: _as_apply(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema and not schema.get(
                "x-kubernetes-preserve-unknown-fields"):
            strict["additionalProperties"] = False
        if schema.get("x-kubernetes-int-or-string"):
            strict["type"] = ["integer", "string"]
        return strict
    if isinstance(schema, list):
        return [_as_apply(item) for item in schema]
    return schema


# OpenAPI v3.0 has draft-4 bounds (`exclusiveMinimum: true`).
SCHEMA = jsonschema.Draft4Validator(
    _as_apply(CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))


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


PAIR = "spec.market.pairs.0"
BAD = [
    ("spec.tenant.tier", "gold", "spec.tenant.tier"),
    ("spec.tenant.tier", None, "spec.tenant.tier"),
    ("spec.tenant.id", "other", "spec.tenant.id"),
    ("spec.paused", "no", "spec.paused"),
    ("spec.market.pairs", [], "spec.market.pairs"),
    ("spec.market", None, "spec.market"),
    (f"{PAIR}.a.condition_id", "0x1234", "spec.market.pairs[0].a.condition_id"),
    (f"{PAIR}.b.ticker", "fed-lowercase", "spec.market.pairs[0].b.ticker"),
    (f"{PAIR}.b.venue", None, "spec.market.pairs[0].b"),
    (f"{PAIR}.b.venue", "ftx", "spec.market.pairs[0].b"),
    (f"{PAIR}.pair_id", "Has Spaces", "spec.market.pairs[0].pair_id"),
    (f"{PAIR}.a.api_key", "sk-live-123", "api_key"),
    ("spec.risk.max_position_total", -1, "spec.risk.max_position_total"),
    ("spec.risk.max_exposure_usd", "2500.0.0", "spec.risk.max_exposure_usd"),
    ("spec.risk.max_exposure_usd", 10**10, "spec.risk.max_exposure_usd"),
    ("spec.risk.max_open_sagas", 0, "spec.risk.max_open_sagas"),
    ("spec.risk.max_exposure_cents", 250000, "max_exposure_cents"),
    ("spec.venues.mode", "yolo", "spec.venues.mode"),
    ("spec.venues.kalshi.environment", "moon", "spec.venues.kalshi.environment"),
    ("spec.venues.kalshi.credentials", {"vaultPath": "a/b"}, "credentials"),
    ("spec.venues.ftx", {}, "ftx"),
    ("spec", None, "spec"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_crd_schema_and_operator_both_reject(path: str, value: Any, field: str) -> None:
    tenant = _with(path, value)
    with pytest.raises(jsonschema.ValidationError):
        SCHEMA.validate(tenant)
    errors = validate_tenant(tenant["metadata"]["name"], tenant.get("spec") or {})
    assert any(field in str(e) for e in errors), errors


CROSS_FIELD = [  # rules no structural schema states; the config models catch them
    ("spec.risk.max_position_per_market", 2001, "spec.risk.max_position_total"),
    (f"{PAIR}.b.tick", "0.5", "spec.market.pairs[0].b.tick"),
    (f"{PAIR}.a.no_token", EXAMPLE["spec"]["market"]["pairs"][0]["a"]["yes_token"],
     "spec.market.pairs[0].a"),
    ("spec.risk.max_daily_loss_usd", "0.0000001", "spec.risk.max_daily_loss_usd"),
    (f"{PAIR}.a.fee_rate", "2", "spec.market.pairs[0].a.fee_rate"),  # a string's range
]


@pytest.mark.parametrize(("path", "value", "field"), CROSS_FIELD, ids=[p for p, _, _ in CROSS_FIELD])
def test_the_operator_enforces_what_the_schema_cannot(path: str, value: Any, field: str) -> None:
    tenant = _with(path, value)
    SCHEMA.validate(tenant)
    errors = validate_tenant("acme", tenant["spec"])
    assert [e.field for e in errors] == [field], errors


def test_long_names_are_rejected() -> None:
    assert [e.field for e in validate_tenant("a" * 41, EXAMPLE["spec"])] == ["metadata.name"]
    rules = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    assert "size() <= 40" in rules[0]["rule"]


def test_the_example_tenant_is_valid_everywhere() -> None:
    SCHEMA.validate(EXAMPLE)
    assert validate_tenant("acme", EXAMPLE["spec"]) == []


def test_printer_columns_and_status_subresource() -> None:
    version = CRD["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Tier", "Paused", "Ready", "Reason", "Age"]
    assert version["additionalPrinterColumns"][0]["jsonPath"] == ".spec.tenant.tier"
    assert CRD["spec"]["scope"] == "Namespaced" and CRD["metadata"]["name"] == "tenants.arbiter.dev"
