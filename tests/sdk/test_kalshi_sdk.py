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

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emulators.venue_clients import LP, TICKER, kalshi_venue, shares

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
