"""The Tenant CustomResourceDefinition, its spec schema generated from the config models.

`TenantSpec` (spec.py) is made of the configuration's own pydantic models, so the CRD has
the config's names, units and ranges: change a config field and the generated CRD changes
with it. Kubernetes wants a *structural* OpenAPI v3 schema (no `$ref`, a type on every node,
`oneOf` only as a constraint on properties declared beside it), so `structural` rewrites
pydantic's JSON schema into one. The chart ships the rendered YAML in `charts/arbiter/crds/`;
regenerate it with::

    python tools/gen_crd.py

and a test fails when the committed file and the models disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from arbiter.operator.spec import TenantSpec
from arbiter.platform.tenancy import TIERS as TIER_TABLE

GROUP = "arbiter.dev"
VERSION = "v1alpha1"
PLURAL = "tenants"
KIND = "Tenant"
TIERS = tuple(TIER_TABLE)
CRD_PATH = "charts/arbiter/crds/tenants.arbiter.dev.yaml"

# Children are named "<tenant>-<component>"; the longest component suffix is
# "-gateway-polymarket" (19 chars), so 40 keeps every child name a valid 63-char DNS label
# with room for ReplicaSet/Pod hash suffixes.
MAX_TENANT_NAME = 40
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# What a Decimal field takes as a string at the API server; the config load checks places
# and range (pydantic's own pattern uses a look-ahead, which Kubernetes' RE2 cannot run).
DECIMAL_PATTERN = r"^[+-]?[0-9]+(\.[0-9]+)?$"

_KEPT = ("type", "description", "enum", "pattern", "format", "minimum", "maximum",
         "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
         # Kubernetes' own extensions, set by a model's json_schema_extra (spec.extraEnv):
         # CEL rules and list semantics the API server enforces.
         "x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys")


def _bounds(node: Mapping[str, Any], out: dict[str, Any]) -> None:
    """JSON Schema 2020 numeric bounds as OpenAPI v3.0 ones (exclusive bounds are flags)."""
    for key, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if key in node:
            out[flag], out[key] = node[key], True


def _scalar(node: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: node[key] for key in _KEPT if key in node}
    if "description" in out:  # docstrings wrap; `kubectl explain` rewraps
        out["description"] = " ".join(out["description"].split())
    if "const" in node:
        out["enum"] = [node["const"]]
    if out.get("type") == "integer":
        out["format"] = "int64"
    _bounds(node, out)
    return out


class _Structural:
    """Rewrites one pydantic JSON schema (with its `$defs`) into a structural schema."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs", {})

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        if "$ref" in node:
            target = self.defs[node["$ref"].rsplit("/", 1)[-1]]
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def convert(self, node: Mapping[str, Any]) -> dict[str, Any]:
        node = self._resolve(node)
        branches = node.get("anyOf") or node.get("oneOf")
        if branches:
            return self._union(node, [self._resolve(b) for b in branches])
        kind = node.get("type")
        out = _scalar(node)
        if kind == "object":
            if "properties" in node:
                out["properties"] = {k: self.convert(v) for k, v in node["properties"].items()}
            extra = node.get("additionalProperties")
            if isinstance(extra, Mapping):
                out["additionalProperties"] = self.convert(extra)
            if node.get("required"):
                out["required"] = list(node["required"])
        elif kind == "array":
            out["items"] = self.convert(node["items"])
        elif kind not in ("string", "integer", "number", "boolean"):
            raise TypeError(f"no structural form for schema {dict(node)!r:.200}")
        return out

    def _union(self, node: Mapping[str, Any], branches: list[Mapping[str, Any]]) -> dict[str, Any]:
        present = [b for b in branches if b.get("type") != "null"]
        if len(present) == 1 < len(branches):  # `X | None = None`: optional, so simply X
            rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf", "default")}
            return self.convert({**present[0], **rest})
        kinds = {b.get("type") for b in branches}
        if kinds == {"number", "string"}:  # a Decimal: a number or a decimal string
            number = next(b for b in branches if b.get("type") == "number")
            out = {"x-kubernetes-int-or-string": True, "pattern": DECIMAL_PATTERN}
            out.update({k: v for k, v in _scalar({**number, **node}).items() if k != "type"})
            return out
        if kinds == {"object"}:
            return self._tagged(node, branches)
        raise TypeError(f"no structural form for the union {sorted(map(str, kinds))}")

    def _tagged(self, node: Mapping[str, Any], branches: list[Mapping[str, Any]]) -> dict[str, Any]:
        """Objects told apart by a `const` field (a pair leg by `venue`): one object with
        every branch's properties, and a `oneOf` saying which are required for which tag."""
        tags = [next(k for k, v in b["properties"].items() if "const" in v) for b in branches]
        if len(set(tags)) != 1:
            raise TypeError(f"the union's branches have no common tag field: {tags}")
        tag = tags[0]
        properties: dict[str, Any] = {}
        choices = []
        for branch in branches:
            for key, value in branch["properties"].items():
                if key != tag:
                    properties.setdefault(key, self.convert(value))
            value = branch["properties"][tag]["const"]
            required = [k for k in branch.get("required", []) if k != tag]
            choices.append({"properties": {tag: {"enum": [value]}},
                            **({"required": required} if required else {})})
        values = [c["properties"][tag]["enum"][0] for c in choices]
        out: dict[str, Any] = {"type": "object", **_scalar(node), "required": [tag],
                               "properties": {tag: {"type": "string", "enum": values},
                                              **properties},
                               "oneOf": choices}
        return out


def structural(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A pydantic model's JSON schema as a Kubernetes structural schema."""
    return _Structural(schema).convert(schema)


SPEC_SCHEMA: dict[str, Any] = structural(TenantSpec.model_json_schema())

_CONDITION: dict[str, Any] = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "observedGeneration": {"type": "integer"},
    },
}

STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    # kopf keeps its own handler progress under status; let it through unpruned.
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "observedGeneration": {"type": "integer"},
        "conditions": {
            "type": "array",
            "items": _CONDITION,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
        "topicPrefix": {"type": "string"},
        "vaultRole": {"type": "string"},
        "children": {"type": "integer"},
    },
}


def tenant_crd() -> dict[str, Any]:
    """Build the CRD manifest (deterministic, so the committed YAML can be diffed)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": "tenant",
                "shortNames": ["tn"],
                "categories": ["arbiter"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Tier", "type": "string", "jsonPath": ".spec.tenant.tier"},
                        {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        },
                        {
                            "name": "Reason",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Degraded")].reason',
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": SPEC_SCHEMA,
                                "status": STATUS_SCHEMA,
                            },
                            "x-kubernetes-validations": [
                                {
                                    "rule": f"self.metadata.name.size() <= {MAX_TENANT_NAME}",
                                    "message": f"Tenant names are at most {MAX_TENANT_NAME} "
                                    "characters (they prefix child object names)",
                                }
                            ],
                        }
                    },
                }
            ],
        },
    }


class _NoAliases(yaml.SafeDumper):
    """Repeated sub-schemas (a leg's a and b) written out in full: kubectl users read it."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def tenant_crd_yaml() -> str:
    """The CRD as the YAML document committed in the chart."""
    header = ("# Generated from the config models by `python tools/gen_crd.py`; edit "
              "services/platform/config.py\n# or services/operator/spec.py instead.\n")
    return header + yaml.dump(tenant_crd(), Dumper=_NoAliases, sort_keys=False, width=100)
