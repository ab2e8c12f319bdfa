"""Which key signs NonceX requests, and how a gateway gets it.

Paper: the venue issues a key id and its HMAC secret (`POST /v1/keys`, open registration).
Live: the secret stays in the vault as a `noncex-hmac` credential (the kind this package
declares, with its signing policy: only its own API's paths, timestamped now), which signs
each request line it is sent; the gateway holds only the key id.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Protocol

import orjson

from arbiter.gateways.onboarding import OnboardingError
from arbiter.v1 import signing_pb2
from arbiter.vault.client import VaultRequestSigner, vault_credential
from arbiter.vault.credentials import CredentialKindSpec, ParsedCredential
from arbiter.vault.errors import InvalidCredential, InvalidKeyLength
from arbiter.vault.policy import (
    Approved,
    CredentialPublic,
    PolicyViolation,
    SigningPolicy,
    TenantPolicy,
)
from arbiter.venues.plugin import CredentialContext

from .codec import API, NX_KEY, NX_SIGN, NX_TS, hmac_sign, signing_string
from .config import NoncexSettings

KIND = "noncex-hmac"
MIN_SECRET_BYTES = 32
SKEW_MS = 30_000


class RequestSigner(Protocol):
    async def sign_request(self, timestamp_ms: int, method: str, path: str,
                           body: bytes = b"") -> bytes:
        """Raw HMAC-SHA256 over the request's `signing_string`."""
        ...


@dataclass(frozen=True)
class SecretSigner:
    """A paper key's secret, held in the gateway process."""

    secret: bytes

    async def sign_request(self, timestamp_ms: int, method: str, path: str,
                           body: bytes = b"") -> bytes:
        return hmac_sign(self.secret, signing_string(timestamp_ms, method, path, body))


@dataclass(frozen=True)
class NoncexCredentials:
    key_id: str  # NX-KEY; also the nonce stream's key
    signer: RequestSigner


async def auth_headers(credentials: NoncexCredentials, ts_ms: int, method: str, path: str,
                       body: bytes = b"") -> dict[str, str]:
    """The three NX headers of one request, signed now."""
    signature = await credentials.signer.sign_request(ts_ms, method.upper(), path, body)
    return {NX_KEY: credentials.key_id, NX_TS: str(ts_ms),
            NX_SIGN: base64.b64encode(signature).decode()}


def _parse(raw: bytes, key_id: str | None, passphrase: bytes | None) -> ParsedCredential:
    """The base64 secret the venue issued, with its key id (`--key-id`)."""
    if passphrase is not None:
        raise InvalidCredential(f"{KIND} is a base64 secret, not an encrypted PEM: "
                                "drop the passphrase")
    if not key_id or not key_id.isprintable() or " " in key_id or len(key_id) > 64:
        raise InvalidCredential(f"{KIND} needs its key id (--key-id), printable, no spaces")
    try:
        secret = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidCredential(f"{KIND} secret must be base64") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise InvalidKeyLength(f"{KIND} secret is {len(secret)} bytes, at least "
                               f"{MIN_SECRET_BYTES}")
    return ParsedCredential(bytearray(secret), key_id)


def _check(message: signing_pb2.VenueRequest, credential: CredentialPublic,
           tenant: TenantPolicy, now_ms: int) -> Approved:
    """Only this venue's API, timestamped now: what a third-party venue's policy looks like."""
    if not message.path.startswith(API + "/"):
        raise PolicyViolation("path", f"path {message.path!r} is outside {API}/")
    if abs(message.timestamp_ms - now_ms) > SKEW_MS:
        raise PolicyViolation("timestamp", f"timestamp {message.timestamp_ms} is not now")
    return Approved(signing_string(message.timestamp_ms, message.method, message.path,
                                   message.body), _describe(message))


def _describe(message: signing_pb2.VenueRequest) -> dict[str, str]:
    return {"venue": "noncex", "method": message.method, "path": message.path}


def _sign(material: bytearray, message: bytes) -> bytes:
    return hmac_sign(bytes(material), message)


CREDENTIAL_KIND = CredentialKindSpec(
    name=KIND, parse=_parse, public_info=lambda material, public_id: {"key_id": public_id},
    public_fields=("key_id",),
    signs={"venue_request": SigningPolicy(_check, _describe, _sign)})
"""NonceX's one credential kind: an HMAC secret that signs its own API's requests."""


async def noncex_credentials(context: CredentialContext[NoncexSettings]) -> NoncexCredentials:
    if context.mode == "paper":
        status, raw = await context.transport.request("POST", f"{API}/keys", body=b"{}")
        try:
            reply = orjson.loads(raw)
            if status != 201:
                raise ValueError(f"HTTP {status}: {reply}")
            return NoncexCredentials(str(reply["key_id"]),
                                     SecretSigner(base64.b64decode(reply["secret"])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise OnboardingError(f"noncex key registration failed: {exc} (paper mode needs "
                                  "an emulator with open registration)") from None
    if context.vault is None:
        raise ValueError("live NonceX credentials need the vault service")
    signer = VaultRequestSigner(await vault_credential(
        context.vault.stub, context.vault.tenant, context.settings.credential, kind=KIND))
    return NoncexCredentials(signer.public_info["key_id"], signer)
