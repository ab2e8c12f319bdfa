"""`DryRunTransport`: real gateways build and sign orders that never reach the venue."""

from __future__ import annotations

import logging
import time

import orjson
import pytest
from arbiter.core.instruments import Outcome, Venue
from arbiter.gateways.dry_run import DRY_RUN_REASON, DryRunTransport
from arbiter.gateways.kalshi.adapter import KalshiGateway
from arbiter.gateways.kalshi.auth import (
    KALSHI_ACCESS_KEY,
    KALSHI_ACCESS_SIGNATURE,
    KALSHI_ACCESS_TIMESTAMP,
    signing_string,
    verify_signature,
)
from arbiter.gateways.polymarket.adapter import PolymarketCredentials, PolymarketGateway
from arbiter.gateways.polymarket.amounts import Side
from arbiter.gateways.polymarket.auth import (
    POLY_API_KEY,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    hmac_signature,
)
from arbiter.gateways.polymarket.signing import Order, SignatureType, recover_order_signer
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import load_config
from arbiter.topology.catalog import Catalog
from arbiter.topology.embedded import EmulatedVenues
from arbiter.v1 import common_pb2, execution_pb2


@pytest.fixture
async def venues() -> EmulatedVenues:
    config = load_config(environ={}, overrides={"market.seed": 7})
    venues = EmulatedVenues.create(config)
    await venues.market.step()  # liquidity: the order below would fill if it were sent
    return venues


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_config(load_config(environ={}, overrides={"market.seed": 7}).market)


class Reports(list[execution_pb2.ExecutionReport]):
    async def __call__(self, report: execution_pb2.ExecutionReport) -> None:
        self.append(report)


async def _ignore(event: object) -> None:
    return None


def _buy_yes(venue: Venue, market_id: str) -> execution_pb2.OrderRequest:
    return execution_pb2.OrderRequest(
        tenant=common_pb2.TenantContext(tenant_id="paper"), client_order_id="dry-1",
        venue=int(venue), market_id=market_id, outcome=int(Outcome.YES),
        limit_price_micros=990_000, qty_micros=10_000_000, tif=execution_pb2.TIME_IN_FORCE_IOC,
        saga_id="saga-dry-1", created_micros=time.time_ns() // 1000)


def _assert_rejected(ack: execution_pb2.OrderAck, reports: Reports) -> None:
    assert not ack.accepted and ack.reject_reason == DRY_RUN_REASON
    assert [(r.kind, r.reason) for r in reports] == [(execution_pb2.REPORT_KIND_REJECT,
                                                       DRY_RUN_REASON)]


async def test_polymarket_order_is_signed_recorded_and_not_sent(
        venues: EmulatedVenues, catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    creds = venues.credentials
    dry = DryRunTransport(venues.links()[Venue.POLYMARKET])
    reports = Reports()
    gateway = PolymarketGateway(
        dry, catalog.markets(Venue.POLYMARKET), catalog.fees_by_id(),
        PolymarketCredentials(creds.polymarket_signer, creds.polymarket_api), SystemClock(),
        _ignore, reports)
    await gateway.start()  # GETs and WebSocket subscriptions pass through
    market_id = next(iter(gateway.markets))
    with caplog.at_level(logging.INFO, logger="arbiter.gateways.dry_run"):
        ack = await gateway.place(_buy_yes(Venue.POLYMARKET, market_id))

    _assert_rejected(ack, reports)
    assert venues.polymarket.orders == {} and not venues.polymarket.account.positions
    assert dry.would_have_sent == 1
    held = dry.sent_would_have[0]
    assert (held.method, held.path) == ("POST", "/order")
    # the exact bytes verify: HMAC over the body, EIP-712 signature over the order
    headers = held.headers
    assert headers[POLY_SIGNATURE] == hmac_signature(
        creds.polymarket_api.secret, headers[POLY_TIMESTAMP], "POST", "/order", held.body)
    raw = orjson.loads(held.body)["order"]
    order = Order(salt=int(raw["salt"]), maker=raw["maker"], signer=raw["signer"],
                  token_id=int(raw["tokenId"]), maker_amount=int(raw["makerAmount"]),
                  taker_amount=int(raw["takerAmount"]), side=Side[raw["side"]],
                  signature_type=SignatureType(int(raw["signatureType"])),
                  timestamp_ms=int(raw["timestamp"]),
                  metadata=bytes.fromhex(raw["metadata"][2:]),
                  builder=bytes.fromhex(raw["builder"][2:]))
    assert recover_order_signer(order, raw["signature"], venues.polymarket.domain) \
        == creds.polymarket_signer.address
    # logged, but never the secrets
    log_text = caplog.text
    assert "dry-run #1: NOT sent POST /order" in log_text
    for secret in (headers[POLY_SIGNATURE], headers[POLY_API_KEY], headers[POLY_PASSPHRASE]):
        assert secret not in log_text
    assert raw["signature"] in log_text  # the order itself is logged for comparison


async def test_kalshi_order_is_signed_recorded_and_not_sent(
        venues: EmulatedVenues, catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    creds = venues.credentials
    dry = DryRunTransport(venues.links()[Venue.KALSHI])
    reports = Reports()
    gateway = KalshiGateway(
        dry, catalog.markets(Venue.KALSHI), catalog.fees_by_id(), catalog.kalshi_rules,
        creds.kalshi_key_id, creds.kalshi_signer, SystemClock(), _ignore, reports)
    await gateway.start()
    market_id = next(iter(gateway.markets))
    with caplog.at_level(logging.INFO, logger="arbiter.gateways.dry_run"):
        ack = await gateway.place(_buy_yes(Venue.KALSHI, market_id))

    _assert_rejected(ack, reports)
    assert venues.kalshi.orders == {} and not venues.kalshi.account.positions
    assert dry.would_have_sent == 1
    held = dry.sent_would_have[0]
    assert held.method == "POST" and held.path.startswith("/trade-api/v2/portfolio/")
    assert held.headers[KALSHI_ACCESS_KEY] == creds.kalshi_key_id
    message = signing_string(int(held.headers[KALSHI_ACCESS_TIMESTAMP]), "POST", held.path)
    assert verify_signature(creds.kalshi_key.public_key(), message.encode(),
                            held.headers[KALSHI_ACCESS_SIGNATURE])
    assert orjson.loads(held.body)["ticker"] == market_id
    assert held.headers[KALSHI_ACCESS_SIGNATURE] not in caplog.text
    assert "<redacted>" in caplog.text


async def test_reads_and_onboarding_pass_through(venues: EmulatedVenues) -> None:
    dry = DryRunTransport(venues.links()[Venue.KALSHI])
    status, _ = await dry.request("GET", "/trade-api/v2/exchange/status")
    assert status == 200
    assert not DryRunTransport.holds_back("POST", "/trade-api/v2/api_keys")
    for method, path in (("POST", "/order"), ("POST", "/orders"), ("DELETE", "/order"),
                         ("DELETE", "/cancel-all"), ("POST", "/trade-api/v2/portfolio/orders"),
                         ("DELETE", "/trade-api/v2/portfolio/events/orders/x"),
                         ("POST", "/some/new/endpoint")):
        assert DryRunTransport.holds_back(method, path), (method, path)
    status, raw = await dry.request("DELETE", "/trade-api/v2/portfolio/events/orders/x")
    assert status == 400 and orjson.loads(raw)["error"]["code"] == "dry_run"
    assert dry.would_have_sent == 1
