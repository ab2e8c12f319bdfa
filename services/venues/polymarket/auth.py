"""Polymarket CLOB request authentication: L1 (EIP-712 ClobAuth) and L2 (HMAC-SHA256) headers.

L1 proves control of the EOA and is only used to create or derive API keys; L2 signs every
trading request with the API secret. Neither changed in CLOB V2. The L1 message is signed
by a :class:`ClobAuthSigner` (the order signer is one), which is handed the message's fields,
not its digest, so the vault can hold the key and check what it signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from eth_abi import encode as abi_encode
from eth_utils import keccak

CLOB_AUTH_DOMAIN_NAME = "ClobAuthDomain"
CLOB_AUTH_DOMAIN_VERSION = "1"
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
CLOB_AUTH_TYPE_STRING = "ClobAuth(address address,string timestamp,uint256 nonce,string message)"
CLOB_AUTH_DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId)"
CLOB_AUTH_TYPEHASH = keccak(text=CLOB_AUTH_TYPE_STRING)
CLOB_AUTH_DOMAIN_TYPEHASH = keccak(text=CLOB_AUTH_DOMAIN_TYPE_STRING)

POLY_ADDRESS = "POLY_ADDRESS"
POLY_SIGNATURE = "POLY_SIGNATURE"
POLY_TIMESTAMP = "POLY_TIMESTAMP"
POLY_NONCE = "POLY_NONCE"
POLY_API_KEY = "POLY_API_KEY"
POLY_PASSPHRASE = "POLY_PASSPHRASE"


class ClobAuthSigner(Protocol):
    """A key that signs ClobAuth for its own address (see ``signing.Signer``)."""

    @property
    def address(self) -> str: ...

    async def sign_clob_auth(self, timestamp_s: int, nonce: int, chain_id: int) -> bytes: ...


@dataclass(frozen=True)
class ApiCreds:
    """L2 credentials as returned by POST /auth/api-key or GET /auth/derive-api-key."""

    api_key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return f"ApiCreds(api_key={self.api_key!r}, secret=***, passphrase=***)"


def clob_auth_domain_separator(chain_id: int) -> bytes:
    """ClobAuthDomain separator: name, version and chainId only (no verifyingContract)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256"],
            [
                CLOB_AUTH_DOMAIN_TYPEHASH,
                keccak(text=CLOB_AUTH_DOMAIN_NAME),
                keccak(text=CLOB_AUTH_DOMAIN_VERSION),
                chain_id,
            ],
        )
    )


def clob_auth_digest(address: str, timestamp_s: int, nonce: int, chain_id: int) -> bytes:
    """EIP-712 digest of ``ClobAuth``; the timestamp is signed as a *string* of Unix seconds."""
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "address", "bytes32", "uint256", "bytes32"],
            [
                CLOB_AUTH_TYPEHASH,
                address,
                keccak(text=str(timestamp_s)),
                nonce,
                keccak(text=CLOB_AUTH_MESSAGE),
            ],
        )
    )
    return keccak(b"\x19\x01" + clob_auth_domain_separator(chain_id) + struct_hash)


async def l1_headers(
    signer: ClobAuthSigner, chain_id: int, timestamp_s: int, nonce: int = 0
) -> dict[str, str]:
    """Headers for the L1 key endpoints; each ``nonce`` derives a different API key."""
    signature = await signer.sign_clob_auth(timestamp_s, nonce, chain_id)
    return {
        POLY_ADDRESS: signer.address,
        POLY_SIGNATURE: "0x" + signature.hex(),
        POLY_TIMESTAMP: str(timestamp_s),
        POLY_NONCE: str(nonce),
    }


def hmac_signature(
    secret: str, timestamp_s: int | str, method: str, request_path: str, body: bytes | str = b""
) -> str:
    """URL-safe base64 HMAC-SHA256 of ``timestamp + METHOD + path + body``.

    ``request_path`` loses its query string (the venue signs the bare path); ``body`` must be
    the exact bytes sent on the wire.
    """
    path = request_path.split("?", 1)[0]
    payload = body.encode() if isinstance(body, str) else body
    message = f"{timestamp_s}{method}{path}".encode() + payload
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def l2_headers(
    address: str,
    creds: ApiCreds,
    timestamp_s: int,
    method: str,
    request_path: str,
    body: bytes | str = b"",
) -> dict[str, str]:
    """Headers for an authenticated CLOB request; ``address`` is the signer EOA, not the funder."""
    return {
        POLY_ADDRESS: address,
        POLY_SIGNATURE: hmac_signature(creds.secret, timestamp_s, method, request_path, body),
        POLY_TIMESTAMP: str(timestamp_s),
        POLY_API_KEY: creds.api_key,
        POLY_PASSPHRASE: creds.passphrase,
    }
