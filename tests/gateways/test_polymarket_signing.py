"""Polymarket V2 EIP-712 order hashing, signing and recovery."""

import asyncio
import dataclasses

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from arbiter.v1 import signing_pb2
from arbiter.venues.polymarket.signing import (
    CTF_EXCHANGE_V2,
    DOMAIN_TYPEHASH,
    NEG_RISK_CTF_EXCHANGE_V2,
    ORDER_TYPEHASH,
    ExchangeDomain,
    LocalSigner,
    Order,
    SignatureError,
    SignatureType,
    encode_signature,
    order_digest,
    recover_order_signer,
    sign_order,
    signing_digest,
)
from arbiter.venues.polymarket.vault_policy import decode_order, encode_order

from .conftest import A10_ADDRESS, A10_ORDER_HASH, A10_SIGNATURE, HARDHAT_KEY_0

POLYGON = ExchangeDomain.for_market(137, neg_risk=False)
NEG_RISK = ExchangeDomain.for_market(137, neg_risk=True)


def test_constants_match_facts() -> None:
    assert "0x" + ORDER_TYPEHASH.hex() == (
        "0xbb86318a2138f5fa8ae32fbe8e659f8fcf13cc6ae4014a707893055433818589"
    )
    assert "0x" + DOMAIN_TYPEHASH.hex() == (
        "0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"
    )
    assert "0x" + POLYGON.separator().hex() == (
        "0x3264e159346253e26a64e00b69032db0e7d32f94628de3e6eecb50304d7af3d2"
    )
    assert "0x" + NEG_RISK.separator().hex() == (
        "0x9b858f53327b0bd13af8ec14cfb35234fb9eb7b0504d1a4e61f433840d30e81a"
    )
    assert POLYGON.verifying_contract == CTF_EXCHANGE_V2
    assert NEG_RISK.verifying_contract == NEG_RISK_CTF_EXCHANGE_V2


def test_a10_vector(a10_signer: LocalSigner, a10_order: Order) -> None:
    assert a10_signer.address == A10_ADDRESS
    assert "0x" + order_digest(a10_order, POLYGON).hex() == A10_ORDER_HASH
    assert asyncio.run(sign_order(a10_order, POLYGON, a10_signer)) == A10_SIGNATURE
    assert recover_order_signer(a10_order, A10_SIGNATURE, POLYGON) == A10_ADDRESS


def test_digest_matches_eth_account_typed_data(a10_order: Order) -> None:
    """Our hand-rolled ABI encoding equals eth-account's generic EIP-712 encoder."""
    order = dataclasses.replace(a10_order, builder=b"\x01" * 32, metadata=b"\x02" * 32)
    typed = {
        "primaryType": "Order",
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Order": [
                {"name": n, "type": t}
                for n, t in [
                    ("salt", "uint256"),
                    ("maker", "address"),
                    ("signer", "address"),
                    ("tokenId", "uint256"),
                    ("makerAmount", "uint256"),
                    ("takerAmount", "uint256"),
                    ("side", "uint8"),
                    ("signatureType", "uint8"),
                    ("timestamp", "uint256"),
                    ("metadata", "bytes32"),
                    ("builder", "bytes32"),
                ]
            ],
        },
        "domain": {
            "name": "Polymarket CTF Exchange",
            "version": "2",
            "chainId": 137,
            "verifyingContract": NEG_RISK_CTF_EXCHANGE_V2,
        },
        "message": {
            "salt": order.salt,
            "maker": order.maker,
            "signer": order.signer,
            "tokenId": order.token_id,
            "makerAmount": order.maker_amount,
            "takerAmount": order.taker_amount,
            "side": 0,
            "signatureType": 0,
            "timestamp": order.timestamp_ms,
            "metadata": order.metadata,
            "builder": order.builder,
        },
    }
    encoded = encode_typed_data(full_message=typed)
    expected = keccak(b"\x19" + encoded.version + encoded.header + encoded.body)
    assert order_digest(order, NEG_RISK) == expected
    assert order_digest(order, NEG_RISK) != order_digest(order, POLYGON)


