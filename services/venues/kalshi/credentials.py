"""Which key signs Kalshi requests, and how a gateway gets it.

Paper: one throwaway RSA key per process, registered with the emulator (`POST /api_keys`,
open registration); the emulator derives the key id from the public key, so registering it
again returns the same id. Live: the key stays in the vault service, which signs each
request; the gateway holds only its id and a signer that asks the vault.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.gateways.onboarding import OnboardingError
from arbiter.vault.client import vault_request_signer
from arbiter.venues.kalshi.auth import PrivateKeySigner, RequestSigner
from arbiter.venues.kalshi.config import KalshiSettings
from arbiter.venues.kalshi.onboarding import register_kalshi_key
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
    signer = await vault_request_signer(context.vault.stub, context.vault.tenant,
                                        context.settings.vault_credential)
    return KalshiCredentials(signer.key_id, signer)
