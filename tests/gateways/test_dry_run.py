"""`DryRunTransport`: real gateways build and sign orders that never reach the venue."""

from __future__ import annotations

import logging
import time

import orjson
import pytest

from arbiter.core.instruments import Outcome, Venue
from arbiter.emulators.link import InProcessLink
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.dry_run import DRY_RUN_REASON, DryRunTransport
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import ArbiterConfig, load_config
from arbiter.topology.builders import venue_credentials
from arbiter.topology.embedded import EmulatedVenues
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import common_pb2, execution_pb2
from arbiter.venues.kalshi.auth import (
    KALSHI_ACCESS_KEY,
    KALSHI_ACCESS_SIGNATURE,
    KALSHI_ACCESS_TIMESTAMP,
    signing_string,
    verify_signature,
)
from arbiter.venues.plugin import GatewayContext, plugin
from arbiter.venues.polymarket.amounts import Side
from arbiter.venues.polymarket.auth import (
    POLY_API_KEY,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    hmac_signature,
)
from arbiter.venues.polymarket.signing import Order, SignatureType, recover_order_signer

CONFIG = load_config(environ={}, overrides={"market.seed": 7, "venues.dry_run": True,
                                            "venues.polymarket.heartbeat_s": 0})


@pytest.fixture
async def venues() -> EmulatedVenues:
    venues = EmulatedVenues.create(CONFIG)
    await venues.market.step()  # liquidity: the order below would fill if it were sent
    return venues


async def _dry_gateway(venues: EmulatedVenues, venue: Venue, config: ArbiterConfig,
                       reports: Reports) -> tuple[VenueGateway, DryRunTransport, object]:
    """The venue's gateway behind its dry-run rules, as the composition root builds it."""
    credentials = await venue_credentials(config, venue, InProcessLink(venues[venue]), None)
    dry = DryRunTransport(InProcessLink(venues[venue]), plugin(venue).dry_run)
    gateway = plugin(venue).gateway(GatewayContext(
        dry, TradingUniverse.from_config(config.market).listed[venue], credentials,
        config.venues.settings(venue), config.venues, SystemClock(), _ignore, reports))
    return gateway, dry, credentials


class Reports(list[execution_pb2.ExecutionReport]):
    async def __call__(self, report: execution_pb2.ExecutionReport) -> None:
        self.append(report)


async def _ignore(event: object) -> None:
    return None


