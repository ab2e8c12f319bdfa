"""kalshi-python-sync, unchanged, against the Kalshi emulator on a local socket.

The SDK's `Configuration(host=...)` takes the API root, and it signs
`/trade-api/v2{resource_path}` whatever the host, so `<emulator url>/trade-api/v2` needs no
patching. Its keys are onboarded as on the venue: a key "made in the web UI" (registered on
the emulator directly) signs POST /api_keys for the key the test then trades with.

kalshi-python-sync 3.3+ declares Requires-Python >= 3.13 yet runs on 3.11, so the Makefile
installs 3.34.0 with --ignore-requires-python (older releases lack the V2 order calls); where
it is missing this module is skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emulators.venue_clients import LP, TICKER, KalshiTrader, kalshi_venue, shares

from arbiter.emulators.matching import BookSide
from arbiter.venues.kalshi.emulator import KalshiEmulator

from .conftest import ThreadedVenue

kalshi = pytest.importorskip("kalshi_python_sync")
if not hasattr(kalshi.OrdersApi, "create_order_v2"):
    pytest.skip(f"kalshi-python-sync {kalshi.__version__} has no V2 order calls (needs 3.3+, "
                "which needs Python >= 3.13)", allow_module_level=True)

UI_KEY_ID = "ui-made-key"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _client(url: str, key_id: str, key: rsa.RSAPrivateKey) -> kalshi.KalshiClient:
    config = kalshi.Configuration(host=f"{url}/trade-api/v2")
    config.api_key_id = key_id
    config.private_key_pem = _pem(key)
    return kalshi.KalshiClient(config)


@pytest.fixture
def served() -> Iterator[ThreadedVenue]:
    venue = kalshi_venue(page_limit=2)  # small default pages, so cursors come back
    venue.quote(TICKER, LP, bids=[(400_000, shares(50))], asks=[(600_000, shares(50))])
    with ThreadedVenue(venue) as threaded:
        yield threaded


@pytest.fixture
def client(served: ThreadedVenue) -> kalshi.KalshiClient:
    """Onboarded through the SDK: the UI key creates the trading key."""
    ui_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    venue: KalshiEmulator = served.venue  # type: ignore[assignment]
    served.call(venue.register_key, UI_KEY_ID, ui_key.public_key())
    trading_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = trading_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    created = _client(served.url, UI_KEY_ID, ui_key).create_api_key(
        name="arbiter-sdk-test", public_key=public_pem)
    return _client(served.url, created.api_key_id, trading_key)


def _order(side: str, price: str, count: str, tif: str = "good_till_canceled",
           **extra: object) -> dict[str, object]:
    return {"ticker": TICKER, "side": side, "price": price, "count": count,
            "time_in_force": tif, "self_trade_prevention_type": "taker_at_cross", **extra}


def _all_pages(read: object, key: str, **query: object) -> list[list]:
    pages, cursor = [], None
    while True:
        reply = read(cursor=cursor, **query)  # type: ignore[operator]
        pages.append(getattr(reply, key))
        cursor = reply.cursor
        if not cursor:
            return pages


def test_sdk_creates_batches_reads_and_cancels_orders(
    served: ThreadedVenue, client: kalshi.KalshiClient,
) -> None:
    venue: KalshiEmulator = served.venue  # type: ignore[assignment]

    resting = client.create_order_v2(**_order("bid", "0.4500", "5.00", client_order_id="one"))
    batch = client.batch_create_orders_v2(orders=[
        _order("ask", "0.6500", "3.00", client_order_id="two"),
        _order("bid", "0.6000", "2.00", "immediate_or_cancel", client_order_id="three"),
        _order("bid", "0.4400", "1.00", client_order_id="one"),  # reused id: refused alone
    ])

    assert (resting.fill_count, resting.remaining_count) == ("0.00", "5.00")
    two, three, duplicate = batch.orders
    assert (two.remaining_count, three.fill_count, three.average_fill_price) == \
        ("3.00", "2.00", "0.6000")
    assert duplicate.order_id is None and duplicate.error.code == "order_already_exists"

    orders = _all_pages(client.get_orders, "orders", ticker=TICKER)
    assert [[o.order_id for o in page] for page in orders] == [
        [resting.order_id, two.order_id], [three.order_id]]
    assert [o.status for o in orders[0]] == ["resting", "resting"]
    assert orders[1][0].status == "executed" and orders[1][0].book_side == "bid"
    fills = client.get_fills(order_id=three.order_id).fills
    assert [(f.count_fp, f.yes_price_dollars, f.is_taker) for f in fills] == [
        ("2.00", "0.6000", True)]
    positions = client.get_positions(ticker=TICKER).market_positions
    assert [(p.ticker, p.position_fp) for p in positions] == [(TICKER, "2.00")]
    assert served.call(lambda: venue.account.positions[TICKER]) == shares(2)

    canceled = client.cancel_order_v2(resting.order_id)
    in_batch = client.batch_cancel_orders_v2(orders=[{"order_id": two.order_id},
                                                    {"order_id": resting.order_id}])

    assert (canceled.order_id, canceled.reduced_by) == (resting.order_id, "5.00")
    assert [(o.order_id, o.reduced_by) for o in in_batch.orders] == [
        (two.order_id, "3.00"), (resting.order_id, "0.00")]
    assert in_batch.orders[1].error.code == "not_found"
    assert client.get_orders(status="resting").orders == []


def test_sdk_cancel_all_empties_the_book_of_our_orders(
    served: ThreadedVenue, client: kalshi.KalshiClient,
) -> None:
    venue: KalshiEmulator = served.venue  # type: ignore[assignment]
    for price in ("0.4100", "0.4200", "0.4300"):
        client.create_order_v2(**_order("bid", price, "1.00"))

    client.cancel_all_orders()

    assert _all_pages(client.get_orders, "orders", status="resting") == [[]]
    assert served.call(venue.engines[TICKER].snapshot)[0] == [(400_000, shares(50))]


def test_a_trading_day_through_the_sdk(
    served: ThreadedVenue, client: kalshi.KalshiClient,
) -> None:
    """What a trader runs in a day, every call the SDK's own: find markets, read the book
    and balance, rest an order and watch its queue position through a decrease and an
    amend, cancel, take liquidity, find the fill by time, read the position, cancel all,
    and collect the settlement."""
    venue: KalshiEmulator = served.venue  # type: ignore[assignment]
    now_s = int(time.time())
    served.call(setattr, venue, "now_ms", now_s * 1000)  # the venue's clock is Unix time
    for ticker in ("KX-OTHER", "KXB-1"):
        served.call(venue.add_market, ticker, 10_000)
    served.call(venue.quote, TICKER, LP, [(450_000, shares(20)), (400_000, shares(50))],
                [(600_000, shares(50))])

    in_event = _all_pages(client.get_markets, "markets", event_ticker="KX", status="open",
                          limit=1)
    assert [[m.ticker for m in page] for page in in_event] == [[TICKER], ["KX-OTHER"]]
    assert [m.ticker for m in client.get_markets(tickers="KXB-1").markets] == ["KXB-1"]
    market = client.get_market(TICKER).market
    assert (market.status, market.yes_bid_dollars, market.yes_ask_dollars) == (
        "active", "0.4500", "0.6000")
    assert [(r.start, r.end, r.step) for r in market.price_ranges] == [
        ("0.0000", "1.0000", "0.0100")]
    book = client.get_market_orderbook(TICKER).orderbook_fp
    assert (book.yes_dollars, book.no_dollars) == (
        [["0.4000", "50.00"], ["0.4500", "20.00"]], [["0.4000", "50.00"]])
    assert client.get_balance().balance_dollars == "100000.0000"

    order = client.create_order_v2(**_order("bid", "0.4500", "10.00", client_order_id="day"))
    served.call(venue.engines[TICKER].submit, "other", BookSide.BID, 450_000, shares(5))
    [resting] = client.get_orders(status="resting", min_ts=now_s - 60,
                                  max_ts=now_s + 60).orders
    assert (resting.order_id, resting.yes_price_dollars) == (order.order_id, "0.4500")
    assert client.get_orders(min_ts=now_s + 60).orders == []
    assert client.get_order_queue_position(order.order_id).queue_position_fp == "20.00"

    decreased = client.decrease_order_v2(order.order_id, reduce_by="4.00")
    kept = client.get_order_queue_position(order.order_id).queue_position_fp
    amended = client.amend_order_v2(order.order_id, ticker=TICKER, side="bid",
                                    price="0.4500", count="8.00")
    assert (decreased.remaining_count, kept) == ("6.00", "20.00")  # a decrease keeps its place
    assert (amended.order_id, amended.remaining_count, amended.fill_count) == (
        order.order_id, "8.00", "0.00")
    [queued] = client.get_order_queue_positions(market_tickers=TICKER).queue_positions
    assert (queued.order_id, queued.queue_position_fp) == (order.order_id, "25.00")  # back
    assert client.cancel_order_v2(order.order_id).reduced_by == "8.00"

    taken = client.create_order_v2(**_order("bid", "0.6000", "10.00", "immediate_or_cancel"))
    assert (taken.fill_count, taken.average_fill_price, taken.average_fee_paid) == (
        "10.00", "0.6000", "0.1700")  # 0.07 x 10 x 0.6 x 0.4, up to the cent
    [fill] = client.get_fills(ticker=TICKER, min_ts=now_s - 60, max_ts=now_s + 60).fills
    assert (fill.order_id, fill.count_fp, fill.yes_price_dollars, fill.is_taker) == (
        taken.order_id, "10.00", "0.6000", True)
    assert client.get_fills(min_ts=now_s + 60).fills == []
    [position] = client.get_positions().market_positions
    assert (position.ticker, position.position_fp) == (TICKER, "10.00")

    for price in ("0.3000", "0.3100"):
        client.create_order_v2(**_order("bid", price, "1.00"))
    client.cancel_all_orders()
    assert client.get_orders(status="resting").orders == []

    served.call(venue.settle_market, TICKER, "yes")
    [settlement] = client.get_settlements(min_ts=now_s - 60).settlements
    assert (settlement.ticker, settlement.market_result, settlement.yes_count_fp,
            settlement.revenue, settlement.fee_cost) == (TICKER, "yes", "10.00", 1000, "0.1700")
    assert client.get_positions().market_positions == []
    assert [m.ticker for m in client.get_markets(status="settled").markets] == [TICKER]
    assert client.get_balance().balance_dollars == "100003.8300"  # - 6.00 - 0.17 + 10


def test_legacy_amend_and_decrease_replies_parse_as_the_sdk_models() -> None:
    """The SDK has no calls for the legacy amend/decrease paths, so their replies go through
    its models directly: a shape drift fails here."""
    models = pytest.importorskip("kalshi_python_sync.models")
    venue = kalshi_venue()
    trader = KalshiTrader(venue)

    async def run() -> tuple[dict, dict, dict]:
        placed = await trader.call("POST", "/portfolio/orders", {
            "ticker": TICKER, "side": "yes", "action": "buy", "count": 5,
            "yes_price_dollars": "0.4000", "client_order_id": "legacy"})
        order_id = placed[1]["order"]["order_id"]
        amended = await trader.call("POST", f"/portfolio/orders/{order_id}/amend", {
            "ticker": TICKER, "side": "yes", "action": "buy", "yes_price": 41, "count": 7,
            "updated_client_order_id": "legacy-2"})
        decreased = await trader.call("POST", f"/portfolio/orders/{order_id}/decrease",
                                      {"reduce_to_fp": "3.00"})
        market = await trader.call("GET", f"/markets/{TICKER}")
        assert amended[0] == decreased[0] == market[0] == 200
        return amended[1], decreased[1], market[1]

    amended, decreased, market = asyncio.run(run())
    parsed = models.AmendOrderResponse.from_dict(amended)
    assert (parsed.old_order.yes_price_dollars, parsed.old_order.remaining_count_fp) == (
        "0.4000", "5.00")
    assert (parsed.order.yes_price_dollars, parsed.order.remaining_count_fp,
            parsed.order.client_order_id) == ("0.4100", "7.00", "legacy-2")
    assert models.Order.from_dict(decreased["order"]).remaining_count_fp == "3.00"
    assert models.GetMarketResponse.from_dict(market).market.price_level_structure == \
        "linear_cent"
