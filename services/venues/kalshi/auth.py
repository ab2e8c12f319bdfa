"""Kalshi API request signing: ``timestamp_ms + METHOD + path`` under RSA-PSS or Ed25519.

The path is the full URL path including ``/trade-api/v2`` and excluding the query string; the
body is never signed. RSA keys sign with PSS (SHA-256, MGF1-SHA-256, 32-byte salt); Ed25519
keys (accepted since SDK 3.x) sign the same text. Signatures are standard base64. Signing goes
through :class:`RequestSigner`, which is handed the request line rather than the text, so the
private key can live in the vault and the vault can check what it signs
(``arbiter.venues.kalshi.vault_policy``).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

API_PATH_PREFIX = "/trade-api/"
WS_PATH = "/trade-api/ws/v2"
PSS_SALT_LENGTH = 32
"""Salt length = SHA-256 digest length (the SDK's ``PSS.DIGEST_LENGTH``)."""

KALSHI_ACCESS_KEY = "KALSHI-ACCESS-KEY"
KALSHI_ACCESS_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"
KALSHI_ACCESS_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"


class KalshiAuthError(ValueError):
    """A key or request that cannot be signed as Kalshi expects."""


class RequestSigner(Protocol):
    """Signs Kalshi requests with a key held somewhere (in production the vault, over gRPC:
    :class:`arbiter.vault.client.VaultRequestSigner`)."""

    async def sign_request(self, timestamp_ms: int, method: str, path: str) -> bytes:
        """Raw signature bytes (RSA-PSS or Ed25519) over :func:`signing_string` of the
        request; ``path`` is the signed path (:func:`signing_path`)."""
        ...


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LENGTH)


class PrivateKeySigner:
    """An in-process RSA or Ed25519 key; for tests, the CLI and dry runs."""

    def __init__(self, key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> None:
        if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
            raise KalshiAuthError(f"unsupported key type {type(key).__name__}: use RSA or Ed25519")
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes) -> PrivateKeySigner:
        """Load an unencrypted PEM private key (PKCS#1 or PKCS#8)."""
        return cls(serialization.load_pem_private_key(pem, password=None))  # type: ignore[arg-type]

    @classmethod
    def from_key_file(cls, path: Path) -> PrivateKeySigner:
        return cls.from_pem(path.read_bytes())

    async def sign_request(self, timestamp_ms: int, method: str, path: str) -> bytes:
        message = signing_string(timestamp_ms, method, path).encode()
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(message, _pss(), hashes.SHA256())
        return self._key.sign(message)


def signing_path(path_or_url: str) -> str:
    """The signed path: host and query removed; it must start at ``/trade-api/``."""
    path = urlsplit(path_or_url).path
    if not path.startswith(API_PATH_PREFIX):
        raise KalshiAuthError(
            f"path {path_or_url!r} must be the full API path starting with {API_PATH_PREFIX!r} "
            "(e.g. /trade-api/v2/portfolio/balance)"
        )
    return path


def signing_string(timestamp_ms: int, method: str, path_or_url: str) -> str:
    """The exact text that is signed: ``1700000000000POST/trade-api/v2/portfolio/orders``."""
    return f"{timestamp_ms}{method.upper()}{signing_path(path_or_url)}"


async def auth_headers(
    key_id: str, signer: RequestSigner, timestamp_ms: int, method: str, path_or_url: str
) -> dict[str, str]:
    """The three KALSHI-ACCESS-* headers for one request."""
    signature = await signer.sign_request(timestamp_ms, method.upper(),
                                          signing_path(path_or_url))
    return {
        KALSHI_ACCESS_KEY: key_id,
        KALSHI_ACCESS_SIGNATURE: base64.b64encode(signature).decode(),
        KALSHI_ACCESS_TIMESTAMP: str(timestamp_ms),
    }


async def ws_auth_headers(
    key_id: str, signer: RequestSigner, timestamp_ms: int, path: str = WS_PATH
) -> dict[str, str]:
    """Headers for the WebSocket upgrade, which signs ``GET`` + the WS path."""
    return await auth_headers(key_id, signer, timestamp_ms, "GET", path)


def verify_signature(
    public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey, message: bytes, signature_b64: str
) -> bool:
    """Check a KALSHI-ACCESS-SIGNATURE as the exchange does (used by the emulator and tests)."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, _pss(), hashes.SHA256())
        else:
            public_key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
