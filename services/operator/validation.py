"""Validate a Tenant completely before anything is created, naming the offending field.

The API server already enforces the CRD schema, but the operator checks again because a
cluster may run an older CRD, CEL rules are skipped on old API servers, and a half-applied
execution plane (say, a saga without its risk gate) is worse than none. Structural checks reuse
the CRD's own schema; the cross-field rules mirror the CRD's CEL rules in Python.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from arbiter.operator.crd import DNS_LABEL, MAX_TENANT_NAME, SPEC_SCHEMA


@dataclass(frozen=True)
class SpecError:
    """One problem: the dotted path of the field and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _strict(schema: Any) -> Any:
    """Forbid unknown fields, as `kubectl apply` does with server-side strict validation.

    Structural CRD schemas may not say `additionalProperties: false` (the API server prunes or
    rejects unknown fields itself), so the strictness is added here for local validation.
    """
    if isinstance(schema, dict):
        strict = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            strict["additionalProperties"] = False
        return strict
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


_VALIDATOR = jsonschema.Draft7Validator(_strict(copy.deepcopy(SPEC_SCHEMA)))


def _path(parts: Any) -> str:
    """Render a jsonschema path as `spec.risk.maxTotalPosition` / `spec.markets[2].id`."""
    text = "spec"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _schema_errors(spec: Mapping[str, Any]) -> list[SpecError]:
    errors = sorted(_VALIDATOR.iter_errors(dict(spec)), key=lambda e: list(map(str, e.path)))
    return [SpecError(_path(error.path), error.message) for error in errors]


def _cross_field_errors(spec: Mapping[str, Any]) -> list[SpecError]:
    errors: list[SpecError] = []
    risk = spec["risk"]
    if risk["maxPositionPerMarket"] > risk["maxTotalPosition"]:
        errors.append(
            SpecError(
                "spec.risk.maxPositionPerMarket",
                f"{risk['maxPositionPerMarket']} exceeds maxTotalPosition "
                f"{risk['maxTotalPosition']}",
            )
        )
    markets = spec.get("markets") or []
    if markets and not {"polymarket", "kalshi"} <= set(spec["venues"]):
        errors.append(SpecError("spec.markets", "market pairs need both venues configured"))
    seen: set[str] = set()
    for index, market in enumerate(markets):
        if market["id"] in seen:
            errors.append(SpecError(f"spec.markets[{index}].id", f"duplicate id {market['id']!r}"))
        seen.add(market["id"])
    return errors


def validate_tenant(name: str, spec: Mapping[str, Any]) -> list[SpecError]:
    """Return every problem with a Tenant (empty when it may be applied)."""
    errors: list[SpecError] = []
    if len(name) > MAX_TENANT_NAME or not re.match(DNS_LABEL, name):
        errors.append(
            SpecError(
                "metadata.name",
                f"{name!r} must be a DNS label of at most {MAX_TENANT_NAME} characters",
            )
        )
    schema_errors = _schema_errors(spec)
    # Cross-field rules assume a structurally valid spec, like CEL rules do.
    return errors + (schema_errors or _cross_field_errors(spec))
