"""py-clob-client-v2, unchanged, against the Polymarket emulator on a local socket.

The SDK takes its host as a constructor argument and hard-codes nothing that would stop it
from talking to http://127.0.0.1:<port>, so nothing is patched: it derives its API key with
an L1 signature, signs V2 orders (version from GET /version, tick from GET /tick-size, the
exchange from GET /neg-risk), HMACs every private call, and pages with its own cursors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from emulators.venue_clients import CONDITION, LP, NO_TOKEN, YES_TOKEN, polymarket_venue, shares

from arbiter.core.fees import NO_FEE
from arbiter.venues.polymarket.emulator import PolymarketEmulator

from .conftest import ThreadedVenue

clob = pytest.importorskip("py_clob_client_v2.client")
types = pytest.importorskip("py_clob_client_v2.clob_types")
exceptions = pytest.importorskip("py_clob_client_v2.exceptions")

PRIVATE_KEY = "0x" + "5a" * 32  # a throwaway test key
POLYGON = 137


@pytest.fixture
def served() -> Iterator[ThreadedVenue]:
    venue = polymarket_venue(page_size=2)  # small pages, so the SDK's cursor loop runs
    venue.quote(CONDITION, LP, bids=[(400_000, shares(50))], asks=[(600_000, shares(50))])
    with ThreadedVenue(venue) as threaded:
        yield threaded


def _client(url: str) -> clob.ClobClient:
    """An SDK client at L2, onboarded through the emulator like against the venue."""
    client = clob.ClobClient(url, chain_id=POLYGON, key=PRIVATE_KEY)
    created = client.create_or_derive_api_key()
    assert client.derive_api_key() == created  # create and derive agree for nonce 0
    client.set_api_creds(created)
    return client


def _limit(token: str, side: str, price: float, size: float) -> types.OrderArgsV2:
    return types.OrderArgsV2(token_id=token, price=price, size=size, side=side)


def test_sdk_posts_lists_and_cancels_orders_and_reads_trades(served: ThreadedVenue) -> None:
    venue: PolymarketEmulator = served.venue  # type: ignore[assignment]
    client = _client(served.url)

    single = client.create_and_post_order(_limit(YES_TOKEN, "BUY", 0.45, 5))
    batch = client.post_orders([
        types.PostOrdersV2Args(order=client.create_order(_limit(YES_TOKEN, "BUY", 0.44, 5)),
                             orderType=types.OrderType.GTC),
        types.PostOrdersV2Args(order=client.create_order(_limit(NO_TOKEN, "BUY", 0.30, 5)),
                             orderType=types.OrderType.GTC),
        types.PostOrdersV2Args(order=client.create_order(_limit(YES_TOKEN, "BUY", 0.60, 2)),
                             orderType=types.OrderType.FAK),
    ])

    assert single["success"] and single["status"] == "live"
    assert [r["status"] for r in batch] == ["live", "live", "matched"]
    assert batch[2]["transactionsHashes"]  # settled: the SDK has nothing to poll for
    resting = [single["orderID"], batch[0]["orderID"], batch[1]["orderID"]]
    open_orders = client.get_open_orders()  # three orders at page size 2: two pages
    assert [o["id"] for o in open_orders] == resting
    only_no = client.get_open_orders(types.OpenOrderParams(asset_id=NO_TOKEN))
    assert [o["id"] for o in only_no] == [batch[1]["orderID"]]

    trades = client.get_trades()
    assert [t["id"] for t in trades] == batch[2]["tradeIDs"]
    assert trades[0]["taker_order_id"] == batch[2]["orderID"] and trades[0]["size"] == "2"
    assert client.get_trades(types.TradeParams(id="no-such-trade")) == []
    assert venue.account.positions[YES_TOKEN] == shares(2)

    one = client.cancel_order(types.OrderPayload(orderID=single["orderID"]))
    by_market = client.cancel_market_orders(types.OrderMarketCancelParams(asset_id=NO_TOKEN))
    rest = client.cancel_all()
    again = client.cancel_orders([single["orderID"]])

    assert one == {"canceled": [single["orderID"]], "not_canceled": {}}
    assert by_market == {"canceled": [batch[1]["orderID"]], "not_canceled": {}}
    assert rest == {"canceled": [batch[0]["orderID"]], "not_canceled": {}}
    assert list(again["not_canceled"]) == [single["orderID"]]
    assert client.get_open_orders() == []
    assert served.call(venue.engines[CONDITION].snapshot) == (
        [(400_000, shares(50))], [(600_000, shares(48))])


def test_sdk_heartbeat_arms_the_dead_man_switch(served: ThreadedVenue) -> None:
    venue: PolymarketEmulator = served.venue  # type: ignore[assignment]
    client = _client(served.url)
    order_id = client.create_and_post_order(_limit(YES_TOKEN, "BUY", 0.45, 5))["orderID"]

    beat = client.post_heartbeat()
    served.run(venue.advance_clock(venue.now_ms + venue.heartbeat_timeout_ms + 1))

    assert beat["heartbeat_id"]
    assert client.get_order(order_id)["status"] == "CANCELED"
    assert client.get_open_orders() == []


def test_sdk_gets_the_version_mismatch_error_then_a_fresh_client_signs_for_the_new_exchange(
    served: ThreadedVenue,
) -> None:
    venue: PolymarketEmulator = served.venue  # type: ignore[assignment]
    stale = _client(served.url)
    assert stale.get_version() == 2
    stale.create_order(_limit(YES_TOKEN, "BUY", 0.41, 1))  # caches version 2

    served.call(venue.upgrade_exchange, 3)
    with pytest.raises(exceptions.PolyApiException) as refused:
        stale.create_and_post_order(_limit(YES_TOKEN, "BUY", 0.45, 5))
    fresh = _client(served.url).create_and_post_order(_limit(YES_TOKEN, "BUY", 0.45, 5))

    assert refused.value.status_code == 400
    assert refused.value.error_msg == {"error": "order_version_mismatch"}
    assert fresh["success"] and fresh["status"] == "live"
    assert list(venue.orders) == [fresh["orderID"]]


def test_a_trading_day_through_the_sdk(served: ThreadedVenue) -> None:
    """What a trader runs in a day, every call the SDK's own: find the market, read its
    prices and parameters, check funds, rest and cancel an order, take liquidity with a
    market order, find the fill by time, read the position, cancel what is left."""
    venue: PolymarketEmulator = served.venue  # type: ignore[assignment]
    now_s = int(time.time())
    served.call(setattr, venue, "now_ms", now_s * 1000)  # the venue's clock is Unix time
    for n in (2, 3):  # three markets at page size 2: the market listing pages
        served.call(venue.add_binary_market, f"0xc0nd{n}", f"{n}001", f"{n}002", 10_000,
                    NO_FEE)
    client = _client(served.url)

    listed, cursor = [], "MA=="
    while cursor != "LTE=":
        listing = client.get_markets(next_cursor=cursor)
        listed += [m["condition_id"] for m in listing["data"]]
        cursor = listing["next_cursor"]
    market = client.get_market(CONDITION)

    assert listed == [CONDITION, "0xc0nd2", "0xc0nd3"]
    assert [(t["token_id"], t["outcome"]) for t in market["tokens"]] == [
        (YES_TOKEN, "Yes"), (NO_TOKEN, "No")]
    assert (market["minimum_tick_size"], market["accepting_orders"]) == (0.01, True)
    book = client.get_order_book(YES_TOKEN)
    assert (book["bids"], book["asks"]) == (
        [{"price": "0.4", "size": "50"}], [{"price": "0.6", "size": "50"}])
    assert client.get_order_book_hash(dict(book)) == book["hash"]  # the SDK's own recipe
    assert client.get_price(YES_TOKEN, "BUY") == {"price": "0.4"}
    assert client.get_price(NO_TOKEN, "SELL") == {"price": "0.6"}  # 1 - the YES bid
    assert client.get_midpoint(YES_TOKEN) == {"mid": "0.5"}
    assert client.get_spread(NO_TOKEN) == {"spread": "0.2"}
    assert (client.get_tick_size(YES_TOKEN), client.get_neg_risk(YES_TOKEN)) == ("0.01", False)
    assert client.get_fee_rate_bps(YES_TOKEN) == 0
    assert client.get_api_keys() == {"apiKeys": [client.creds.api_key]}
    funds = client.get_balance_allowance(
        types.BalanceAllowanceParams(asset_type=types.AssetType.COLLATERAL))
    assert funds["balance"] == str(100_000 * 10**6) and int(funds["allowance"]) > 0

    resting = client.create_and_post_order(_limit(YES_TOKEN, "BUY", 0.45, 10))
    [listed_order] = client.get_open_orders(types.OpenOrderParams(market=CONDITION))
    assert (listed_order["id"], listed_order["price"], listed_order["original_size"]) == (
        resting["orderID"], "0.45", "10")
    assert client.cancel_order(types.OrderPayload(orderID=resting["orderID"]))[
        "canceled"] == [resting["orderID"]]
    assert client.get_order(resting["orderID"])["status"] == "CANCELED"

    # $6 of YES at the book's 0.60 ask: the SDK prices it from /book and signs it with
    # the parameters of /markets-by-token and /clob-markets
    taken = client.create_and_post_market_order(
        types.MarketOrderArgsV2(token_id=YES_TOKEN, amount=6, side="BUY"))
    assert (taken["status"], taken["takingAmount"], taken["makingAmount"]) == (
        "matched", "10", "6")
    [fill] = client.get_trades(types.TradeParams(market=CONDITION, after=now_s - 60,
                                                 before=now_s + 60))
    assert (fill["id"], fill["side"], fill["size"], fill["price"]) == (
        taken["tradeIDs"][0], "BUY", "10", "0.6")
    assert client.get_trades(types.TradeParams(after=now_s + 60)) == []
    held = client.get_balance_allowance(types.BalanceAllowanceParams(
        asset_type=types.AssetType.CONDITIONAL, token_id=YES_TOKEN))
    assert held["balance"] == str(10 * 10**6)
    assert client.get_balance_allowance(types.BalanceAllowanceParams(
        asset_type=types.AssetType.COLLATERAL))["balance"] == str((100_000 - 6) * 10**6)

    later = [client.create_and_post_order(_limit(token, "BUY", 0.30, 5))["orderID"]
             for token in (YES_TOKEN, NO_TOKEN)]
    assert sorted(client.cancel_all()["canceled"]) == sorted(later)
    assert client.get_open_orders() == []
