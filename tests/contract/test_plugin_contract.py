"""Every venue plugin keeps the contract the venue-neutral system relies on."""

from __future__ import annotations

from typing import Any

import pytest
from emulators.conftest import Harness, eventually
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.core.units import ONE_DOLLAR, QTY_SCALE
from arbiter.emulators.link import InProcessLink
from arbiter.gateways.dry_run import DRY_RUN_REASON, DryRunTransport
from arbiter.gateways.nonces import SequentialNonceAllocator
from arbiter.platform.config import ConfigError, load_config
from arbiter.platform.venues import VENUES
from arbiter.topology.builders import venue_credentials
from arbiter.topology.embedded import EmulatedVenues
from arbiter.topology.universe import TradingUniverse
from arbiter.vault.credentials import credential_kind
from arbiter.vault.errors import VaultError
from arbiter.vault.grpc_service import PAYLOADS
from arbiter.vault.policy import SigningPolicy
from arbiter.venues.plugin import GatewayContext, VenuePlugin, plugin

from .conftest import pairs_for


def leg(venue: str) -> dict[str, Any]:
    """The first configured leg on `venue` in the pairs its contract runs with."""
    pairs = pairs_for(venue) or load_config(environ={}).model_dump(mode="json")["market"]["pairs"]
    return next(p[side] for p in pairs for side in ("a", "b") if p[side]["venue"] == venue)


def test_it_is_registered_under_its_slug(venue: str) -> None:
    found = plugin(venue)
    assert isinstance(found, VenuePlugin) and found.slug == venue and venue in VENUES
    assert found.title


def test_the_settings_model_loads_a_default_section_and_names_a_bad_key(venue: str) -> None:
    config = load_config(environ={}, overrides={f"venues.{venue}": {}})
    settings = config.venues.settings(venue)
    assert isinstance(settings, plugin(venue).settings_model) and settings.venue == venue
    with pytest.raises(ConfigError, match=rf"venues\.{venue}\.no_such_key"):
        load_config(environ={}, overrides={f"venues.{venue}": {"no_such_key": 1}})


def test_the_market_model_validates_a_leg_and_names_a_bad_field(venue: str) -> None:
    model = plugin(venue).market_model
    good = model.model_validate(leg(venue))
    market = plugin(venue).market(good)
    assert market.venue == venue and market.market_id
    assert ONE_DOLLAR % market.tick_micros == 0
    with pytest.raises(ValueError, match="bogus"):
        model.model_validate({**leg(venue), "bogus": True})


@given(price_cents=st.integers(1, 99), qty=st.integers(1, 10_000 * QTY_SCALE))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # `venue` is a constant
def test_the_fee_model_is_exact_integer_math(venue: str, price_cents: int, qty: int) -> None:
    """Integers in, integers out, never negative, never more than the notional, and
    additive orders never cost less than one (fees round up per order)."""
    venue_plugin = plugin(venue)
    fees = venue_plugin.fee_model(venue_plugin.market_model.model_validate(leg(venue)))
    price = price_cents * 10_000
    fee = fees.fee([(price, qty)])
    assert isinstance(fee, int) and 0 <= fee <= price * qty // QTY_SCALE + 10_000
    assert fees.fee([(price, qty), (price, qty)]) >= fee


def test_the_nonce_opt_in_gives_an_allocator_of_its_window(venue: str) -> None:
    venue_plugin = plugin(venue)
    allocator = venue_plugin.nonce_allocator()
    if venue_plugin.nonce_window is None:
        assert allocator is None
    else:
        assert isinstance(allocator, SequentialNonceAllocator)
        assert allocator.skip_window == venue_plugin.nonce_window
        assert venue_plugin.nonce_allocator() is not allocator  # one per gateway


def test_its_credential_kinds_are_found_by_the_vault_and_refuse_garbage(venue: str) -> None:
    assert any(spec.signs for spec in plugin(venue).credential_kinds), "a venue signs something"
    for spec in plugin(venue).credential_kinds:
        assert credential_kind(spec.name) is spec
        assert set(spec.signs) <= set(PAYLOADS)  # each a SignRequest payload it checks
        assert all(isinstance(policy, SigningPolicy) for policy in spec.signs.values())
        with pytest.raises(VaultError):
            spec.parse(b"not a key", "kid-1", None)


