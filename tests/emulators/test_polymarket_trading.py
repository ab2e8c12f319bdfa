"""The Polymarket emulator's trading surface beyond single orders: batches, the cancel family,
cursor paging, the heartbeat dead-man switch, the exchange-version fault and maker fills."""

from __future__ import annotations

import orjson
import pytest

from arbiter.venues.polymarket.amounts import OrderAmounts
from arbiter.venues.polymarket.emulator import HEARTBEAT_TIMEOUT_MS, PolymarketEmulator
from arbiter.venues.polymarket.signing import POLYGON_CHAIN_ID, ExchangeDomain

from .venue_clients import (
    CONDITION,
    LP,
    NO_TOKEN,
    YES_TOKEN,
    PolymarketTrader,
    open_session,
    polymarket_venue,
    shares,
)

ALICE_KEY, BOB_KEY = "0x" + "11" * 32, "0x" + "22" * 32


@pytest.fixture
def venue() -> PolymarketEmulator:
    venue = polymarket_venue(page_size=2)
    venue.quote(CONDITION, LP, bids=[(400_000, shares(10))], asks=[(600_000, shares(10))])
    return venue


@pytest.fixture
def alice(venue: PolymarketEmulator) -> PolymarketTrader:
    return PolymarketTrader(venue, ALICE_KEY)


@pytest.fixture
def bob(venue: PolymarketEmulator) -> PolymarketTrader:
    return PolymarketTrader(venue, BOB_KEY)


