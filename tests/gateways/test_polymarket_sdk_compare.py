"""Differential tests against the official V2 SDK (py-clob-client-v2, a dev-only dependency).

The SDK computes amounts in binary floats. Where its float floor of an exact decimal drops a
unit (e.g. ``floor(0.29 * 100) == 28``) the SDK is wrong and we are right; those inputs are
excluded explicitly rather than tolerated silently.
"""

import asyncio
import json
import math

import pytest
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

sdk_builder = pytest.importorskip("py_clob_client_v2.order_builder.builder")
sdk_utils = pytest.importorskip("py_clob_client_v2.order_utils")
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer as SdkSigner

from arbiter.venues.polymarket.amounts import (
    MICROS,
    TICK_SIZES,
    OrderAmounts,
    Side,
    TickSize,
    limit_order_amounts,
    market_order_amounts,
)
from arbiter.venues.polymarket.order_builder import (
    OrderType,
    build_order,
    encode_body,
    order_payload,
    sign,
)
from arbiter.venues.polymarket.signing import (
    ExchangeDomain,
    LocalSigner,
    SignatureType,
    order_digest,
    recover_order_signer,
)

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SDK = sdk_builder.OrderBuilder(None)
SDK_SIDE = {Side.BUY: "BUY", Side.SELL: "SELL"}


def _sdk_floor_is_exact(value_micros: int, decimals: int) -> bool:
    """True when the SDK's ``floor(float * 10**d)`` equals the exact decimal floor."""
    scale = 10 ** (6 - decimals)
    return math.floor(value_micros / MICROS * 10**decimals) == value_micros // scale


@st.composite
def order_inputs(draw: st.DrawFn) -> tuple[Side, int, int, TickSize]:
    tick = draw(st.sampled_from(list(TICK_SIZES.values())))
    price = draw(st.integers(1, MICROS // tick.tick_micros - 1)) * tick.tick_micros
    size = draw(st.integers(1, 10**7)) * 10_000
    assume(_sdk_floor_is_exact(size, 2) and _sdk_floor_is_exact(price, tick.price_decimals))
    return draw(st.sampled_from(list(Side))), price, size, tick


@settings(max_examples=300)
@given(order_inputs())
def test_limit_amounts_match_sdk(inputs: tuple[Side, int, int, TickSize]) -> None:
    side, price, size, tick = inputs
    ours = limit_order_amounts(side, price, size, tick)
    _, maker, taker = SDK.get_order_amounts(
        SDK_SIDE[side], size / MICROS, price / MICROS, sdk_builder.ROUNDING_CONFIG[tick.label]
    )
    assert (ours.maker_amount, ours.taker_amount) == (maker, taker)


@settings(max_examples=300)
@given(order_inputs())
def test_market_amounts_match_sdk(inputs: tuple[Side, int, int, TickSize]) -> None:
    side, price, amount, tick = inputs
    ours = market_order_amounts(side, price, amount, tick)
    _, maker, taker = SDK.get_market_order_amounts(
        SDK_SIDE[side], amount / MICROS, price / MICROS, sdk_builder.ROUNDING_CONFIG[tick.label]
    )
    assert ours.maker_amount == maker
    if ours.taker_amount != taker:
        # Only the SDK's float floor of an already-exact taker leg may differ, by one unit.
        unit = 10 ** (6 - tick.amount_decimals)
        exact_num = ours.maker_amount * (MICROS if side is Side.BUY else price)
        exact_den = price if side is Side.BUY else MICROS
        assert exact_num % exact_den == 0 and exact_num // exact_den == ours.taker_amount
        assert taker == ours.taker_amount - unit


bytes32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.integers(1, SECP256K1_N - 1),
    signature_type=st.sampled_from(list(SignatureType)),
    funder=st.binary(min_size=20, max_size=20),
    salt=st.integers(0, 2**53 - 1),
    token_id=st.integers(0, 2**256 - 1),
    side=st.sampled_from(list(Side)),
    amounts=st.tuples(st.integers(0, 2**64), st.integers(0, 2**64)),
    timestamp_ms=st.integers(0, 2**48),
    metadata=bytes32,
    builder=bytes32,
    neg_risk=st.booleans(),
    chain_id=st.sampled_from([137, 80002]),
    order_type=st.sampled_from(list(OrderType)),
)
def test_signed_order_matches_sdk(
    key: int,
    signature_type: SignatureType,
    funder: bytes,
    salt: int,
    token_id: int,
    side: Side,
    amounts: tuple[int, int],
    timestamp_ms: int,
    metadata: bytes,
    builder: bytes,
    neg_risk: bool,
    chain_id: int,
    order_type: OrderType,
) -> None:
    private_key = "0x" + key.to_bytes(32, "big").hex()
    signer = LocalSigner(private_key)
    funder_address = (
        signer.address if signature_type is SignatureType.EOA else to_checksum_address(funder)
    )
    order = build_order(
        token_id=token_id,
        side=side,
        amounts=OrderAmounts(*amounts),
        signer_address=signer.address,
        salt=salt,
        timestamp_ms=timestamp_ms,
        signature_type=signature_type,
        funder=funder_address,
        metadata=metadata,
        builder=builder,
    )
    domain = ExchangeDomain.for_market(chain_id, neg_risk=neg_risk)
    expiration = 1_800_000_000 if order_type is OrderType.GTD else 0
    ours = asyncio.run(sign(order, domain, signer, expiration))

    sdk = sdk_utils.ExchangeOrderBuilderV2(
        domain.verifying_contract,
        chain_id,
        SdkSigner(private_key, chain_id),
        generate_salt=lambda: str(salt),
    )
    sdk_order = sdk.build_signed_order(
        sdk_utils.OrderDataV2(
            maker=order.maker,
            signer=order.signer,
            tokenId=str(token_id),
            makerAmount=str(amounts[0]),
            takerAmount=str(amounts[1]),
            side=sdk_utils.Side(int(side)),
            signatureType=sdk_utils.SignatureTypeV2(int(signature_type)),
            timestamp=str(timestamp_ms),
            metadata="0x" + metadata.hex(),
            builder="0x" + builder.hex(),
            expiration=str(expiration),
        )
    )
    sdk_hash = sdk.build_order_hash(sdk.build_order_typed_data(sdk_order))
    assert "0x" + order_digest(order, domain).hex() == sdk_hash
    assert ours.signature == sdk_order.signature
    assert recover_order_signer(order, ours.signature, domain) == signer.address

    payload = order_payload(ours, owner="owner-key", order_type=order_type)
    sdk_body = json.dumps(
        order_to_json_v2(sdk_order, "owner-key", order_type.value),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert encode_body(payload) == sdk_body.encode()
