"""Paper-trading credentials for the emulated venues.

The embedded topology trades against emulators that verify real signatures, so it needs
real keys: a well-known public test key for Polymarket (Hardhat account #0 — never fund it)
and a fresh RSA key per run for Kalshi. Real tenants' keys live in the vault service.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.gateways.kalshi.auth import PrivateKeySigner
from arbiter.gateways.polymarket.auth import ApiCreds
from arbiter.gateways.polymarket.signing import LocalSigner

PAPER_POLYMARKET_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PAPER_API = ApiCreds(
    api_key="00000000-0000-4000-8000-000000000001",
    secret="cGFwZXItdHJhZGluZy1zZWNyZXQtbm90LWZvci1mdW5kcw==",
    passphrase="paper",
)
PAPER_KALSHI_KEY_ID = "00000000-0000-4000-8000-00000000000k"


@dataclass(frozen=True)
class PaperCredentials:
    polymarket_signer: LocalSigner
    polymarket_api: ApiCreds
    kalshi_key_id: str
    kalshi_key: rsa.RSAPrivateKey

    @property
    def kalshi_signer(self) -> PrivateKeySigner:
        return PrivateKeySigner(self.kalshi_key)

    @classmethod
    def create(cls) -> PaperCredentials:
        return cls(
            LocalSigner(PAPER_POLYMARKET_KEY),
            PAPER_API,
            PAPER_KALSHI_KEY_ID,
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )
