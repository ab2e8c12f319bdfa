"""Signing on behalf of gateways: the key is opened only inside this process, only for one call.

Three venue schemes, one per credential kind:
- Polymarket EIP-712 (orders, ClobAuth): secp256k1 over a 32-byte digest, 65 bytes r||s||v, v=27/28.
- Kalshi request auth: RSA-PSS, SHA-256, MGF1(SHA-256), salt length 32; raw signature bytes
  (the gateway base64-encodes them into KALSHI-ACCESS-SIGNATURE).
- Polymarket L2 request auth: HMAC-SHA256 keyed by urlsafe_b64decode(secret); the result is the
  POLY_SIGNATURE value, URL-safe base64 with padding, as ASCII bytes.

About wiping: the vault decrypts into a `bytearray` and zeroes it when the call ends, which
shortens how long the key sits in memory we control. CPython limits what that buys:
the signing libraries take immutable `bytes`, so each call makes a short-lived copy that is
freed but not zeroed (eth-keys also keeps the scalar as a Python int; OpenSSL clears its own RSA
key on free), the allocator may leave old copies in freed pages, and nothing stops a swap-out or
a core dump. Real protection is process isolation: keys never leave the vault process.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from eth_account import Account

from arbiter.vault.credentials import CredentialKind
from arbiter.vault.errors import PayloadMismatch
from arbiter.vault.vault import CredentialVault

KALSHI_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


@dataclass(frozen=True)
class Eip712Digest:
    digest: bytes


@dataclass(frozen=True)
class RsaPssMessage:
    message: bytes


@dataclass(frozen=True)
class HmacMessage:
    message: bytes


SignPayload = Eip712Digest | RsaPssMessage | HmacMessage


@dataclass(frozen=True)
class Signature:
    signature: bytes
    key_version: int


def _sign_eip712(material: bytearray, payload: Eip712Digest) -> bytes:
    return bytes(Account.unsafe_sign_hash(payload.digest, bytes(material)).signature)


def _sign_rsa_pss(material: bytearray, payload: RsaPssMessage) -> bytes:
    # Validated at onboarding and GCM-authenticated since, so skip the ~40 ms RSA key check
    key = serialization.load_der_private_key(bytes(material), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, rsa.RSAPrivateKey)  # guaranteed by onboarding validation
    return key.sign(payload.message, KALSHI_PSS, hashes.SHA256())


def _sign_hmac(material: bytearray, payload: HmacMessage) -> bytes:
    secret = base64.urlsafe_b64decode(json.loads(material)["secret"])
    return base64.urlsafe_b64encode(hmac.new(secret, payload.message, hashlib.sha256).digest())


_SCHEMES = {
    Eip712Digest: (CredentialKind.POLYMARKET_EOA, "sign:eip712", _sign_eip712),
    RsaPssMessage: (CredentialKind.KALSHI_RSA, "sign:rsa-pss", _sign_rsa_pss),
    HmacMessage: (CredentialKind.POLYMARKET_API, "sign:hmac", _sign_hmac),
}


class Signer:
    """Sign payloads with tenant credentials held by a `CredentialVault`."""

    def __init__(self, vault: CredentialVault) -> None:
        self._vault = vault

    def sign(self, actor: str, tenant_id: str, credential_id: str,
             payload: SignPayload) -> Signature:
        kind, action, scheme = _SCHEMES[type(payload)]
        if isinstance(payload, Eip712Digest) and len(payload.digest) != 32:
            raise PayloadMismatch(
                f"eip712_digest must be 32 bytes, was {len(payload.digest)} bytes"
            )
        with self._vault.unsealed(actor, action, tenant_id, credential_id, kind) as (meta, key):
            return Signature(scheme(key, payload), meta.key_version)  # type: ignore[arg-type]
