"""The Tenant CustomResourceDefinition, kept as Python data so there is one source of truth.

The API server enforces this schema on `kubectl apply`, and the operator validates every spec
against the very same schema (see `validation.py`) before it touches a child object, so a
cluster with an outdated CRD still never half-applies a bad Tenant. The chart ships the rendered
YAML in `charts/arbiter/crds/`; regenerate it with::

    python -m arbiter.operator.crd > charts/arbiter/crds/tenants.arbiter.dev.yaml

and a test fails when the committed file and this module disagree.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

GROUP = "arbiter.dev"
VERSION = "v1alpha1"
PLURAL = "tenants"
KIND = "Tenant"
TIERS = ("paper", "standard", "pro")
VENUES = ("polymarket", "kalshi")

# Children are named "<tenant>-<component>"; the longest component suffix is
# "-gateway-polymarket" (19 chars), so 40 keeps every child name a valid 63-char DNS label
# with room for ReplicaSet/Pod hash suffixes.
MAX_TENANT_NAME = 40
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SECRET_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
VAULT_PATH = r"^[a-z0-9][-a-z0-9_/]*[a-z0-9]$"
POLYMARKET_CONDITION_ID = r"^0x[0-9a-fA-F]{64}$"
KALSHI_TICKER = r"^[A-Z0-9][A-Z0-9.-]{0,63}$"

_COUNT = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 1_000_000_000}
_CENTS = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 100_000_000_000}

_CREDENTIALS: dict[str, Any] = {
    "type": "object",
    "description": "Where the venue keys live. A reference only: key material never "
    "appears in a Tenant.",
    "properties": {
        "secretRef": {
            "type": "object",
            "required": ["name", "key"],
            "properties": {
                "name": {"type": "string", "maxLength": 253, "pattern": SECRET_NAME},
                "key": {"type": "string", "maxLength": 253, "pattern": SECRET_KEY},
            },
        },
        "vaultPath": {"type": "string", "maxLength": 256, "pattern": VAULT_PATH},
    },
    "oneOf": [{"required": ["secretRef"]}, {"required": ["vaultPath"]}],
}

_VENUE: dict[str, Any] = {
    "type": "object",
    "required": ["credentials"],
    "properties": {"credentials": _CREDENTIALS},
}

SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["tier", "venues", "risk"],
    "properties": {
        "tier": {
            "type": "string",
            "enum": list(TIERS),
            "description": "Service level: sizes and pins the execution plane (see chart "
            "values operator.tiers).",
        },
        "paused": {
            "type": "boolean",
            "default": False,
            "description": "Scale the execution plane to zero; config and identity stay.",
        },
        "venues": {
            "type": "object",
            "minProperties": 1,
            "properties": {venue: _VENUE for venue in VENUES},
        },
        "markets": {
            "type": "array",
            "maxItems": 500,
            "description": "Market pairs: the same event listed on both venues.",
            "items": {
                "type": "object",
                "required": ["id", "polymarketConditionId", "kalshiTicker"],
                "properties": {
                    "id": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
                    "polymarketConditionId": {
                        "type": "string",
                        "pattern": POLYMARKET_CONDITION_ID,
                    },
                    "kalshiTicker": {"type": "string", "pattern": KALSHI_TICKER},
                },
            },
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["id"],
        },
        "risk": {
            "type": "object",
            "required": [
                "maxPositionPerMarket",
                "maxTotalPosition",
                "maxExposureCents",
                "dailyLossLimitCents",
            ],
            "properties": {
                "maxPositionPerMarket": {**_COUNT, "description": "Contracts per market."},
                "maxTotalPosition": {**_COUNT, "description": "Contracts over all markets."},
                "maxExposureCents": {**_CENTS, "description": "Capital at risk, USD cents."},
                "dailyLossLimitCents": {**_CENTS, "description": "Loss that latches HardStop."},
                "maxOrdersPerSecond": {"type": "integer", "minimum": 1, "maximum": 1000},
            },
            "x-kubernetes-validations": [
                {
                    "rule": "self.maxPositionPerMarket <= self.maxTotalPosition",
                    "message": "maxPositionPerMarket must not exceed maxTotalPosition",
                }
            ],
        },
    },
    "x-kubernetes-validations": [
        {
            "rule": "!has(self.markets) || self.markets.size() == 0 || "
            "(has(self.venues.polymarket) && has(self.venues.kalshi))",
            "message": "market pairs need both venues configured",
        }
    ],
}

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
                        {"name": "Tier", "type": "string", "jsonPath": ".spec.tier"},
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


def tenant_crd_yaml() -> str:
    """The CRD as the YAML document committed in the chart."""
    header = "# Generated by `python -m arbiter.operator.crd`; edit services/operator/crd.py instead.\n"
    return header + yaml.safe_dump(tenant_crd(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(tenant_crd_yaml())
