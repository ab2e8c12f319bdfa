"""`arbiter check-connectivity` from the configuration: each venue's readiness at its
configured URLs (`VenuePlugin.readiness`: reach, protocol, skew, auth, balance, the markets
the pairs trade and every WebSocket channel), with the credentials its gateway would use
(paper keys onboarded as `arbiter serve gateway-<venue>` does, or live keys through the
vault service at `grpc.vault_addr`). `arbiter run --live` calls `check_configured` and
refuses to start on any failure."""

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
    config: ArbiterConfig, only: Sequence[Venue] | None = None, *,
    min_balance_micros: int = 0, vault: VaultAccess | None = None,
) -> list[CheckResult]:
    """Check `only` these venues (default: every venue the pairs trade), each against the
    markets the pairs list on it and a spendable minimum of `min_balance_micros`; every
    WebSocket answer is awaited for at most `venues.request_timeout_s`. Never raises for a
    venue's fault. Live, the keys are reached through `vault` if given (`arbiter run --live`
    holds the vault in process), else through the vault service at `grpc.vault_addr`."""
    universe = TradingUniverse.from_config(config.market)
    venues = list(only) if only is not None else list(universe.venues)
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

                legs = [entry.leg for entry in universe.listed.get(venue, ())]
                result = await venue_plugin.readiness(
                    transport, credentials, legs, min_balance_micros=min_balance_micros,
                    deadline_s=config.venues.request_timeout_s)
                result.notes.append(endpoints.base_url)
                results.append(result)
    return results