async def test_paper_credentials_onboard_against_the_in_process_emulator(venue: str) -> None:
    config = load_config(environ={}, overrides={"market.seed": 3}
                         | ({"market.pairs": pairs_for(venue)} if pairs_for(venue) else {}))
    venues = EmulatedVenues.create(config)
    credentials = await venue_credentials(config, venue, InProcessLink(venues[venue]), None)
    assert credentials is not None


async def test_endpoints_point_the_transport_at_the_served_emulator(harness: Harness) -> None:
    venue_plugin = plugin(harness.venue)
    section = venue_plugin.served_at(harness.server.url, harness.server.ws_urls)
    config = load_config(environ={}, overrides={f"venues.{harness.venue}": section})
    endpoints = venue_plugin.endpoints(config.venues.settings(harness.venue), config.venues)
    assert endpoints.base_url == harness.server.url
    assert set(endpoints.ws_urls.values()) <= set(harness.server.ws_urls.values())


async def test_the_connectivity_check_passes_against_the_emulator(harness: Harness) -> None:
    async def credentials() -> Any:
        return harness.credentials

    result = await plugin(harness.venue).check(harness.transport, credentials)
    assert result.ok, result.detail
    assert result.reachable and result.auth_ok
    assert result.balance_micros is not None and result.balance_micros > 0


async def test_readiness_answers_on_every_channel_and_looks_up_every_market(
        harness: Harness) -> None:
    """The gateway's own subscriptions are answered within the deadline, and each traded
    market is looked up (or said plainly not to be checkable)."""
    async def credentials() -> Any:
        return harness.credentials

    config = load_config(environ={}, overrides={"market.pairs": pairs_for(harness.venue)}
                         if pairs_for(harness.venue) else {})
    legs = [entry.leg for entry in TradingUniverse.from_config(config.market).listed[
        harness.venue]]
    result = await plugin(harness.venue).readiness(harness.transport, credentials, legs,
                                                   deadline_s=5.0)
    assert result.ok, result.detail
    channels = [c for c in result.checks if c.of_channel]
    assert len(channels) >= 2 and {c.status for c in channels} == {"ok"}, result.detail
    markets = {c.name: c.status for c in result.checks if c.of_market}
    assert set(markets) == {f"market {plugin(harness.venue).market(leg).market_id}"
                            for leg in legs}
    assert set(markets.values()) <= {"ok", "not checked"}


async def test_a_dry_run_signs_and_holds_back_the_order(harness: Harness) -> None:
    """The plugin's dry-run rules: the order is built and signed, never sent, and its secret
    headers are redacted in the log."""
    await eventually(harness.all_books_match)
    venue_plugin = plugin(harness.venue)

    async def on_report(report: Any) -> None:
        harness.reports.append(report)

    dry = DryRunTransport(harness.transport, venue_plugin.dry_run)
    config = load_config(environ={}, overrides={
        f"venues.{harness.venue}": venue_plugin.served_at(harness.server.url,
                                                          harness.server.ws_urls)})
    listed = TradingUniverse.from_config(
        load_config(environ={}, overrides={"market.pairs": pairs_for(harness.venue)}
                    if pairs_for(harness.venue) else {}).market).listed[harness.venue]
    gateway = venue_plugin.gateway(GatewayContext(
        dry, listed, harness.credentials, config.venues.settings(harness.venue), config.venues,
        harness.gateway.clock, harness.mirror, on_report,
        nonces=venue_plugin.nonce_allocator()))
    await gateway.start()
    try:
        _, asks = harness.engine(harness.market_ids[0]).snapshot()
        before = set(harness.server.requests)
        ack = await gateway.place(harness.ioc_buy_yes("dry-1", asks[0][0], QTY_SCALE))
    finally:
        await gateway.close()
    assert not ack.accepted and DRY_RUN_REASON in ack.reject_reason
    assert dry.would_have_sent == 1
    held = dry.sent_would_have[0]
    assert (held.method, held.path) not in (set(harness.server.requests) - before)
    for header in venue_plugin.dry_run.secret_headers & set(held.headers):
        assert held.safe_headers[header] != held.headers[header]
