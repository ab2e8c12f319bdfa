"""Shared keys and orders for the gateway tests (published test keys only)."""

import pytest

from arbiter.venues.polymarket.amounts import Side
from arbiter.venues.polymarket.signing import LocalSigner, Order, SignatureType

A10_KEY = "0x" + "11" * 32
A10_ADDRESS = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
A10_ORDER_HASH = "0xa024e2f4d5081b00c93dd401e8fe3e4c6caee14f28ea45d861b813817b0b872a"
A10_SIGNATURE = (
    "0x9f1ec5d5999c9bfc0c325aa3f44f7cb0ae0d06f3dfa5296f34a9b7e85483172d3a435dcefc96eca484288c7b9d0f"
    "4de0c1dddeadcee276fca1c5da62fddd38201b"
)
ZERO32 = "0x" + "00" * 32
A10_BODY = (  # v2-migration-facts.md A10, POST /order with owner "api-key"
    f'{{"order":{{"salt":12345,"maker":"{A10_ADDRESS}","signer":"{A10_ADDRESS}",'
    '"tokenId":"1234567890","makerAmount":"5300000","takerAmount":"10000000","side":"BUY",'
    f'"expiration":"0","signatureType":0,"timestamp":"1700000000000","metadata":"{ZERO32}",'
    f'"builder":"{ZERO32}","signature":"{A10_SIGNATURE}"}},"owner":"api-key","orderType":"GTC",'
    '"deferExec":false,"postOnly":false}'
)
HARDHAT_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.fixture
def a10_signer() -> LocalSigner:
    return LocalSigner(A10_KEY)


@pytest.fixture
def a10_order() -> Order:
    """v2-migration-facts.md A10: BUY 10 @ 0.53, tick 0.01, salt 12345, token 1234567890."""
    return Order(
        salt=12345,
        maker=A10_ADDRESS,
        signer=A10_ADDRESS,
        token_id=1234567890,
        maker_amount=5300000,
        taker_amount=10000000,
        side=Side.BUY,
        signature_type=SignatureType.EOA,
        timestamp_ms=1700000000000,
    )