async def test_batch_accepts_and_rejects_each_order_on_its_own(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    resting = alice.order(YES_TOKEN, "BUY", 450_000, shares(5))
    tampered = alice.order(YES_TOKEN, "BUY", 440_000, shares(5))
    tampered["order"]["takerAmount"] = str(int(tampered["order"]["takerAmount"]) + 1_000_000)
    taking = alice.order(YES_TOKEN, "BUY", 600_000, shares(3), order_type="FAK")

    status, results = await alice.call("POST", "/orders", [resting, tampered, taking])

    assert status == 200 and len(results) == 3
    assert [r["success"] for r in results] == [True, False, True]
    assert [r["status"] for r in results] == ["live", "", "matched"]
    assert "signature" in results[1]["errorMsg"] and results[1]["orderID"] == ""
    assert results[2]["tradeIDs"] and results[2]["transactionsHashes"][0].startswith("0x")
    assert set(venue.orders) == {results[0]["orderID"], results[2]["orderID"]}
    assert venue.account.positions[YES_TOKEN] == shares(3)
    assert venue.engines[CONDITION].snapshot()[0][0] == (450_000, shares(5))


@pytest.mark.parametrize("count", [0, 16])
async def test_batch_outside_one_to_fifteen_orders_is_refused_whole(
    venue: PolymarketEmulator, alice: PolymarketTrader, count: int,
) -> None:
    orders = [alice.order(YES_TOKEN, "BUY", 100_000 + i * 10_000, shares(1)) for i in range(count)]

    status, reply = await alice.call("POST", "/orders", orders)

    assert status == 400
    assert reply == {"error": "Payload exceeds the limit" if count else "Invalid payload"}
    assert venue.orders == {}


async def test_fifteen_orders_is_the_largest_batch(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    orders = [alice.order(YES_TOKEN, "BUY", 100_000 + i * 10_000, shares(1)) for i in range(15)]

    status, results = await alice.call("POST", "/orders", orders)

    assert status == 200 and all(r["success"] for r in results) and len(venue.orders) == 15


async def test_cancel_orders_reports_canceled_and_not_canceled_ids(
    venue: PolymarketEmulator, alice: PolymarketTrader, bob: PolymarketTrader,
) -> None:
    first = (await alice.place(YES_TOKEN, "BUY", 450_000, shares(2)))["orderID"]
    second = (await alice.place(NO_TOKEN, "BUY", 300_000, shares(2)))["orderID"]
    bobs = (await bob.place(YES_TOKEN, "BUY", 460_000, shares(1)))["orderID"]

    status, reply = await alice.call("DELETE", "/orders", [first, second, bobs, "0xdead"])

    assert status == 200
    assert reply["canceled"] == [first, second]
    assert set(reply["not_canceled"]) == {bobs, "0xdead"}
    assert venue.orders[bobs].status == "LIVE"  # not alice's to cancel
    bids, asks = venue.engines[CONDITION].snapshot()
    assert bids[0] == (460_000, shares(1)) and asks[0] == (600_000, shares(10))
    assert (await alice.call("DELETE", "/orders", {"orderID": first}))[0] == 400


async def test_cancel_market_orders_filters_by_asset_then_cancel_all_takes_the_rest(
    venue: PolymarketEmulator, alice: PolymarketTrader, bob: PolymarketTrader,
) -> None:
    yes = (await alice.place(YES_TOKEN, "BUY", 450_000, shares(2)))["orderID"]
    no = (await alice.place(NO_TOKEN, "BUY", 300_000, shares(2)))["orderID"]
    bobs = (await bob.place(YES_TOKEN, "BUY", 440_000, shares(1)))["orderID"]

    by_asset = await alice.call("DELETE", "/cancel-market-orders",
                                {"market": CONDITION, "asset_id": YES_TOKEN})
    everything = await alice.call("DELETE", "/cancel-all")

    assert by_asset == (200, {"canceled": [yes], "not_canceled": {}})
    assert everything == (200, {"canceled": [no], "not_canceled": {}})
    assert venue.orders[bobs].status == "LIVE"
    assert (await alice.call("GET", "/data/orders"))[1]["data"] == []


async def test_open_orders_page_through_cursors_with_filters(
    venue: PolymarketEmulator, alice: PolymarketTrader, bob: PolymarketTrader,
) -> None:
    placed = [(await alice.place(YES_TOKEN, "BUY", 410_000 + i * 10_000, shares(1)))["orderID"]
              for i in range(5)]
    await bob.place(YES_TOKEN, "BUY", 300_000, shares(1))
    no_order = (await alice.place(NO_TOKEN, "BUY", 200_000, shares(1)))["orderID"]

    pages, cursor = [], "MA=="
    while cursor != "LTE=":
        status, reply = await alice.call("GET", "/data/orders", query={
            "asset_id": YES_TOKEN, "next_cursor": cursor})
        assert status == 200
        pages.append([o["id"] for o in reply["data"]])
        cursor = reply["next_cursor"]

    assert pages == [placed[0:2], placed[2:4], placed[4:5]]
    by_id = await alice.call("GET", "/data/orders", query={"id": no_order})
    assert [o["id"] for o in by_id[1]["data"]] == [no_order]
    assert by_id[1]["data"][0]["asset_id"] == NO_TOKEN and by_id[1]["next_cursor"] == "LTE="
    bad = await alice.call("GET", "/data/orders", query={"next_cursor": "not-a-cursor"})
    assert bad[0] == 400 and "next_cursor" in bad[1]["error"]


async def test_trades_page_and_filter_by_id_asset_and_time(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    trade_ids = []
    for second in (100, 200, 300):
        venue.now_ms = second * 1000
        trade_ids += (await alice.place(YES_TOKEN, "BUY", 600_000, shares(1), "FAK"))["tradeIDs"]
    venue.now_ms = 400_000
    trade_ids += (await alice.place(NO_TOKEN, "SELL", 600_000, shares(1), "FAK"))["tradeIDs"]

    first = await alice.call("GET", "/data/trades")
    second = await alice.call("GET", "/data/trades", query={"next_cursor": first[1]["next_cursor"]})
    windowed = await alice.call("GET", "/data/trades", query={"after": "200", "before": "300"})
    by_asset = await alice.call("GET", "/data/trades", query={"asset_id": NO_TOKEN})
    by_id = await alice.call("GET", "/data/trades", query={"id": trade_ids[1]})

    assert [t["id"] for t in first[1]["data"] + second[1]["data"]] == trade_ids
    assert second[1]["next_cursor"] == "LTE="
    assert [t["match_time"] for t in windowed[1]["data"]] == ["200", "300"]
    assert [t["id"] for t in by_asset[1]["data"]] == trade_ids[3:]
    assert [t["id"] for t in by_id[1]["data"]] == [trade_ids[1]]
    trade = by_id[1]["data"][0]
    assert trade["status"] == "CONFIRMED" and trade["transaction_hash"].startswith("0x")
    assert trade["maker_address"] == alice.address and trade["owner"] == alice.creds.api_key


async def test_missed_heartbeat_cancels_every_open_order_of_that_address_only(
    venue: PolymarketEmulator, alice: PolymarketTrader, bob: PolymarketTrader,
) -> None:
    await venue.advance_clock(1_000)
    mine = (await alice.place(YES_TOKEN, "BUY", 450_000, shares(2)))["orderID"]
    theirs = (await bob.place(YES_TOKEN, "BUY", 440_000, shares(2)))["orderID"]
    status, beat = await alice.call("POST", "/v1/heartbeats", {"heartbeat_id": ""})
    assert status == 200 and beat["heartbeat_id"]

    await venue.advance_clock(1_000 + HEARTBEAT_TIMEOUT_MS)  # exactly on time: still armed
    assert venue.orders[mine].status == "LIVE"
    await alice.call("POST", "/v1/heartbeats", {"heartbeat_id": beat["heartbeat_id"]})
    await venue.advance_clock(1_000 + 2 * HEARTBEAT_TIMEOUT_MS)
    assert venue.orders[mine].status == "LIVE"  # the second beat re-armed the switch
    await venue.advance_clock(1_001 + 2 * HEARTBEAT_TIMEOUT_MS)

    assert venue.orders[mine].status == "CANCELED"
    assert venue.orders[theirs].status == "LIVE"  # bob never started heartbeats
    assert venue.engines[CONDITION].snapshot()[0][0] == (440_000, shares(2))
    later = (await alice.place(YES_TOKEN, "BUY", 430_000, shares(1)))["orderID"]
    await venue.advance_clock(10 * HEARTBEAT_TIMEOUT_MS)
    assert venue.orders[later].status == "LIVE"  # the switch fired once and disarmed


async def test_heartbeat_needs_l2_auth_and_a_heartbeat_id(alice: PolymarketTrader) -> None:
    assert (await alice.call("POST", "/v1/heartbeats", {"id": "x"}))[0] == 400
    unsigned = b'{"heartbeat_id":""}'
    response = await alice.venue.handle_http("POST", "/v1/heartbeats", {}, {}, unsigned)
    assert response.status == 401


async def test_exchange_upgrade_rejects_orders_signed_for_the_old_domain(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    old_domain = venue.domain
    venue.upgrade_exchange(3)

    version = await venue.handle_http("GET", "/version", {}, {}, b"")
    stale = await alice.call("POST", "/order", alice.order(YES_TOKEN, "BUY", 450_000, shares(1),
                                                           domain=old_domain))
    forged = await alice.call("POST", "/order", alice.order(
        YES_TOKEN, "BUY", 450_000, shares(1),
        domain=ExchangeDomain(POLYGON_CHAIN_ID, "0x" + "ab" * 20)))
    fresh = await alice.call("POST", "/order", alice.order(YES_TOKEN, "BUY", 450_000, shares(1)))

    assert orjson.loads(version.body) == {"version": 3}
    assert stale == (400, {"error": "order_version_mismatch"})
    assert forged == (400, {"error": "invalid order signature"})
    assert fresh[0] == 200 and fresh[1]["status"] == "live"
    assert list(venue.orders) == [fresh[1]["orderID"]]


async def test_resting_order_hit_by_the_liquidity_provider_is_a_maker_fill(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    user = await open_session(venue, "user", {"type": "user", "markets": [CONDITION]})
    order_id = (await alice.place(YES_TOKEN, "BUY", 450_000, shares(10)))["orderID"]

    venue.quote(CONDITION, LP, bids=[], asks=[(450_000, shares(4))])  # crosses our bid
    await venue.publish()

    [event] = user.events("trade")
    assert event["taker_order_id"] != order_id and event["trade_owner"] == LP
    assert event["maker_orders"] == [{
        "order_id": order_id, "owner": alice.creds.api_key, "asset_id": YES_TOKEN,
        "matched_amount": "4", "outcome": "YES", "price": "0.45"}]
    assert venue.account.positions[YES_TOKEN] == shares(4)
    assert venue.account.cash == -1_800_000 and venue.account.fees == 0
    trades = (await alice.call("GET", "/data/trades"))[1]["data"]
    assert [t["id"] for t in trades] == [event["id"]]
    assert trades[0]["maker_orders"][0]["order_id"] == order_id
    order = (await alice.call("GET", f"/data/order/{order_id}"))[1]
    assert (order["status"], order["size_matched"]) == ("LIVE", "4")
    assert order["associate_trades"] == [event["id"]]

    venue.quote(CONDITION, LP, bids=[], asks=[(440_000, shares(6))])  # takes the rest at 0.45
    await venue.publish()

    assert venue.orders[order_id].status == "MATCHED"
    assert venue.account.positions[YES_TOKEN] == shares(10)
    assert (await alice.call("GET", "/data/orders"))[1]["data"] == []


async def test_maker_fill_on_the_no_token_is_priced_in_no_terms(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    user = await open_session(venue, "user", {"type": "user"})
    order_id = (await alice.place(NO_TOKEN, "BUY", 300_000, shares(2)))["orderID"]  # YES ask 0.70

    venue.quote(CONDITION, LP, bids=[(700_000, shares(2))], asks=[])
    await venue.publish()

    [event] = user.events("trade")
    assert event["maker_orders"][0] | {"order_id": order_id} == {
        "order_id": order_id, "owner": alice.creds.api_key, "asset_id": NO_TOKEN,
        "matched_amount": "2", "outcome": "NO", "price": "0.3"}
    assert venue.account.positions[NO_TOKEN] == shares(2)
    assert venue.account.cash == -600_000


async def test_crossing_our_own_resting_order_reports_both_sides_in_one_trade(
    venue: PolymarketEmulator, alice: PolymarketTrader, bob: PolymarketTrader,
) -> None:
    user = await open_session(venue, "user", {"type": "user"})
    resting = (await alice.place(YES_TOKEN, "SELL", 550_000, shares(3)))["orderID"]

    taking = await bob.place(YES_TOKEN, "BUY", 550_000, shares(2), "FAK")

    [event] = user.events("trade")
    assert event["taker_order_id"] == taking["orderID"]
    assert event["maker_orders"][0]["order_id"] == resting
    assert venue.account.positions[YES_TOKEN] == 0  # one account on both sides
    assert venue.orders[resting].matched == shares(2)
    for trader in (alice, bob):
        assert [t["id"] for t in (await trader.call("GET", "/data/trades"))[1]["data"]] \
            == taking["tradeIDs"]


@pytest.mark.parametrize(("path", "query", "status", "error"), [
    ("/price", {"token_id": YES_TOKEN, "side": "HOLD"}, 400, "Invalid side"),
    ("/price", {"token_id": "999"}, 404, "No orderbook exists for the requested token id"),
    ("/midpoint", {}, 404, "No orderbook exists for the requested token id"),
    ("/markets/0xnope", {}, 404, "market not found"),
    ("/clob-markets/0xnope", {}, 404, "market not found"),
    ("/markets-by-token/999", {}, 404, "market not found"),
    ("/markets", {"next_cursor": "bm90LWEtbnVtYmVy"}, 400, None),  # not a cursor we gave
])
async def test_bad_public_reads_get_the_venue_error(
    venue: PolymarketEmulator, path: str, query: dict[str, str], status: int,
    error: str | None,
) -> None:
    response = await venue.handle_http("GET", path, query, {}, b"")

    body = orjson.loads(response.body)
    assert response.status == status
    assert error is None or body == {"error": error}


async def test_price_reads_follow_the_book_and_empty_sides_have_no_price(
    venue: PolymarketEmulator,
) -> None:
    async def read(path: str, **query: str) -> tuple[int, object]:
        response = await venue.handle_http("GET", path, query, {}, b"")
        return response.status, orjson.loads(response.body)

    assert await read("/price", token_id=NO_TOKEN, side="BUY") == (200, {"price": "0.4"})
    assert await read("/midpoint", token_id=NO_TOKEN) == (200, {"mid": "0.5"})
    venue.quote(CONDITION, LP, bids=[(420_000, shares(1))], asks=[])

    assert await read("/price", token_id=YES_TOKEN, side="SELL") == (
        404, {"error": "No orderbook exists for the requested token id"})
    assert await read("/price", token_id=YES_TOKEN, side="BUY") == (200, {"price": "0.42"})
    assert (await read("/spread", token_id=YES_TOKEN))[0] == 404


async def test_an_order_under_the_minimum_size_is_refused(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    tiny = OrderAmounts(maker_amount=450, taker_amount=1_000)  # 0.001 share at 0.45
    status, reply = await alice.call("POST", "/order", alice.order(YES_TOKEN, "BUY", 450_000,
                                                                    1_000, amounts=tiny))

    assert status == 400
    assert reply["errorMsg"].startswith("INVALID_ORDER_MIN_SIZE")
    assert venue.orders == {}


async def test_a_resolved_market_is_closed_announced_and_its_tokens_redeem_at_the_payout(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    """Resolution (facts A11's `market_resolved`, the CLOB market record's `closed` and
    token `winner`), then the wallet's on-chain redemption of the tokens for collateral."""
    await alice.place(YES_TOKEN, "BUY", 600_000, shares(3), order_type="FAK")
    resting = (await alice.place(YES_TOKEN, "BUY", 300_000, shares(1)))["orderID"]
    custom = await open_session(venue, "market", {"assets_ids": [YES_TOKEN], "type": "market",
                                                  "custom_feature_enabled": True})
    plain = await open_session(venue, "market", {"assets_ids": [YES_TOKEN], "type": "market"})
    venue.auto_redeem = False
    cash = venue.account.cash

    await venue.resolve(CONDITION, 1_000_000)
    _, record = await alice.call("GET", f"/markets/{CONDITION}")
    _, refused = await alice.call("POST", "/order",
                                  alice.order(YES_TOKEN, "BUY", 500_000, shares(1)))

    [event] = custom.events("market_resolved")
    assert (event["market"], event["winning_asset_id"], event["winning_outcome"]) == (
        CONDITION, YES_TOKEN, "Yes")
    assert sorted(event["assets_ids"]) == sorted([YES_TOKEN, NO_TOKEN])
    assert plain.events("market_resolved") == []  # custom features only
    assert (record["closed"], record["accepting_orders"]) == (True, False)
    assert [(t["token_id"], t["winner"], t["price"]) for t in record["tokens"]] == [
        (YES_TOKEN, True, 1.0), (NO_TOKEN, False, 0.0)]
    assert venue.orders[resting].status == "CANCELED" and not refused["success"]
    assert venue.account.cash == cash and venue.account.positions[YES_TOKEN] == shares(3)

    assert venue.redeem(CONDITION) == shares(3)  # $1 a winning share
    assert venue.account.cash == cash + shares(3)
    assert venue.account.positions.get(YES_TOKEN, 0) == 0
    with pytest.raises(ValueError):
        await venue.resolve(CONDITION, 0)


async def test_a_fifty_fifty_resolution_pays_half_a_dollar_a_token_and_names_no_winner(
    venue: PolymarketEmulator, alice: PolymarketTrader,
) -> None:
    await alice.place(NO_TOKEN, "BUY", 600_000, shares(2), order_type="FAK")
    cash = venue.account.cash

    await venue.resolve(CONDITION, 500_000)
    _, record = await alice.call("GET", f"/markets/{CONDITION}")

    assert [(t["winner"], t["price"]) for t in record["tokens"]] == [(False, 0.5), (False, 0.5)]
    assert venue.account.cash == cash + shares(1)  # auto-redeemed: 2 x $0.50
