"""Polymarket positions come from the Data API host, read as it publishes them: a JSON array
of rows whose `size` is a JSON number, paged by `limit`/`offset`, with holdings under
`sizeThreshold` (1 share by default) left out unless asked for."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from arbiter.core.instruments import Outcome
from arbiter.gateways.base import VenueMessageError
from arbiter.gateways.http_transport import HttpVenueTransport
from arbiter.venues.polymarket.config import PolymarketSettings
from arbiter.venues.polymarket.schemas import PositionRow

from .venues import open_venue

# the Data API's documented row, every field present (the engine reads two)
ROW = {"proxyWallet": "0x56687bf447db6ffa42ffe2204a05edaa20f55839", "asset": "123456789",
       "conditionId": "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917",
       "size": 12.5, "avgPrice": 0.41, "initialValue": 5.125, "currentValue": 6.0,
       "cashPnl": 0.875, "percentPnl": 17.07, "totalBought": 12.5, "realizedPnl": 0,
       "percentRealizedPnl": 0, "curPrice": 0.48, "redeemable": False, "mergeable": False,
       "title": "Will it?", "slug": "will-it", "icon": "", "eventSlug": "will-it",
       "outcome": "Yes", "outcomeIndex": 0, "oppositeOutcome": "No",
       "oppositeAsset": "987654321", "endDate": "2026-12-31", "negativeRisk": False}


def test_a_documented_row_reads_as_micro_shares() -> None:
    assert PositionRow.model_validate(ROW).size == 12_500_000
    assert PositionRow.model_validate({**ROW, "size": 7.142856}).size == 7_142_856


@pytest.mark.parametrize("size", [-1, "x", True, None, 1e400, 0.0000001])
def test_an_unreadable_size_is_rejected(size: object) -> None:
    with pytest.raises(ValidationError, match="size"):
        PositionRow.model_validate({**ROW, "size": size})


def test_the_data_api_origin_follows_the_clob_unless_set() -> None:
    assert PolymarketSettings().data_api == "https://data-api.polymarket.com"
    emulated = PolymarketSettings(url="http://127.0.0.1:8081", ws_url="ws://127.0.0.1:8081")
    assert emulated.data_api == "http://127.0.0.1:8081/data-api"
    assert PolymarketSettings(data_api_url="https://data.example").data_api == \
        "https://data.example"


def test_routed_paths_go_to_their_own_origin_without_the_prefix() -> None:
    transport = HttpVenueTransport("https://clob.example/", {},
                                   rest_routes={"/data-api": "https://data.example/"})
    assert transport.url_for("/data-api/positions") == "https://data.example/positions"
    assert transport.url_for("/data-apix") == "https://clob.example/data-apix"
    assert transport.url_for("/book") == "https://clob.example/book"


async def test_positions_read_every_page_and_holdings_under_one_share(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("arbiter.venues.polymarket.gateway.POSITIONS_PAGE", 2)
    setup = await open_venue("polymarket")
    account = setup.emulator.account.positions
    markets = list(setup.gateway.markets.values())
    held = {(markets[0].market_id, Outcome.YES): 500_000,  # half a share
            (markets[0].market_id, Outcome.NO): 3_000_000,
            (markets[1].market_id, Outcome.YES): 1_000_000,
            (markets[2].market_id, Outcome.NO): 2_250_000,
            (markets[3].market_id, Outcome.YES): 4_000_000}
    for (market_id, outcome), qty in held.items():
        market = setup.gateway.markets[market_id]
        account[market.yes_token if outcome is Outcome.YES else market.no_token] = qty

    snapshot = await setup.gateway.positions()

    got = {(p.market_id, Outcome(p.outcome)): p.qty_micros for p in snapshot.positions}
    assert got == held
    pages = [q for m, p, q, _ in setup.link.log if p == "/data-api/positions"]
    assert [q["offset"] for q in pages] == ["0", "2", "4"]
    assert all(q["sizeThreshold"] == "0" for q in pages)


async def test_the_emulator_hides_small_holdings_by_default_as_the_venue_does() -> None:
    setup = await open_venue("polymarket")
    market = next(iter(setup.gateway.markets.values()))
    setup.emulator.account.positions[market.yes_token] = 500_000
    status, raw = await setup.link.request(
        "GET", "/data-api/positions", {"user": "0x" + "ab" * 20})
    assert status == 200 and orjson.loads(raw) == []


async def test_a_reply_that_is_not_an_array_fails_reconciliation_loudly() -> None:
    setup = await open_venue("polymarket")
    setup.link.fail("GET", "/data-api/positions", (200, b'{"error": "busy"}'))
    with pytest.raises(VenueMessageError, match="positions"):
        await setup.gateway.positions()
    assert setup.gateway.rejected_messages == 1
