"""The Kalshi emulator's trading surface beyond single V2 orders: batches, cancel-all, the
legacy write path, cursor paging of portfolio reads, and maker fills."""

from __future__ import annotations

import pytest

from arbiter.venues.kalshi.emulator import KalshiEmulator

from .venue_clients import LP, TICKER, KalshiTrader, kalshi_venue, open_session, shares, v2_order

EVENTS = "/portfolio/events/orders"


@pytest.fixture
def venue() -> KalshiEmulator:
    venue = kalshi_venue()
    venue.quote(TICKER, LP, bids=[(400_000, shares(10))], asks=[(600_000, shares(10))])
    return venue


@pytest.fixture
def trader(venue: KalshiEmulator) -> KalshiTrader:
    return KalshiTrader(venue)


async def test_batch_create_reports_each_order_on_its_own(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    orders = [
        v2_order("bid", "0.4500", "5.00", client_order_id="rest"),
        v2_order("buy", "0.4500", "5.00", client_order_id="bad-side"),
        v2_order("bid", "0.6000", "3.00", "immediate_or_cancel", client_order_id="take"),
    ]

    status, reply = await trader.call("POST", f"{EVENTS}/batched", {"orders": orders})

    assert status == 201
    rest, bad, take = reply["orders"]
    assert (rest["fill_count"], rest["remaining_count"]) == ("0.00", "5.00")
    assert bad == {"client_order_id": "bad-side", "error": {
        "code": "invalid_parameters", "message": "side 'buy' must be bid or ask"}}
    assert (take["fill_count"], take["remaining_count"]) == ("3.00", "0.00")
    assert take["average_fill_price"] == "0.6000"
    assert venue.account.positions[TICKER] == shares(3)
    assert {o.client_order_id for o in venue.orders.values()} == {"rest", "take"}


async def test_batch_cancel_reduces_each_order_or_says_why_not(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    first = (await trader.place("bid", "0.4500", "2.00"))["order_id"]
    second = (await trader.place("ask", "0.5500", "3.00"))["order_id"]

    status, reply = await trader.call("DELETE", f"{EVENTS}/batched", {"orders": [
        {"order_id": first}, {"order_id": second, "market_ticker": TICKER}, {"order_id": "nope"}]})

    assert status == 200
    assert [(o["order_id"], o["reduced_by"]) for o in reply["orders"]] == [
        (first, "2.00"), (second, "3.00"), ("nope", "0.00")]
    assert reply["orders"][2]["error"]["code"] == "not_found"
    assert "error" not in reply["orders"][0]
    assert venue.engines[TICKER].snapshot() == ([(400_000, shares(10))], [(600_000, shares(10))])


async def test_cancel_all_takes_every_resting_order_or_one_subaccounts(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    primary = (await trader.place("bid", "0.4500", "1.00"))["order_id"]
    sub = (await trader.place("bid", "0.4400", "1.00", subaccount=2))["order_id"]

    only_sub = await trader.call("DELETE", EVENTS, query={"subaccount": "2"})
    assert only_sub == (204, None)
    assert (venue.orders[primary].status, venue.orders[sub].status) == ("resting", "canceled")
    assert await trader.call("DELETE", EVENTS) == (204, None)
    assert venue.orders[primary].status == "canceled"
    assert venue.engines[TICKER].snapshot()[0] == [(400_000, shares(10))]


async def test_legacy_write_path_creates_and_cancels_on_the_same_book(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    # buy NO at 40 cents is an ask on the YES book at 0.60... which rests behind the LP's ask
    status, created = await trader.call("POST", "/portfolio/orders", {
        "ticker": TICKER, "side": "no", "action": "buy", "count": 3, "no_price": 40,
        "client_order_id": "legacy-1", "subaccount": 0})

    assert status == 201
    order = created["order"]
    assert (order["book_side"], order["outcome_side"], order["yes_price_dollars"]) == \
        ("ask", "no", "0.6000")
    assert (order["status"], order["remaining_count_fp"]) == ("resting", "3.00")
    assert venue.engines[TICKER].snapshot()[1] == [(600_000, shares(13))]

    status, canceled = await trader.call("DELETE", f"/portfolio/orders/{order['order_id']}")

    assert status == 200 and canceled["reduced_by_fp"] == "3.00"
    assert (canceled["order"]["status"], canceled["order"]["remaining_count_fp"]) == \
        ("canceled", "0.00")
    assert (await trader.call("DELETE", f"/portfolio/orders/{order['order_id']}"))[0] == 404


@pytest.mark.parametrize(("fields", "problem"), [
    ({"count": 3, "count_fp": "2.00", "yes_price": 45}, "disagree"),
    ({"count": 1, "yes_price": 45, "no_price": 55}, "exactly one"),
    ({"count_fp": "1.00"}, "exactly one"),
    ({"yes_price_dollars": "0.45"}, "required"),
])
async def test_legacy_order_with_inconsistent_amounts_is_refused(
    venue: KalshiEmulator, trader: KalshiTrader, fields: dict, problem: str,
) -> None:
    status, reply = await trader.call("POST", "/portfolio/orders", {
        "ticker": TICKER, "side": "yes", "action": "buy", **fields})

    assert status == 400 and problem in reply["error"]["message"]
    assert venue.orders == {}


async def test_legacy_batches_create_and_cancel(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    status, created = await trader.call("POST", "/portfolio/orders/batched", {"orders": [
        {"ticker": TICKER, "side": "yes", "action": "buy", "count": 1, "yes_price": 35},
        {"ticker": TICKER, "side": "yes", "action": "sell", "count_fp": "2.00",
         "yes_price_dollars": "0.4000", "time_in_force": "immediate_or_cancel"},
        {"ticker": "NO-SUCH", "side": "yes", "action": "buy", "count": 1, "yes_price": 45},
    ]})

    assert status == 201
    resting, sold, missing = created["orders"]
    assert resting["order"]["status"] == "resting" and resting["error"] is None
    assert (sold["order"]["book_side"], sold["order"]["fill_count_fp"]) == ("ask", "2.00")
    assert missing["order"] is None and missing["error"]["code"] == "market_not_found"
    assert venue.account.positions[TICKER] == -shares(2)

    status, canceled = await trader.call("DELETE", "/portfolio/orders/batched", {
        "ids": [resting["order"]["order_id"], sold["order"]["order_id"]]})

    assert status == 200
    assert [o["reduced_by_fp"] for o in canceled["orders"]] == ["1.00", "0.00"]
    assert canceled["orders"][1]["error"]["code"] == "not_found"


async def _all_pages(trader: KalshiTrader, path: str, key: str, **query: str) -> list[list]:
    pages, cursor = [], ""
    while True:
        status, reply = await trader.call("GET", path, query={**query, "cursor": cursor})
        assert status == 200, reply
        pages.append(reply[key])
        cursor = reply["cursor"]
        if not cursor:
            return pages


async def test_orders_fills_and_positions_page_through_cursors(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    venue.add_market("KX-OTHER", 10_000)
    venue.quote("KX-OTHER", LP, bids=[], asks=[(500_000, shares(10))])
    ids = [(await trader.place("bid", "0.6000", "1.00", "immediate_or_cancel"))["order_id"]
           for _ in range(3)]
    ids += [(await trader.place("bid", f"0.3{i}00", "1.00"))["order_id"] for i in range(2)]
    other = await trader.call("POST", EVENTS, {**v2_order("bid", "0.5000", "2.00"),
                                               "ticker": "KX-OTHER"})

    orders = await _all_pages(trader, "/portfolio/orders", "orders", ticker=TICKER, limit="2")
    fills = await _all_pages(trader, "/portfolio/fills", "fills", limit="2")
    positions = await _all_pages(trader, "/portfolio/positions", "market_positions", limit="1")
    resting = await _all_pages(trader, "/portfolio/orders", "orders", status="resting")

    assert [[o["order_id"] for o in p] for p in orders] == [ids[0:2], ids[2:4], ids[4:5]]
    assert [len(p) for p in fills] == [2, 2]
    assert fills[1][1]["order_id"] == other[1]["order_id"]
    assert [[(p["ticker"], p["position_fp"]) for p in page] for page in positions] == [
        [("KX-OTHER", "2.00")], [(TICKER, "3.00")]]
    assert positions[1][0]["total_traded_dollars"] == "1.8000"
    assert [o["order_id"] for o in resting[0]] == ids[3:5]
    assert (await trader.call("GET", "/portfolio/orders", query={"limit": "0"}))[0] == 400
    bad = await trader.call("GET", "/portfolio/fills", query={"cursor": "%%%"})
    assert bad[0] == 400 and "cursor" in bad[1]["error"]["message"]


async def test_resting_order_hit_by_the_liquidity_provider_is_a_maker_fill(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    ws = await open_session(venue, "ws", {"id": 1, "cmd": "subscribe",
                                          "params": {"channels": ["fill"]}})
    order_id = (await trader.place("bid", "0.4500", "5.00", client_order_id="maker-1"))["order_id"]

    venue.quote(TICKER, LP, bids=[], asks=[(450_000, shares(2))])
    await venue.publish()

    [fill] = [f["msg"] for f in ws.events("fill")]
    assert (fill["order_id"], fill["client_order_id"], fill["is_taker"]) == \
        (order_id, "maker-1", False)
    assert (fill["yes_price_dollars"], fill["count_fp"], fill["fee_cost"]) == \
        ("0.4500", "2.00", "0.0000")
    assert fill["post_position_fp"] == "2.00"
    assert venue.account.positions[TICKER] == shares(2) and venue.account.cash == -900_000
    fills = (await trader.call("GET", "/portfolio/fills", query={"order_id": order_id}))[1]
    assert [(f["is_taker"], f["count_fp"]) for f in fills["fills"]] == [(False, "2.00")]
    order = (await trader.call("GET", f"/portfolio/orders/{order_id}"))[1]["order"]
    assert (order["status"], order["fill_count_fp"], order["remaining_count_fp"]) == \
        ("resting", "2.00", "3.00")
    assert order["maker_fill_cost_dollars"] == "0.9000"

    venue.quote(TICKER, LP, bids=[], asks=[(440_000, shares(3))])
    await venue.publish()

    assert venue.orders[order_id].status == "executed"
    assert venue.account.positions[TICKER] == shares(5)


async def test_crossing_our_own_resting_order_books_a_taker_and_a_maker_fill(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    resting = (await trader.place("ask", "0.5500", "2.00"))["order_id"]
    taking = (await trader.place("bid", "0.5500", "2.00", "immediate_or_cancel"))["order_id"]

    fills = (await trader.call("GET", "/portfolio/fills"))[1]["fills"]

    assert [(f["order_id"], f["is_taker"]) for f in fills] == [(taking, True), (resting, False)]
    assert fills[0]["trade_id"] == fills[1]["trade_id"]
    assert fills[0]["fill_id"] != fills[1]["fill_id"]
    assert venue.account.positions[TICKER] == 0
    assert venue.orders[resting].status == "executed"


async def test_amend_to_a_crossing_price_trades_and_keeps_the_order_id(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    placed = await trader.place("bid", "0.4500", "4.00")
    order_id = placed["order_id"]

    status, reply = await trader.call("POST", f"{EVENTS}/{order_id}/amend", {
        "ticker": TICKER, "side": "bid", "price": "0.6000", "count": "4.00"})

    assert status == 200
    assert (reply["order_id"], reply["fill_count"], reply["remaining_count"],
            reply["average_fill_price"]) == (order_id, "4.00", "0.00", "0.6000")
    assert venue.orders[order_id]["status"] == "executed"
    assert venue.engines[TICKER].snapshot()[1] == [(600_000, shares(6))]


@pytest.mark.parametrize(("path_tail", "body", "status", "code"), [
    ("amend", {"ticker": TICKER, "side": "ask", "price": "0.4500", "count": "4.00"}, 400,
     "invalid_parameters"),  # an amend cannot flip the side
    ("amend", {"ticker": TICKER, "side": "bid", "price": "0.4550", "count": "4.00"}, 400,
     "invalid_order"),  # off the cent grid
    ("amend", {"ticker": TICKER, "side": "bid", "price": "0.4500"}, 400,
     "invalid_parameters"),  # no count
    ("decrease", {"reduce_by": "1.00", "reduce_to": "2.00"}, 400, "invalid_parameters"),
    ("decrease", {"reduce_by": "9.00"}, 400, "invalid_parameters"),  # more than remains
])
async def test_bad_amends_and_decreases_get_the_venue_error_and_change_nothing(
    venue: KalshiEmulator, trader: KalshiTrader, path_tail: str, body: dict, status: int,
    code: str,
) -> None:
    order_id = (await trader.place("bid", "0.4500", "4.00"))["order_id"]

    got, reply = await trader.call("POST", f"{EVENTS}/{order_id}/{path_tail}", body)

    assert (got, reply["error"]["code"]) == (status, code)
    assert venue.orders[order_id]["remaining_count_fp"] == "4.00"
    assert venue.engines[TICKER].snapshot()[0][0] == (450_000, shares(4))


async def test_decrease_to_nothing_cancels_and_unknown_orders_are_not_found(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    order_id = (await trader.place("bid", "0.4500", "4.00"))["order_id"]

    status, reply = await trader.call("POST", f"{EVENTS}/{order_id}/decrease",
                                      {"reduce_to": "0"})
    missing = await trader.call("GET", "/portfolio/orders/nope/queue_position")

    assert (status, reply["remaining_count"]) == (200, "0.00")
    assert venue.orders[order_id]["status"] == "canceled"
    assert (missing[0], missing[1]["error"]["code"]) == (404, "not_found")


async def test_selling_what_we_hold_pays_its_price_and_buying_it_back_costs_only_the_spread(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    """Kalshi nets YES against NO in one position: an ask against a long YES position sells
    it (we receive the YES price), it does not also pay 1 - p for NO contracts that cancel
    against the YES ones. Round trip: 3 bought at $0.60, 3 sold at $0.40 = $0.60 lost plus
    the taker fees, and the position is flat."""
    start = venue.account.balance
    await trader.place("bid", "0.6000", "3.00", "immediate_or_cancel")
    after_buy = venue.account.balance
    await trader.place("ask", "0.4000", "3.00", "immediate_or_cancel")

    assert after_buy == start - shares(3) * 6 // 10 - 60_000  # 3 x $0.60; fee 0.0504 -> $0.06
    assert venue.account.balance == start - shares(3) * 2 // 10 - venue.account.fees
    assert venue.account.positions[TICKER] == 0


async def test_a_settled_market_pays_the_winners_and_refuses_new_orders(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    await trader.place("ask", "0.4000", "3.00", "immediate_or_cancel")  # 3 NO at 0.60
    cash = venue.account.balance

    venue.settle_market(TICKER, "no")
    status, reply = await trader.call("POST", EVENTS, v2_order("bid", "0.4500", "1.00"))
    _, settlements = await trader.call("GET", "/portfolio/settlements")

    assert venue.account.balance == cash + shares(3)  # $1 a winning contract
    assert (status, reply["error"]["code"]) == (400, "market_closed")
    [row] = settlements["settlements"]
    assert (row["no_count_fp"], row["yes_count_fp"], row["revenue"], row["value"]) == (
        "3.00", "0.00", 300, 0)
    with pytest.raises(ValueError):
        venue.settle_market(TICKER, "yes")


async def test_a_scalar_settlement_pays_each_side_its_value(
    venue: KalshiEmulator, trader: KalshiTrader,
) -> None:
    """Kalshi's answer to an event it will not resolve YES or NO: a `scalar` result at a
    fair `value` (cents a YES contract pays; NO gets the rest)."""
    await trader.place("ask", "0.4000", "3.00", "immediate_or_cancel")  # 3 NO at 0.60
    cash = venue.account.balance

    await venue.resolve(TICKER, 45 * 10_000)  # 45 cents
    _, settlements = await trader.call("GET", "/portfolio/settlements")

    assert venue.account.balance == cash + shares(3) * 55 // 100
    [row] = settlements["settlements"]
    assert (row["market_result"], row["value"], row["revenue"]) == ("scalar", 45, 165)
    with pytest.raises(ValueError):
        await venue.resolve(TICKER, 45 * 10_000)