def _buy_yes(venue: Venue, market_id: str) -> execution_pb2.OrderRequest:
    return execution_pb2.OrderRequest(
        tenant=common_pb2.TenantContext(tenant_id="paper"), client_order_id="dry-1",
        venue=venue, market_id=market_id, outcome=int(Outcome.YES),
        limit_price_micros=990_000, qty_micros=10_000_000, tif=execution_pb2.TIME_IN_FORCE_IOC,
        saga_id="saga-dry-1", created_micros=time.time_ns() // 1000)


def _assert_rejected(ack: execution_pb2.OrderAck, reports: Reports) -> None:
    assert not ack.accepted and ack.reject_reason == DRY_RUN_REASON
    assert [(r.kind, r.reason) for r in reports] == [(execution_pb2.REPORT_KIND_REJECT,
                                                       DRY_RUN_REASON)]


async def test_polymarket_order_is_signed_recorded_and_not_sent(
        venues: EmulatedVenues, caplog: pytest.LogCaptureFixture) -> None:
    reports = Reports()
    gateway, dry, creds = await _dry_gateway(venues, "polymarket", CONFIG, reports)
    emulator = venues["polymarket"]
    await gateway.start()  # GETs and WebSocket subscriptions pass through
    market_id = next(iter(gateway.markets))
    with caplog.at_level(logging.INFO, logger="arbiter.gateways.dry_run"):
        ack = await gateway.place(_buy_yes("polymarket", market_id))

    _assert_rejected(ack, reports)
    assert emulator.orders == {} and not emulator.account.positions
    assert dry.would_have_sent == 1
    held = dry.sent_would_have[0]
    assert (held.method, held.path) == ("POST", "/order")
    # the exact bytes verify: HMAC over the body, EIP-712 signature over the order
    headers = held.headers
    assert headers[POLY_SIGNATURE] == hmac_signature(
        creds.api.secret, headers[POLY_TIMESTAMP], "POST", "/order", held.body)
    raw = orjson.loads(held.body)["order"]
    order = Order(salt=int(raw["salt"]), maker=raw["maker"], signer=raw["signer"],
                  token_id=int(raw["tokenId"]), maker_amount=int(raw["makerAmount"]),
                  taker_amount=int(raw["takerAmount"]), side=Side[raw["side"]],
                  signature_type=SignatureType(int(raw["signatureType"])),
                  timestamp_ms=int(raw["timestamp"]),
                  metadata=bytes.fromhex(raw["metadata"][2:]),
                  builder=bytes.fromhex(raw["builder"][2:]))
    assert recover_order_signer(order, raw["signature"], emulator.domain) \
        == creds.signer.address
    # logged, but never the secrets
    log_text = caplog.text
    assert "dry-run #1: NOT sent POST /order" in log_text
    for secret in (headers[POLY_SIGNATURE], headers[POLY_API_KEY], headers[POLY_PASSPHRASE]):
        assert secret not in log_text
    assert raw["signature"] in log_text  # the order itself is logged for comparison


async def test_kalshi_order_is_signed_recorded_and_not_sent(
        venues: EmulatedVenues, caplog: pytest.LogCaptureFixture) -> None:
    reports = Reports()
    gateway, dry, creds = await _dry_gateway(venues, "kalshi", CONFIG, reports)
    emulator = venues["kalshi"]
    await gateway.start()
    market_id = next(iter(gateway.markets))
    with caplog.at_level(logging.INFO, logger="arbiter.gateways.dry_run"):
        ack = await gateway.place(_buy_yes("kalshi", market_id))

    _assert_rejected(ack, reports)
    assert emulator.orders == {} and not emulator.account.positions
    assert dry.would_have_sent == 1
    held = dry.sent_would_have[0]
    assert held.method == "POST" and held.path.startswith("/trade-api/v2/portfolio/")
    assert held.headers[KALSHI_ACCESS_KEY] == creds.key_id
    message = signing_string(int(held.headers[KALSHI_ACCESS_TIMESTAMP]), "POST", held.path)
    assert verify_signature(emulator.keys[creds.key_id], message.encode(),
                            held.headers[KALSHI_ACCESS_SIGNATURE])
    assert orjson.loads(held.body)["ticker"] == market_id
    assert held.headers[KALSHI_ACCESS_SIGNATURE] not in caplog.text
    assert "<redacted>" in caplog.text


async def test_reads_and_onboarding_pass_through(venues: EmulatedVenues) -> None:
    dry = DryRunTransport(venues.links()["kalshi"], plugin("kalshi").dry_run)
    status, _ = await dry.request("GET", "/trade-api/v2/exchange/status")
    assert status == 200
    assert not dry.holds_back("POST", "/trade-api/v2/api_keys")
    polymarket = DryRunTransport(venues.links()["polymarket"], plugin("polymarket").dry_run)
    assert not polymarket.holds_back("POST", "/v1/heartbeats")
    for transport, method, path in (
            (polymarket, "POST", "/order"), (polymarket, "POST", "/orders"),
            (polymarket, "DELETE", "/order"), (polymarket, "DELETE", "/cancel-all"),
            (dry, "POST", "/trade-api/v2/portfolio/orders"),
            (dry, "DELETE", "/trade-api/v2/portfolio/events/orders/x"),
            (dry, "POST", "/some/new/endpoint"), (polymarket, "POST", "/some/new/endpoint")):
        assert transport.holds_back(method, path), (method, path)
    status, raw = await dry.request("DELETE", "/trade-api/v2/portfolio/events/orders/x")
    assert status == 400 and orjson.loads(raw)["error"]["code"] == "dry_run"
    assert dry.would_have_sent == 1
