"""Polymarket orders from proxy, Safe and deposit wallets: the EOA (or the wallet) signs,
the funder is the maker and holds the positions."""

from __future__ import annotations

import orjson
import pytest

from arbiter.platform.config import ConfigError, load_config
from arbiter.venues.polymarket.credentials import PolymarketCredentials
from arbiter.venues.polymarket.order_builder import OrderBuildError
from arbiter.venues.polymarket.signing import SignatureType

from .venues import IOC, ONE, open_venue

FUNDER = "0x00000000000000000000000000000000000F00D5"


@pytest.mark.parametrize("signature_type", [
    SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE, SignatureType.POLY_1271])
async def test_a_wallet_order_is_made_by_the_funder_and_accepted(
    signature_type: SignatureType,
) -> None:
    """From the config section to the signed order: what the composition root builds."""
    setup = await open_venue("polymarket", {
        "signature_type": signature_type.name.lower().replace("_", "-"), "funder": FUNDER})
    eoa = setup.gateway.credentials
    assert (eoa.signature_type, eoa.funder) == (signature_type, FUNDER)
    best_ask = setup.book()[1][0][0]

    ack = await setup.gateway.place(setup.request(best_ask, ONE, IOC))

    assert ack.accepted, ack.reject_reason
    sent = orjson.loads(setup.link.log[-1][3])["order"]
    assert (sent["maker"], sent["signatureType"]) == (FUNDER, int(signature_type))
    expected_signer = FUNDER if signature_type is SignatureType.POLY_1271 else eoa.signer.address
    assert sent["signer"] == expected_signer
    await setup.gateway.positions()
    assert setup.link.log[-1][1] == "/data-api/positions"  # on the Data API host
    assert setup.link.log[-1][2]["user"] == FUNDER  # the funder holds the positions


def test_a_wallet_without_its_funder_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="set venues.polymarket.funder"):
        load_config(environ={"ARBITER__VENUES__POLYMARKET__SIGNATURE_TYPE": "poly-gnosis-safe"})


async def test_credentials_check_their_parties_at_construction() -> None:
    setup = await open_venue("polymarket")
    eoa = setup.gateway.credentials
    with pytest.raises(OrderBuildError, match="funder is required"):
        PolymarketCredentials(eoa.signer, eoa.api, signature_type=SignatureType.POLY_PROXY)
