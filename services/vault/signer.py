"""Signing on behalf of gateways: the key is opened only inside this process, only for one call.

A payload names its signing action; the credential's kind (declared by its venue plugin, see
`arbiter.vault.credentials`) says whether it performs that action and how:
- `sign:eip712` (Eip712Digest): a 32-byte digest, checked here, e.g. Polymarket orders.
- `sign:rsa-pss` (RsaPssMessage): request pre-sign bytes, e.g. Kalshi request auth.
- `sign:hmac` (HmacMessage): request pre-sign bytes, e.g. Polymarket L2 or NonceX auth.

About wiping: the vault decrypts into a `bytearray` and zeroes it when the call ends, which
shortens how long the key sits in memory we control. CPython limits what that buys:
the signing libraries take immutable `bytes`, so each call makes a short-lived copy that is
freed but not zeroed (eth-keys also keeps the scalar as a Python int; OpenSSL clears its own RSA
key on free), the allocator may leave old copies in freed pages, and nothing stops a swap-out or
a core dump. Real protection is process isolation: keys never leave the vault process.
"""

from dataclasses import dataclass

from arbiter.vault.credentials import credential_kind
from arbiter.vault.errors import PayloadMismatch
from arbiter.vault.vault import CredentialVault


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


def _action(payload: SignPayload) -> tuple[str, bytes]:
    """The signing action a payload asks for, and the bytes to sign."""
    if isinstance(payload, Eip712Digest):
        if len(payload.digest) != 32:
            raise PayloadMismatch(
                f"eip712_digest must be 32 bytes, was {len(payload.digest)} bytes"
            )
        return "sign:eip712", payload.digest
    if isinstance(payload, RsaPssMessage):
        return "sign:rsa-pss", payload.message
    return "sign:hmac", payload.message


class Signer:
    """Sign payloads with tenant credentials held by a `CredentialVault`."""

    def __init__(self, vault: CredentialVault) -> None:
        self._vault = vault

    def sign(self, actor: str, tenant_id: str, credential_id: str,
             payload: SignPayload) -> Signature:
        action, message = _action(payload)
        with self._vault.unsealed(actor, action, tenant_id, credential_id,
                                  signing=True) as (meta, key):
            return Signature(credential_kind(meta.kind).signs[action](key, message),
                             meta.key_version)
