"""A Tenant's spec, made of the configuration's own models.

A Tenant is the part of one tenant's `ArbiterConfig` the tenant chooses: its tier, its
market pairs, its risk limits and its venues' settings, at the same paths, by the same
names and in the same units as the config file (`spec.risk.max_exposure_usd` is
`risk.max_exposure_usd`, dollars). The CRD schema is generated from this model (`crd.py`,
`tools/gen_crd.py`), and the operator copies `spec` into the tenant's config file as it is,
adding only what it owns: the tenant id, the topic prefix, the vault role and the addresses
of the tenant's own services. `paused` is the one field that is not configuration.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

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

