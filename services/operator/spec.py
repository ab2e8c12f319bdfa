"""A Tenant's spec, made of the configuration's own models.

A Tenant is the part of one tenant's `ArbiterConfig` the tenant chooses: its tier, its
market pairs, its risk limits and its venues' settings, at the same paths, by the same
names and in the same units as the config file (`spec.risk.max_exposure_usd` is
`risk.max_exposure_usd`, dollars). The CRD schema is generated from this model (`crd.py`,
`tools/gen_crd.py`), and the operator copies `spec` into the tenant's config file as it is,
adding only what it owns: the tenant id, the topic prefix, the vault role and the addresses
of the tenant's own services. `paused` and `extraEnv` are the fields that are not
configuration: one scales the plane, the other adds environment variables to its pods (never
ones the operator sets, see `RESERVED_ENV_PREFIXES`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator
from pydantic_core import PydanticCustomError

from arbiter.platform.config import (
    PairConfig,
    RiskConfig,
    TenantConfig,
    TierName,
    VenuesConfig,
)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantIdentity(_Spec):
    """`tenant`: the tier (the id is the Tenant's name)."""

    tier: TierName = Field(description=TenantConfig.model_fields["tier"].description)


class TenantMarket(_Spec):
    """`market`: the pairs this tenant trades (no demo default: a Tenant names its own)."""

    pairs: list[PairConfig] = Field(min_length=1, max_length=500, description="The tenant's "
                                    "approved market pairs; the tier caps how many.")


# Environment the operator itself sets on a tenant's pods (services/operator/children.py): the
# Arbiter configuration (ARBITER_CONFIG, ARBITER__SECTION__KEY) and where spans go. A Tenant's
# extraEnv may not override it: its config comes from the spec, validated, and its telemetry
# from the platform.
RESERVED_ENV_PREFIXES = ("ARBITER_", "OTEL_EXPORTER_OTLP_")
RESERVED_ENV_NAMES = frozenset({"OTEL_RESOURCE_ATTRIBUTES"})
# The error type (pydantic `type`) of an extraEnv entry that names a reserved variable.
ENV_RESERVED = "env_reserved"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"  # what the API server accepts for an EnvVar name
_RESOURCE_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
_RESERVED_RULE = " && ".join(
    [f"!self.name.startsWith('{p}')" for p in RESERVED_ENV_PREFIXES]
    + [f"self.name != '{n}'" for n in sorted(RESERVED_ENV_NAMES)])


def is_reserved_env(name: str) -> bool:
    """True for the variables the operator sets on every tenant pod."""
    return name.startswith(RESERVED_ENV_PREFIXES) or name in RESERVED_ENV_NAMES


class KeyRef(_Spec):
    """A key of a Secret or ConfigMap in the Tenant's namespace."""

    name: str = Field(pattern=_RESOURCE_NAME, max_length=253, description="Object name.")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253, description="Key in it.")
    optional: StrictBool = Field(False, description="Start the pod when it is missing.")


class FieldRef(_Spec):
    """A field of the pod (the downward API)."""

    field_path: Literal["metadata.name", "metadata.namespace", "metadata.uid",
                        "spec.nodeName", "spec.serviceAccountName", "status.hostIP",
                        "status.podIP"] = Field(alias="fieldPath", description="Pod field.")


class EnvSource(_Spec):
    """Where a variable's value comes from: exactly one of the three."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    secret_key_ref: KeyRef | None = Field(None, alias="secretKeyRef")
    config_map_key_ref: KeyRef | None = Field(None, alias="configMapKeyRef")
    field_ref: FieldRef | None = Field(None, alias="fieldRef")

    @model_validator(mode="after")
    def _one_source(self) -> EnvSource:
        given = [s for s in (self.secret_key_ref, self.config_map_key_ref, self.field_ref) if s]
        if len(given) != 1:
            raise PydanticCustomError(
                "env_source", "needs exactly one of secretKeyRef, configMapKeyRef, fieldRef")
        return self


class EnvVar(_Spec):
    """One extra environment variable of the tenant's pods, as a Kubernetes EnvVar."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": _RESERVED_RULE, "message": "the operator sets ARBITER_*, OTEL_EXPORTER_OTLP_* "
         "and OTEL_RESOURCE_ATTRIBUTES itself"},
        {"rule": "has(self.value) != has(self.valueFrom)",
         "message": "exactly one of value and valueFrom"},
    ]})

    name: str = Field(pattern=ENV_NAME, max_length=256, description="Variable name.")
    value: str | None = Field(None, max_length=32768, description="Literal value.")
    value_from: EnvSource | None = Field(None, alias="valueFrom",
                                         description="A Secret or ConfigMap key, or a pod field.")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if is_reserved_env(name):
            raise PydanticCustomError(
                ENV_RESERVED, "{name} is set by the operator (ARBITER_*, OTEL_EXPORTER_OTLP_*, "
                "OTEL_RESOURCE_ATTRIBUTES): configure Arbiter through the spec", {"name": name})
        return name

    @model_validator(mode="after")
    def _one_value(self) -> EnvVar:
        if (self.value is None) == (self.value_from is None):
            raise PydanticCustomError("env_value", "needs exactly one of value and valueFrom")
        return self

    def manifest(self) -> dict[str, Any]:
        """The EnvVar as it goes into a container."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


class TenantSpec(_Spec):
    """One tenant's execution plane: the parts of its Arbiter config it chooses, at the same
    paths and in the same units as the config file (docs/configuration.md)."""

    tenant: TenantIdentity
    paused: StrictBool = Field(False, description="Scale the execution plane to zero; config and "
                         "identity stay.")
    market: TenantMarket
    risk: RiskConfig = Field(default_factory=RiskConfig, description="Risk limits and "
                             "HardStop thresholds, as in the config's `risk` section.")
    venues: VenuesConfig = Field(default_factory=VenuesConfig, description="Venue mode and "
                                 "each venue's section, as in the config's `venues` section.")
    extra_env: list[EnvVar] = Field(
        default_factory=list, alias="extraEnv", max_length=64,
        description="More environment variables for every pod of the execution plane, after the "
        "operator's own (which they may not override).",
        json_schema_extra={"x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["name"]})

    @field_validator("extra_env")
    @classmethod
    def _unique_names(cls, env: list[EnvVar]) -> list[EnvVar]:
        names = [e.name for e in env]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise PydanticCustomError("env_duplicate", "{names} given more than once",
                                      {"names": ", ".join(twice)})
        return env