def test_every_signed_field_changes_the_digest(a10_order: Order) -> None:
    base = order_digest(a10_order, POLYGON)
    changes = {
        "salt": 12346,
        "maker": "0x" + "22" * 20,
        "signer": "0x" + "33" * 20,
        "token_id": 1,
        "maker_amount": 5300001,
        "taker_amount": 1,
        "side": 1,
        "signature_type": SignatureType.POLY_PROXY,
        "timestamp_ms": 1,
        "metadata": b"\x01" * 32,
        "builder": b"\x01" * 32,
    }
    for name, value in changes.items():
        assert order_digest(dataclasses.replace(a10_order, **{name: value}), POLYGON) != base, name
    assert order_digest(a10_order, ExchangeDomain(80002, CTF_EXCHANGE_V2)) != base


def test_recover_detects_tampering(a10_order: Order) -> None:
    tampered = dataclasses.replace(a10_order, maker_amount=5200000)
    assert recover_order_signer(tampered, A10_SIGNATURE, POLYGON) != A10_ADDRESS
    assert recover_order_signer(a10_order, A10_SIGNATURE, NEG_RISK) != A10_ADDRESS
    with pytest.raises(SignatureError, match="65 bytes"):
        recover_order_signer(a10_order, A10_SIGNATURE[:-2], POLYGON)
    with pytest.raises(SignatureError, match="v must be 27 or 28"):
        recover_order_signer(a10_order, A10_SIGNATURE[:-2] + "05", POLYGON)


def test_proxy_signature_types_sign_with_the_eoa(a10_order: Order) -> None:
    eoa = LocalSigner(HARDHAT_KEY_0)
    funder = "0x" + "ab" * 20
    for sig_type in (SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE):
        order = dataclasses.replace(
            a10_order, maker=funder, signer=eoa.address, signature_type=sig_type
        )
        assert signing_digest(order, POLYGON) == order_digest(order, POLYGON)
        signature = asyncio.run(sign_order(order, POLYGON, eoa))
        assert len(bytes.fromhex(signature[2:])) == 65
        assert recover_order_signer(order, signature, POLYGON) == eoa.address


def test_poly_1271_envelope(a10_order: Order) -> None:
    owner = LocalSigner(HARDHAT_KEY_0)
    wallet = "0x" + "cd" * 20
    order = dataclasses.replace(
        a10_order, maker=wallet, signer=wallet, signature_type=SignatureType.POLY_1271
    )
    assert signing_digest(order, POLYGON) != order_digest(order, POLYGON)
    signature = bytes.fromhex(asyncio.run(sign_order(order, POLYGON, owner))[2:])
    type_string = signature[65 + 64 : -2]
    assert type_string.startswith(b"Order(uint256 salt,")
    assert int.from_bytes(signature[-2:], "big") == len(type_string)
    assert signature[65:97] == POLYGON.separator()
    assert recover_order_signer(order, "0x" + signature.hex(), POLYGON) == owner.address
    with pytest.raises(SignatureError, match="envelope does not match"):
        recover_order_signer(order, "0x" + signature.hex(), NEG_RISK)


def test_signer_is_separable_from_the_key(a10_order: Order) -> None:
    """A remote signer is handed the order, never a digest: the vault's wire form carries
    every signed field, the digest computed from it on the far side is the exchange's, and
    the result equals local signing."""
    seen: list[bytes] = []

    class VaultStub:
        address = A10_ADDRESS

        async def sign_order(self, order: Order, domain: ExchangeDomain,
                             expiration_s: int = 0) -> bytes:
            wire = encode_order(order, domain, expiration_s).SerializeToString()
            seen.append(wire)
            far_side = decode_order(signing_pb2.PolymarketOrder.FromString(wire))
            digest = signing_digest(*far_side)
            return bytes(Account.from_key("0x" + "11" * 32).unsafe_sign_hash(digest).signature)

        async def sign_clob_auth(self, timestamp_s: int, nonce: int, chain_id: int) -> bytes:
            raise AssertionError("an order is no ClobAuth")

    assert asyncio.run(sign_order(a10_order, POLYGON, VaultStub())) == A10_SIGNATURE
    assert decode_order(signing_pb2.PolymarketOrder.FromString(seen[0])) == (a10_order, POLYGON)
    with pytest.raises(SignatureError, match="65 bytes"):
        encode_signature(a10_order, POLYGON, b"\x00" * 64)


def test_order_field_validation(a10_order: Order) -> None:
    with pytest.raises(ValueError, match="metadata must be exactly 32 bytes"):
        dataclasses.replace(a10_order, metadata=b"\x00")
    with pytest.raises(ValueError, match="salt -1 is not a uint256"):
        dataclasses.replace(a10_order, salt=-1)
