"""GET /book's `hash` (facts A10): our recipe is the official SDK's, and a REST book whose
hash does not match its contents is rejected (the market goes dark and re-subscribes)
instead of being published."""

from __future__ import annotations

import orjson
import pytest
from emulators.conftest import open_harness
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary

from arbiter.emulators.venue import HttpResponse
from arbiter.gateways.base import VenueMessageError
from arbiter.venues.polymarket.schemas import book_hash

_PRICE = st.integers(1, 999).map(lambda c: f"{c / 1000:.3f}".rstrip("0").rstrip("."))
_SIZE = st.integers(0, 10**9).map(lambda q: f"{q / 100:.2f}")
_LEVELS = st.lists(st.fixed_dictionaries({"price": _PRICE, "size": _SIZE}), max_size=8)


@settings(max_examples=100, deadline=None)
@given(bids=_LEVELS, asks=_LEVELS, neg_risk=st.booleans())
def test_our_book_hash_is_the_official_sdks(bids: list, asks: list, neg_risk: bool) -> None:
    book = {"market": "0x" + "ab" * 32, "asset_id": "7123", "timestamp": "1764000000123",
            "hash": "", "bids": bids, "asks": asks, "min_order_size": "5", "tick_size": "0.01",
            "neg_risk": neg_risk, "last_trade_price": "0.5"}
    assert book_hash(book) == generate_orderbook_summary_hash(parse_raw_orderbook_summary(book))


async def test_a_rest_book_whose_hash_does_not_match_is_rejected() -> None:
    async with open_harness("polymarket") as harness:
        gateway = harness.gateway
        market = next(iter(gateway.markets.values()))
        event = await gateway._book_from_rest(market, 0)  # the emulator's hash checks out
        assert event.HasField("snapshot")

        emulator = harness.server.venue
        honest = emulator._book

        def torn(token: str, query: dict[str, str]) -> HttpResponse:
            book = orjson.loads(honest(token, query).body)
            book["asks"] = book["asks"][1:]  # a level lost, the venue's hash kept
            return HttpResponse.json(200, book)

        emulator._book = torn  # type: ignore[method-assign]
        rejected = gateway.rejected_messages
        with pytest.raises(VenueMessageError, match="GET /book: hash"):
            await gateway._book_from_rest(market, 0)
        assert gateway.rejected_messages == rejected + 1
