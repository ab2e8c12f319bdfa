"""Who signs Polymarket orders and who pays, and how a gateway gets its credentials.

Paper: the well-known public test key (Hardhat account #0 — never fund it) derives its L2
API credentials from the venue like any wallet. Live: the EOA key stays in the vault
service, which signs each digest; the L2 credentials are derived with a vault-signed L1
request, and the L2 secret (which the user WebSocket demands in clear, and which cannot sign
orders) lives only in the gateway's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from arbiter.vault.client import vault_digest_signer
from arbiter.venues.plugin import CredentialContext
from arbiter.venues.polymarket.auth import ApiCreds
from arbiter.venues.polymarket.config import PolymarketSettings
from arbiter.venues.polymarket.onboarding import derive_polymarket_creds
from arbiter.venues.polymarket.order_builder import order_parties
from arbiter.venues.polymarket.signing import POLYGON_CHAIN_ID, LocalSigner, SignatureType, Signer

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
        signer = await vault_digest_signer(context.vault.stub, context.vault.tenant,
                                           settings.credential)
    api = await derive_polymarket_creds(context.transport, signer)
    return PolymarketCredentials(signer, api, signature_type=signature_type(settings),
                                 funder=settings.funder or None)
