"""Who signs Polymarket orders and who pays, and how a gateway gets its credentials.

Paper: the well-known public test key (Hardhat account #0 — never fund it) derives its L2
API credentials from the venue like any wallet. Live: the EOA key stays in the vault
service, which is sent each order's (and the L1 auth message's) fields, checks them
(`vault_policy`) and signs; the L2 credentials are derived with a vault-signed L1 request,
and the L2 secret (which the user WebSocket demands in clear, and which cannot sign orders)
lives only in the gateway's memory. The vault stores L2 credentials (`polymarket-api`) but
signs nothing with them.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account

from arbiter.v1 import signing_pb2
from arbiter.vault.client import VaultCredential, vault_credential
from arbiter.vault.credentials import CredentialKindSpec, ParsedCredential, load_pem
from arbiter.vault.errors import InvalidCredential, InvalidKeyLength, PassphraseError, WrongKeyType
from arbiter.vault.policy import SigningPolicy
from arbiter.venues.plugin import CredentialContext
from arbiter.venues.polymarket.auth import ApiCreds
from arbiter.venues.polymarket.config import PolymarketSettings
from arbiter.venues.polymarket.onboarding import derive_polymarket_creds
from arbiter.venues.polymarket.order_builder import order_parties
from arbiter.venues.polymarket.signing import (
    ECDSA_SIGNATURE_LENGTH,
    POLYGON_CHAIN_ID,
    ExchangeDomain,
    LocalSigner,
    Order,
    SignatureType,
    Signer,
)
from arbiter.venues.polymarket.vault_policy import (
    check_clob_auth,
    check_order,
    describe_clob_auth,
    describe_order,
    encode_order,
)

PAPER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""Hardhat account #0: public, for paper trading against the emulators only."""


@dataclass(frozen=True)
class PolymarketCredentials:
    """Who signs and who pays: an EOA trades for itself (`EOA`); with a proxy, Safe or
    deposit wallet (`POLY_PROXY`, `POLY_GNOSIS_SAFE`, `POLY_1271`) the `funder` holds the
    money and positions, and is the order's maker."""

    signer: Signer
    api: ApiCreds
    chain_id: int = POLYGON_CHAIN_ID
    signature_type: SignatureType = SignatureType.EOA
    funder: str | None = None

    def __post_init__(self) -> None:
        order_parties(self.signer.address, self.signature_type, self.funder)  # fail at start

    @property
    def holder(self) -> str:
        """The address whose positions the venue reports."""
        return self.funder or self.signer.address


class VaultEoaSigner:
    """The order and ClobAuth signer over a `polymarket-eoa` key in the vault: it sends the
    fields, the vault checks them and computes the digest."""

    def __init__(self, credential: VaultCredential) -> None:
        self.credential = credential

    @property
    def address(self) -> str:
        """Checksummed address of the vault-held key."""
        return self.credential.public_info["address"]

    async def sign_order(self, order: Order, domain: ExchangeDomain,
                         expiration_s: int = 0) -> bytes:
        return self._checked(await self.credential.sign(
            polymarket_order=encode_order(order, domain, expiration_s)))

    async def sign_clob_auth(self, timestamp_s: int, nonce: int, chain_id: int) -> bytes:
        return self._checked(await self.credential.sign(
            polymarket_clob_auth=signing_pb2.PolymarketClobAuth(
                address=self.address, timestamp_s=timestamp_s, nonce=nonce, chain_id=chain_id)))

    def _checked(self, signature: bytes) -> bytes:
        if len(signature) != ECDSA_SIGNATURE_LENGTH:
            raise self.credential.error("sign", f"vault answered {len(signature)} signature "
                                        f"bytes, expected {ECDSA_SIGNATURE_LENGTH}")
        return signature


def signature_type(settings: PolymarketSettings) -> SignatureType:
    return SignatureType[settings.signature_type.upper().replace("-", "_")]


async def polymarket_credentials(
    context: CredentialContext[PolymarketSettings],
) -> PolymarketCredentials:
    """The paper key or the tenant's vault key, with L2 credentials derived from the venue."""
    settings = context.settings
    signer: Signer
    if context.mode == "paper":
        signer = LocalSigner(PAPER_KEY)
    else:
        if context.vault is None:
            raise ValueError("live Polymarket credentials need the vault service")
        signer = VaultEoaSigner(await vault_credential(
            context.vault.stub, context.vault.tenant, settings.credential, kind=POLYMARKET_EOA))
    api = await derive_polymarket_creds(context.transport, signer)
    return PolymarketCredentials(signer, api, signature_type=signature_type(settings),
                                 funder=settings.funder or None)


# -- the credential kinds the vault keeps for Polymarket ------------------------------------
POLYMARKET_EOA = "polymarket-eoa"
POLYMARKET_API = "polymarket-api"
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""A secp256k1 private key is an integer in [1, n-1]."""
_API_FIELDS = ("apiKey", "secret", "passphrase")


def _parse_eoa(raw: bytes, key_id: str | None, passphrase: bytes | None) -> ParsedCredential:
    """64 hex digits (0x optional) or a secp256k1 PEM -> the 32-byte scalar, its address."""
    text = raw.strip()
    if text.startswith(b"-----BEGIN"):
        key = load_pem(text, POLYMARKET_EOA, passphrase)
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


def _parse_api_creds(raw: bytes, key_id: str | None,
                     passphrase: bytes | None) -> ParsedCredential:
    """L2 API credentials as JSON -> compact JSON of the three fields, the API key."""
    if passphrase is not None:
        raise PassphraseError("polymarket-api credentials are JSON, not an encrypted PEM: "
                              "drop the passphrase")
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


def _sign_eip712(material: bytearray, digest: bytes) -> bytes:
    """65 bytes r||s||v (v = 27/28) over the digest a policy computed from checked fields."""
    return bytes(Account.unsafe_sign_hash(digest, bytes(material)).signature)


EOA_POLICIES = {
    "polymarket_order": SigningPolicy(check_order, describe_order, _sign_eip712),
    "polymarket_clob_auth": SigningPolicy(check_clob_auth, describe_clob_auth, _sign_eip712),
}
"""What a `polymarket-eoa` key signs, by `SignRequest` payload (see `vault_policy`)."""

CREDENTIAL_KINDS = (
    CredentialKindSpec(POLYMARKET_EOA, _parse_eoa,
                       lambda material, public_id: {"address": public_id},
                       ("address",), EOA_POLICIES),
    # The passphrase is sent in clear on every L2 request, so it is public; the secret is not.
    # Stored only: the gateway computes L2 HMACs itself (module docstring), so the vault
    # signs nothing with these.
    CredentialKindSpec(POLYMARKET_API, _parse_api_creds,
                       lambda material, public_id: {
                           "api_key": public_id, "passphrase": json.loads(material)["passphrase"]},
                       ("api_key", "passphrase"), {}),
)
"""The order-signing EOA key and the L2 API credentials."""
