"""Credential kinds and the validation of their secret material at onboarding.

Material is normalised before it is sealed (a Polymarket key becomes its 32 raw bytes, a Kalshi
key PKCS#8 DER, API creds compact JSON), so signing never re-parses user input. Every check
happens before anything is stored: bad input changes nothing. Error messages describe the
input's shape, never its content.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from eth_account import Account

from arbiter.vault.errors import (
    InvalidCredential,
    InvalidKeyLength,
    MalformedPem,
    PassphraseError,
    WrongKeyType,
)

# Order of the secp256k1 group: a private key is an integer in [1, n-1]
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MIN_RSA_BITS = 2048
_API_FIELDS = ("apiKey", "secret", "passphrase")


class CredentialKind(StrEnum):
    POLYMARKET_EOA = "polymarket-eoa"
    POLYMARKET_API = "polymarket-api"
    KALSHI_RSA = "kalshi-rsa"


@dataclass(frozen=True)
class ParsedCredential:
    """Normalised secret material plus its public identifier (address, API key, key id)."""

    material: bytearray
    public_id: str


def parse_credential(
    kind: CredentialKind, raw: bytes, key_id: str | None = None,
    passphrase: bytes | None = None,
) -> ParsedCredential:
    """Validate and normalise onboarding input for `kind`; `passphrase` opens an encrypted
    PEM (the key is stored re-sealed by the vault, never with its passphrase)."""
    if passphrase is not None and kind is CredentialKind.POLYMARKET_API:
        raise PassphraseError("polymarket-api credentials are JSON, not an encrypted PEM: "
                              "drop the passphrase")
    if kind is CredentialKind.POLYMARKET_EOA:
        return _parse_eoa(raw, passphrase)
    if kind is CredentialKind.POLYMARKET_API:
        return _parse_api_creds(raw)
    return _parse_kalshi(raw, key_id, passphrase)


def _load_pem(raw: bytes, kind: CredentialKind, passphrase: bytes | None) -> object:
    encrypted = b"ENCRYPTED" in raw.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in raw
    if encrypted and passphrase is None:
        raise PassphraseError(f"{kind} PEM is encrypted: give its passphrase "
                              "(--passphrase-from FILE)")
    try:
        return serialization.load_pem_private_key(raw, password=passphrase)
    except TypeError:  # a passphrase for a plain key, or none for an encrypted one
        if passphrase is not None:
            raise PassphraseError(f"a passphrase was given but the {kind} PEM is not "
                                  "encrypted") from None
        raise PassphraseError(f"{kind} PEM is encrypted: give its passphrase "
                              "(--passphrase-from FILE)") from None
    except (ValueError, UnsupportedAlgorithm):
        if encrypted:
            raise PassphraseError(f"wrong passphrase for the encrypted {kind} PEM") from None
        raise MalformedPem(
            f"{kind} input is not a valid PEM private key (PKCS#1, SEC1 or PKCS#8)"
        ) from None


def _parse_eoa(raw: bytes, passphrase: bytes | None) -> ParsedCredential:
    text = raw.strip()
    if text.startswith(b"-----BEGIN"):
        key = _load_pem(text, CredentialKind.POLYMARKET_EOA, passphrase)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise WrongKeyType(
                f"polymarket-eoa needs an EC secp256k1 key, was {type(key).__name__}"
            )
        if not isinstance(key.curve, ec.SECP256K1):
            raise WrongKeyType(f"polymarket-eoa needs curve secp256k1, was {key.curve.name}")
        scalar = key.private_numbers().private_value
    else:
        if passphrase is not None:
            raise PassphraseError("a passphrase was given but the polymarket-eoa key is hex, "
                                  "not an encrypted PEM")
        digits = text[2:] if text[:2].lower() == b"0x" else text
        try:
            key_bytes = binascii.unhexlify(digits)
        except (binascii.Error, ValueError):
            raise InvalidCredential(
                "polymarket-eoa key must be 64 hex digits (optionally 0x-prefixed) or a PEM"
            ) from None
        if len(key_bytes) != 32:
            raise InvalidKeyLength(
                f"polymarket-eoa private key must be 32 bytes, was {len(key_bytes)} bytes"
            )
        scalar = int.from_bytes(key_bytes, "big")
    if not 0 < scalar < SECP256K1_ORDER:
        raise InvalidKeyLength("polymarket-eoa private key is outside the secp256k1 range [1, n-1]")
    material = bytearray(scalar.to_bytes(32, "big"))
    return ParsedCredential(material, Account.from_key(bytes(material)).address)


def _parse_api_creds(raw: bytes) -> ParsedCredential:
    try:
        creds = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCredential(
            'polymarket-api input must be JSON {"apiKey", "secret", "passphrase"}'
        ) from None
    if not isinstance(creds, dict):
        raise InvalidCredential("polymarket-api input must be a JSON object")
    for field in _API_FIELDS:
        if not isinstance(creds.get(field), str) or not creds[field]:
            raise InvalidCredential(f"polymarket-api field {field!r} is missing or empty")
    try:
        base64.urlsafe_b64decode(creds["secret"].encode())
    except (binascii.Error, ValueError):
        raise InvalidCredential("polymarket-api field 'secret' is not URL-safe base64") from None
    normalised = json.dumps({f: creds[f] for f in _API_FIELDS}, separators=(",", ":"))
    return ParsedCredential(bytearray(normalised.encode()), creds["apiKey"])


def _parse_kalshi(raw: bytes, key_id: str | None, passphrase: bytes | None) -> ParsedCredential:
    if not key_id or len(key_id) > 128 or not key_id.isprintable() or " " in key_id:
        raise InvalidCredential("kalshi-rsa needs its API key id (--key-id), printable, no spaces")
    key = _load_pem(raw.strip(), CredentialKind.KALSHI_RSA, passphrase)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise WrongKeyType(f"kalshi-rsa needs an RSA key, was {type(key).__name__}")
    if key.key_size < MIN_RSA_BITS:
        raise InvalidKeyLength(f"kalshi-rsa key is {key.key_size} bits, at least {MIN_RSA_BITS}")
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ParsedCredential(bytearray(der), key_id)


def public_info(kind: CredentialKind, material: bytearray, public_id: str) -> dict[str, str]:
    """The public side of a credential, for the gateway that signs through the vault.

    Derived from the opened material each time rather than stored, so credentials sealed before
    this existed answer too. The Polymarket passphrase is sent in clear on every L2 request, so
    it is handed out; the HMAC secret and the private keys never are."""
    if kind is CredentialKind.POLYMARKET_EOA:
        return {"address": public_id}
    if kind is CredentialKind.POLYMARKET_API:
        return {"api_key": public_id, "passphrase": json.loads(material)["passphrase"]}
    key = serialization.load_der_private_key(bytes(material), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"key_id": public_id, "public_key_pem": pem.decode()}
