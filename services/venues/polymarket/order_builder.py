"""Polymarket CLOB V2 orders: who is maker and signer, and the exact POST /order body bytes.

The body is serialised once, compactly, and those bytes are both what the L2 HMAC signs and
what goes on the wire (the venue rejects a request whose body differs from the signed one).
Key order follows the V2 SDK so bodies compare byte-for-byte with it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from arbiter.venues.polymarket.amounts import OrderAmounts, Side
from arbiter.venues.polymarket.signing import (
    ZERO_BYTES32,
    ExchangeDomain,
    Order,
    SignatureType,
    Signer,
    sign_order,
)

MAX_JSON_SALT = 2**53
"""``salt`` is a JSON number; above 2^53 a JavaScript-style parser would silently change it."""

MAX_BATCH_ORDERS = 15
"""POST /orders accepts at most this many orders."""


class OrderType(StrEnum):
    """Time in force: resting (GTC, GTD until ``expiration``) or immediate (FOK, FAK)."""

    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"


POST_ONLY_ORDER_TYPES = frozenset({OrderType.GTC, OrderType.GTD})


class OrderBuildError(ValueError):
    """Order parameters the venue would reject."""


@dataclass(frozen=True)
class SignedOrder:
    """A signed order plus the unsigned ``expiration`` (Unix seconds, 0 = none) sent beside it."""

    order: Order
    signature: str
    expiration_s: int = 0


def new_salt() -> int:
    """A random salt that survives JSON number parsing (53 bits)."""
    return secrets.randbits(53)


def order_parties(
    signer_address: str, signature_type: SignatureType, funder: str | None = None
) -> tuple[str, str]:
    """``(maker, signer)``: the funder holds the money; the EOA signs, except for POLY_1271."""
    if signature_type is SignatureType.EOA:
        if funder is not None and funder.lower() != signer_address.lower():
            raise OrderBuildError(f"funder {funder} must be the EOA itself for signature type EOA")
        return signer_address, signer_address
    if funder is None:
        raise OrderBuildError(f"funder is required for signature type {signature_type.name}")
    if signature_type is SignatureType.POLY_1271:
        return funder, funder
    return funder, signer_address


def build_order(
    *,
    token_id: int,
    side: Side,
    amounts: OrderAmounts,
    signer_address: str,
    salt: int,
    timestamp_ms: int,
    signature_type: SignatureType = SignatureType.EOA,
    funder: str | None = None,
    metadata: bytes = ZERO_BYTES32,
    builder: bytes = ZERO_BYTES32,
) -> Order:
    """Assemble the unsigned V2 order from amounts computed in :mod:`.amounts`."""
    if not 0 <= salt < MAX_JSON_SALT:
        raise OrderBuildError(f"salt {salt} must be in [0, 2**53)")
    maker, signer = order_parties(signer_address, signature_type, funder)
    return Order(
        salt=salt,
        maker=maker,
        signer=signer,
        token_id=token_id,
        maker_amount=amounts.maker_amount,
        taker_amount=amounts.taker_amount,
        side=side,
        signature_type=signature_type,
        timestamp_ms=timestamp_ms,
        metadata=metadata,
        builder=builder,
    )


async def sign(
    order: Order, domain: ExchangeDomain, signer: Signer, expiration_s: int = 0
) -> SignedOrder:
    """Sign ``order``; ``expiration_s`` is carried along because V2 does not sign it."""
    return SignedOrder(order, await sign_order(order, domain, signer, expiration_s),
                       expiration_s)


def _order_json(signed: SignedOrder) -> dict[str, Any]:
    order = signed.order
    return {
        "salt": order.salt,
        "maker": order.maker,
        "signer": order.signer,
        "tokenId": str(order.token_id),
        "makerAmount": str(order.maker_amount),
        "takerAmount": str(order.taker_amount),
        "side": order.side.name,
        "expiration": str(signed.expiration_s),
        "signatureType": int(order.signature_type),
        "timestamp": str(order.timestamp_ms),
        "metadata": "0x" + order.metadata.hex(),
        "builder": "0x" + order.builder.hex(),
        "signature": signed.signature,
    }


def order_payload(
    signed: SignedOrder,
    *,
    owner: str,
    order_type: OrderType,
    post_only: bool = False,
    defer_exec: bool = False,
) -> dict[str, Any]:
    """One POST /order wrapper object; ``owner`` is the L2 API key, not an address."""
    if post_only and order_type not in POST_ONLY_ORDER_TYPES:
        raise OrderBuildError(f"postOnly is only allowed with GTC or GTD, not {order_type}")
    if order_type is OrderType.GTD and signed.expiration_s <= 0:
        raise OrderBuildError("expiration is required (Unix seconds > 0) for GTD orders")
    if order_type is not OrderType.GTD and signed.expiration_s != 0:
        raise OrderBuildError(
            f"expiration {signed.expiration_s} is only allowed with GTD, not {order_type}"
        )
    return {
        "order": _order_json(signed),
        "owner": owner,
        "orderType": str(order_type),
        "deferExec": defer_exec,
        "postOnly": post_only,
    }


def encode_body(payload: Any) -> bytes:
    """Compact JSON (no spaces, UTF-8): the exact bytes to send and to HMAC."""
    return orjson.dumps(payload)


def encode_batch(payloads: list[dict[str, Any]]) -> bytes:
    """POST /orders body: a JSON array of 1 to 15 :func:`order_payload` objects."""
    if not 1 <= len(payloads) <= MAX_BATCH_ORDERS:
        raise OrderBuildError(f"a batch holds 1 to {MAX_BATCH_ORDERS} orders, got {len(payloads)}")
    return encode_body(payloads)
