"""Sign requests as gateways make them, and the tenant scope the vault tests sign within.

Built with the gateways' own code (`build_order`, `encode_order`), so a test that the vault
refuses a mutated order mutates what a real gateway would send."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from arbiter.v1 import common_pb2, signing_pb2
from arbiter.vault.policy import TenantPolicy, VenueScope
from arbiter.venues.polymarket.amounts import Side
from arbiter.venues.polymarket.signing import POLYGON_CHAIN_ID, ExchangeDomain, Order
from arbiter.venues.polymarket.signing import SignatureType as SigType
from arbiter.venues.polymarket.vault_policy import encode_order

HARDHAT_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TOKEN = str(10**20)
"""A token of the tenant's approved pairs (the embedded default's first YES token)."""
OTHER_TOKEN = str(10**20 + 999)
CAP_MICROS = 5_000_000_000  # $5,000 per order
QTY_CAP_MICROS = 2_000_000_000  # 2,000 shares per order
DOMAIN = ExchangeDomain.for_market(POLYGON_CHAIN_ID, neg_risk=False)
NEG_RISK_DOMAIN = ExchangeDomain.for_market(POLYGON_CHAIN_ID, neg_risk=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def scope(tenant_id: str) -> TenantPolicy:
    """Every test tenant's scope: one approved Polymarket market and the caps above."""
    return TenantPolicy(tenant_id, CAP_MICROS, QTY_CAP_MICROS,
                        {"polymarket": VenueScope(frozenset({TOKEN, str(10**20 + 1)}))})


def order(at_ms: int, **changes: Any) -> Order:
    """A $50 BUY of 100 shares of TOKEN by the Hardhat EOA, timestamped `at_ms`."""
    base = Order(salt=7, maker=HARDHAT_ADDRESS, signer=HARDHAT_ADDRESS, token_id=int(TOKEN),
                 maker_amount=50_000_000, taker_amount=100_000_000, side=Side.BUY,
                 signature_type=SigType.EOA, timestamp_ms=at_ms)
    return dataclasses.replace(base, **changes)


def tenant(tenant_id: str) -> common_pb2.TenantContext:
    return common_pb2.TenantContext(tenant_id=tenant_id, tier="pro")


def order_request(tenant_id: str, credential_id: str, signed: Order,
                  domain: ExchangeDomain = DOMAIN,
                  expiration_s: int = 0) -> signing_pb2.SignRequest:
    return signing_pb2.SignRequest(tenant=tenant(tenant_id), credential_id=credential_id,
                                   polymarket_order=encode_order(signed, domain, expiration_s))


def clob_auth_request(tenant_id: str, credential_id: str, timestamp_s: int, nonce: int = 0,
                      chain_id: int = POLYGON_CHAIN_ID,
                      address: str = HARDHAT_ADDRESS) -> signing_pb2.SignRequest:
    return signing_pb2.SignRequest(
        tenant=tenant(tenant_id), credential_id=credential_id,
        polymarket_clob_auth=signing_pb2.PolymarketClobAuth(
            address=address, timestamp_s=timestamp_s, nonce=nonce, chain_id=chain_id))


def venue_request(tenant_id: str, credential_id: str, timestamp_ms: int, method: str = "GET",
                  path: str = "/trade-api/v2/portfolio/balance") -> signing_pb2.SignRequest:
    return signing_pb2.SignRequest(
        tenant=tenant(tenant_id), credential_id=credential_id,
        venue_request=signing_pb2.VenueRequest(timestamp_ms=timestamp_ms, method=method,
                                               path=path))


def payload(request: signing_pb2.SignRequest) -> tuple[str, Any]:
    """(oneof field, message): the arguments `Signer.sign` takes after the ids."""
    which = request.WhichOneof("payload")
    assert which is not None
    return which, getattr(request, which)
