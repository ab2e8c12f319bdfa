"""What the vault may sign for each tenant, read from the tenants' configurations.

The vault checks every order against the tenant's own scope (`arbiter.vault.policy`); this is
where the composition root derives it: the instruments of the tenant's approved pairs (each
leg's market id and outcome tokens, as its venue plugin reads the leg), each venue's section,
and the per-order caps. No single order may put more at risk than the tenant's whole exposure
limit, nor buy more than its per-market position limit.
"""

from __future__ import annotations

from collections import defaultdict

from arbiter.core.units import money_from_decimal, qty_from_decimal
from arbiter.platform.config import ArbiterConfig, ConfigError, load_config
from arbiter.vault.policy import TenantPolicies, TenantPolicy, VenueScope, policies_of
from arbiter.venues.plugin import plugin


def tenant_signing_policy(config: ArbiterConfig) -> TenantPolicy:
    """The signing scope of `config`'s tenant."""
    instruments: dict[str, set[str]] = defaultdict(set)
    for pair in config.market.pairs:
        for leg in (pair.a, pair.b):
            market = plugin(leg.venue).market(leg)
            instruments[leg.venue] |= {market.market_id, market.yes_token, market.no_token}
    return TenantPolicy(
        config.tenant.id,
        max_order_notional_micros=money_from_decimal(config.risk.max_exposure_usd),
        max_order_qty_micros=qty_from_decimal(config.risk.max_position_per_market),
        venues={venue: VenueScope(frozenset(ids - {""}), config.venues.settings(venue))
                for venue, ids in instruments.items()})


def vault_signing_policies(config: ArbiterConfig) -> TenantPolicies:
    """The scopes a vault built from `config` signs within: its own tenant's and those of
    the tenants whose config files `vault.tenant_configs` lists (read as written, without
    this process's environment). A tenant twice is a `ConfigError`."""
    policies = [tenant_signing_policy(config)]
    for path in config.vault.tenant_configs:
        policy = tenant_signing_policy(load_config(path, environ={}))
        if any(p.tenant_id == policy.tenant_id for p in policies):
            raise ConfigError(f"vault.tenant_configs: {path} is tenant "
                              f"{policy.tenant_id!r}, whose scope the vault already has")
        policies.append(policy)
    return policies_of(*policies)
