"""`arbiter check-connectivity` from the configuration: each venue's checks at its configured
URLs, with the credentials its gateway would use (paper keys onboarded as `arbiter serve
gateway-<venue>` does, or live keys through the vault service at `grpc.vault_addr`)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from arbiter.core.instruments import Venue
from arbiter.gateways.connectivity import CheckResult
from arbiter.platform import rpc
from arbiter.platform.config import ArbiterConfig
from arbiter.topology.builders import venue_credentials
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import common_pb2, signing_pb2_grpc
from arbiter.venues.plugin import VaultAccess, plugin


async def check_configured(
    config: ArbiterConfig, only: Sequence[Venue] | None = None,
    vault: VaultAccess | None = None,
) -> list[CheckResult]:
    """Check `only` these venues (default: every venue the pairs trade); never raises for a
    venue's fault. Live, the keys are reached through `vault` if given (`arbiter run --live`
    holds the vault in process), else through the vault service at `grpc.vault_addr`."""
    venues = list(only) if only is not None else list(
        TradingUniverse.from_config(config.market).venues)
    tenant = common_pb2.TenantContext(tenant_id=config.tenant.id, tier=config.tenant.tier)
    results = []
    async with contextlib.AsyncExitStack() as stack:
        if vault is None and not config.venues.paper:
            channel = rpc.insecure_channel(config.grpc.vault_addr, tenant)
            stack.push_async_callback(channel.close)
            vault = VaultAccess(signing_pb2_grpc.SignerStub(channel), tenant)
        for venue in venues:
            venue_plugin = plugin(venue)
            settings = config.venues.settings(venue)
            endpoints = venue_plugin.endpoints(settings, config.venues)
            async with endpoints.transport() as transport:
                async def credentials(v: Venue = venue, t: Any = transport) -> Any:
                    return await venue_credentials(config, v, t, vault)

                result = await venue_plugin.check(transport, credentials)
                result.notes.append(endpoints.base_url)
                results.append(result)
    return results
