"""Which key signs Kalshi requests, and how a gateway gets it.

Paper: one throwaway RSA key per process, registered with the emulator (`POST /api_keys`,
open registration); the emulator derives the key id from the public key, so registering it
again returns the same id. Live: the key stays in the vault service, which signs each
request line it is sent after checking it (`vault_policy`); the gateway holds only the key's
id and a signer that asks the vault.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from arbiter.gateways.onboarding import OnboardingError
from arbiter.vault.client import VaultRequestSigner, vault_credential
from arbiter.vault.credentials import CredentialKindSpec, ParsedCredential, load_pem
from arbiter.vault.errors import InvalidCredential, InvalidKeyLength, WrongKeyType
from arbiter.vault.policy import SigningPolicy
from arbiter.venues.kalshi.auth import PrivateKeySigner, RequestSigner
from arbiter.venues.kalshi.config import KalshiSettings
from arbiter.venues.kalshi.onboarding import register_kalshi_key
from arbiter.venues.kalshi.vault_policy import check_request, describe_request
from arbiter.venues.plugin import CredentialContext


@dataclass(frozen=True)
class KalshiCredentials:
    key_id: str  # KALSHI-ACCESS-KEY
    signer: RequestSigner


@functools.cache
def paper_key() -> rsa.RSAPrivateKey:
    """This process's throwaway paper key (made once: RSA key generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def kalshi_credentials(context: CredentialContext[KalshiSettings]) -> KalshiCredentials:
    if context.mode == "paper":
        key = paper_key()
        try:
            key_id = await register_kalshi_key(context.transport, key)
        except OnboardingError as exc:
            raise OnboardingError(f"{exc} (paper mode needs an emulator with open "
                                  "registration: `arbiter emulator --open-registration`)") from exc
        return KalshiCredentials(key_id, PrivateKeySigner(key))
    if context.vault is None:
        raise ValueError("live Kalshi credentials need the vault service")
    signer = VaultRequestSigner(await vault_credential(
        context.vault.stub, context.vault.tenant, context.settings.vault_credential,
        kind=KALSHI_RSA))
    return KalshiCredentials(signer.public_info["key_id"], signer)


# -- the credential kind the vault keeps for Kalshi -----------------------------------------
KALSHI_RSA = "kalshi-rsa"
MIN_RSA_BITS = 2048
KALSHI_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _parse_kalshi(raw: bytes, key_id: str | None, passphrase: bytes | None) -> ParsedCredential:
    """An RSA PEM (>= 2048 bits) and its API key id -> PKCS#8 DER, the key id."""
    if not key_id or len(key_id) > 128 or not key_id.isprintable() or " " in key_id:
        raise InvalidCredential("kalshi-rsa needs its API key id (--key-id), printable, no spaces")
    key = load_pem(raw.strip(), KALSHI_RSA, passphrase)
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


def _private_key(material: bytearray) -> rsa.RSAPrivateKey:
    # Validated at onboarding and GCM-authenticated since, so skip the ~40 ms RSA key check
    key = serialization.load_der_private_key(bytes(material), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, rsa.RSAPrivateKey)  # guaranteed by onboarding validation
    return key


def _public_info(material: bytearray, public_id: str) -> dict[str, str]:
    pem = _private_key(material).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"key_id": public_id, "public_key_pem": pem.decode()}


def _sign_rsa_pss(material: bytearray, message: bytes) -> bytes:
    """Raw RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) over the text `check_request` approved:
    timestamp + METHOD + path."""
    return _private_key(material).sign(message, KALSHI_PSS, hashes.SHA256())


CREDENTIAL_KINDS = (
    CredentialKindSpec(KALSHI_RSA, _parse_kalshi, _public_info, ("key_id", "public_key_pem"),
                       {"venue_request": SigningPolicy(check_request, describe_request,
                                                       _sign_rsa_pss)}),
)
"""The RSA key that signs Kalshi requests."""
