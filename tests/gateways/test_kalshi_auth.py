"""Kalshi request signing: pre-sign strings from the facts, RSA-PSS and Ed25519 verification."""

import asyncio
import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from arbiter.venues.kalshi.auth import (
    KalshiAuthError,
    PrivateKeySigner,
    auth_headers,
    signing_string,
    verify_signature,
    ws_auth_headers,
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def test_presign_strings_from_facts() -> None:
    assert signing_string(1700000000000, "POST", "/trade-api/v2/portfolio/orders") == (
        "1700000000000POST/trade-api/v2/portfolio/orders"
    )
    assert signing_string(1700000000000, "post", "/trade-api/v2/portfolio/events/orders") == (
        "1700000000000POST/trade-api/v2/portfolio/events/orders"
    )
    assert (
        signing_string(
            1703123456789,
            "GET",
            "https://external-api.kalshi.com/trade-api/v2/portfolio/balance?x=1",
        )
        == "1703123456789GET/trade-api/v2/portfolio/balance"
    )


def test_path_without_api_prefix_is_rejected() -> None:
    with pytest.raises(KalshiAuthError, match="'/portfolio/balance' must be the full API path"):
        signing_string(1, "GET", "/portfolio/balance")


@pytest.mark.parametrize("key", [RSA_KEY, ED_KEY], ids=["rsa", "ed25519"])
def test_headers_verify_with_public_key(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> None:
    signer = PrivateKeySigner(key)
    headers = asyncio.run(auth_headers(
        "key-id", signer, 1700000000000, "POST", "/trade-api/v2/portfolio/events/orders"
    ))
    assert headers["KALSHI-ACCESS-KEY"] == "key-id"
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1700000000000"
    message = b"1700000000000POST/trade-api/v2/portfolio/events/orders"
    signature = headers["KALSHI-ACCESS-SIGNATURE"]
    assert verify_signature(key.public_key(), message, signature)
    assert not verify_signature(key.public_key(), message + b"x", signature)
    assert not verify_signature(key.public_key(), message, "not base64!")


def test_rsa_uses_pss_sha256_salt_32_standard_base64() -> None:
    signer = PrivateKeySigner(RSA_KEY)
    headers = asyncio.run(auth_headers("k", signer, 5, "GET", "/trade-api/v2/markets"))
    signature = base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"], validate=True)
    pss32 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    RSA_KEY.public_key().verify(signature, b"5GET/trade-api/v2/markets", pss32, hashes.SHA256())
    wrong_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20)
    with pytest.raises(InvalidSignature):
        RSA_KEY.public_key().verify(
            signature, b"5GET/trade-api/v2/markets", wrong_salt, hashes.SHA256()
        )


def test_ws_handshake_signs_get_ws_path() -> None:
    headers = asyncio.run(ws_auth_headers("k", PrivateKeySigner(ED_KEY), 42))
    assert verify_signature(
        ED_KEY.public_key(), b"42GET/trade-api/ws/v2", headers["KALSHI-ACCESS-SIGNATURE"]
    )


def test_key_loading(tmp_path) -> None:
    pem = RSA_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path = tmp_path / "kalshi.pem"
    path.write_bytes(pem)
    signer = PrivateKeySigner.from_key_file(path)
    headers = asyncio.run(auth_headers("k", signer, 1, "GET", "/trade-api/v2/x"))
    assert verify_signature(
        RSA_KEY.public_key(), b"1GET/trade-api/v2/x", headers["KALSHI-ACCESS-SIGNATURE"]
    )
    with pytest.raises(KalshiAuthError, match="unsupported key type"):
        PrivateKeySigner(ec.generate_private_key(ec.SECP256R1()))  # type: ignore[arg-type]
