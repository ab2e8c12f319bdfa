"""Polymarket L1 (ClobAuth EIP-712) and L2 (HMAC) headers against the SDK test vectors."""

import asyncio

from arbiter.venues.polymarket.auth import (
    CLOB_AUTH_TYPEHASH,
    ApiCreds,
    clob_auth_digest,
    clob_auth_domain_separator,
    hmac_signature,
    l1_headers,
    l2_headers,
)
from arbiter.venues.polymarket.signing import LocalSigner, recover_digest_signer

from .conftest import HARDHAT_KEY_0

A4_SECRET = "A" * 43 + "="
A4_RESULT = "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="


def test_clob_auth_constants() -> None:
    assert "0x" + CLOB_AUTH_TYPEHASH.hex() == (
        "0x52578c5c725a28a84fedc8c22aa47947822942f35b4dc350db028e45320e035c"
    )
    assert "0x" + clob_auth_domain_separator(137).hex() == (
        "0xcfc66be2a3b30464cb3b588324101f660c9a205fa76e8e5f83ee16a528e1c4cb"
    )


def test_l1_headers_a3_vector() -> None:
    signer = LocalSigner(HARDHAT_KEY_0)
    headers = asyncio.run(l1_headers(signer, chain_id=80002, timestamp_s=10000000, nonce=23))
    assert headers == {
        "POLY_ADDRESS": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "POLY_SIGNATURE": (
            "0xf62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1682518e0af677d52"
            "60366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b"
        ),
        "POLY_TIMESTAMP": "10000000",
        "POLY_NONCE": "23",
    }
    digest = clob_auth_digest(signer.address, 10000000, 23, 80002)
    signature = bytes.fromhex(headers["POLY_SIGNATURE"][2:])
    assert recover_digest_signer(digest, signature) == signer.address
    assert clob_auth_digest(signer.address, 10000000, 24, 80002) != digest


def test_hmac_a4_vector() -> None:
    assert (
        hmac_signature(A4_SECRET, "1000000", "test-sign", "/orders", '{"hash": "0x123"}')
        == A4_RESULT
    )
    assert (
        hmac_signature(A4_SECRET, 1000000, "test-sign", "/orders", b'{"hash": "0x123"}')
        == A4_RESULT
    )
    # The query string is not signed; the body is, byte for byte.
    assert hmac_signature(A4_SECRET, 1, "GET", "/data/orders?next_cursor=MA==") == hmac_signature(
        A4_SECRET, 1, "GET", "/data/orders"
    )
    assert (
        hmac_signature(A4_SECRET, 1000000, "test-sign", "/orders", '{"hash":"0x123"}') != A4_RESULT
    )
    # A secret stored without its padding still decodes to the same key.
    assert (
        hmac_signature("A" * 43, "1000000", "test-sign", "/orders", '{"hash": "0x123"}')
        == A4_RESULT
    )


def test_l2_headers() -> None:
    creds = ApiCreds(api_key="key-uuid", secret=A4_SECRET, passphrase="pass")
    headers = l2_headers("0xabc", creds, 1000000, "test-sign", "/orders", '{"hash": "0x123"}')
    assert headers == {
        "POLY_ADDRESS": "0xabc",
        "POLY_SIGNATURE": A4_RESULT,
        "POLY_TIMESTAMP": "1000000",
        "POLY_API_KEY": "key-uuid",
        "POLY_PASSPHRASE": "pass",
    }
    assert A4_SECRET not in repr(creds) and "pass'" not in repr(creds)
