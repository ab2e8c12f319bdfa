"""Polymarket POST /order bodies: field types, order-type rules, exact bytes."""

import asyncio

import orjson
import pytest

from arbiter.core.units import parse_micros
from arbiter.venues.polymarket.amounts import Side, limit_order_amounts, tick_size
from arbiter.venues.polymarket.auth import ApiCreds, l2_headers
from arbiter.venues.polymarket.order_builder import (
    OrderBuildError,
    OrderType,
    build_order,
    encode_batch,
    encode_body,
    new_salt,
    order_parties,
    order_payload,
    sign,
)
from arbiter.venues.polymarket.signing import ExchangeDomain, LocalSigner, Order, SignatureType

from .conftest import A10_ADDRESS, A10_BODY

POLYGON = ExchangeDomain.for_market(137, neg_risk=False)


def _a10(signer: LocalSigner) -> Order:
    amounts = limit_order_amounts(
        Side.BUY, parse_micros("0.53"), parse_micros("10"), tick_size("0.01")
    )
    return build_order(
        token_id=1234567890,
        side=Side.BUY,
        amounts=amounts,
        signer_address=signer.address,
        salt=12345,
        timestamp_ms=1700000000000,
    )


def test_a10_body_is_byte_exact(a10_signer: LocalSigner) -> None:
    signed = asyncio.run(sign(_a10(a10_signer), POLYGON, a10_signer))
    body = encode_body(order_payload(signed, owner="api-key", order_type=OrderType.GTC))
    assert body == A10_BODY.encode()
    # The HMAC covers exactly those bytes: any re-serialisation changes the signature.
    creds = ApiCreds("api-key", "A" * 43 + "=", "pp")
    pretty = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    assert l2_headers(A10_ADDRESS, creds, 1700000000, "POST", "/order", body) != l2_headers(
        A10_ADDRESS, creds, 1700000000, "POST", "/order", pretty
    )


def test_order_types_and_flags(a10_signer: LocalSigner) -> None:
    signed = asyncio.run(sign(_a10(a10_signer), POLYGON, a10_signer))
    for order_type in (OrderType.GTC, OrderType.GTD):
        gtd = asyncio.run(sign(_a10(a10_signer), POLYGON, a10_signer, expiration_s=1700000600))
        payload = order_payload(
            gtd if order_type is OrderType.GTD else signed,
            owner="k",
            order_type=order_type,
            post_only=True,
        )
        assert payload["postOnly"] is True and payload["orderType"] == order_type.value
    for order_type in (OrderType.FOK, OrderType.FAK):
        assert order_payload(signed, owner="k", order_type=order_type)["orderType"] == order_type
        with pytest.raises(
            OrderBuildError, match=f"postOnly is only allowed with GTC or GTD, not {order_type}"
        ):
            order_payload(signed, owner="k", order_type=order_type, post_only=True)
    with pytest.raises(OrderBuildError, match="expiration is required"):
        order_payload(signed, owner="k", order_type=OrderType.GTD)
    gtd = asyncio.run(sign(_a10(a10_signer), POLYGON, a10_signer, expiration_s=1700000600))
    assert (
        order_payload(gtd, owner="k", order_type=OrderType.GTD)["order"]["expiration"]
        == "1700000600"
    )
    with pytest.raises(OrderBuildError, match="only allowed with GTD, not GTC"):
        order_payload(gtd, owner="k", order_type=OrderType.GTC)
    # Expiration is not signed in V2: the signature is the same with or without it.
    assert gtd.signature == signed.signature


def test_parties_per_signature_type() -> None:
    eoa, funder = "0x" + "11" * 20, "0x" + "22" * 20
    assert order_parties(eoa, SignatureType.EOA) == (eoa, eoa)
    assert order_parties(eoa, SignatureType.POLY_PROXY, funder) == (funder, eoa)
    assert order_parties(eoa, SignatureType.POLY_GNOSIS_SAFE, funder) == (funder, eoa)
    assert order_parties(eoa, SignatureType.POLY_1271, funder) == (funder, funder)
    with pytest.raises(OrderBuildError, match="funder is required for signature type POLY_PROXY"):
        order_parties(eoa, SignatureType.POLY_PROXY)
    with pytest.raises(OrderBuildError, match="must be the EOA itself"):
        order_parties(eoa, SignatureType.EOA, funder)


def test_salt_and_batches(a10_signer: LocalSigner) -> None:
    assert all(0 <= new_salt() < 2**53 for _ in range(100))
    with pytest.raises(OrderBuildError, match=r"salt 9007199254740992 must be in \[0, 2\*\*53\)"):
        build_order(
            token_id=1,
            side=Side.BUY,
            amounts=limit_order_amounts(Side.BUY, 500000, 10**6, tick_size("0.1")),
            signer_address=a10_signer.address,
            salt=2**53,
            timestamp_ms=1,
        )
    payload = order_payload(
        asyncio.run(sign(_a10(a10_signer), POLYGON, a10_signer)), owner="k",
        order_type=OrderType.GTC,
    )
    assert orjson.loads(encode_batch([payload] * 15)) == [payload] * 15
    with pytest.raises(OrderBuildError, match="1 to 15 orders, got 16"):
        encode_batch([payload] * 16)
