"""Good-till-date and post-only orders on both venues, against the in-process emulators:
what each venue is sent, what it does with it, and what is refused before sending."""

from __future__ import annotations

import orjson
import pytest

from arbiter.core.instruments import Venue
from arbiter.emulators.venue import ACCOUNT
from arbiter.v1 import execution_pb2
from arbiter.venues.polymarket.gateway import GTD_THRESHOLD_S

from .test_order_entry import far_bid
from .venues import CANCELED, GTC, IOC, REJECT, open_venue

GTD = execution_pb2.TIME_IN_FORCE_GTD
VENUES = pytest.mark.parametrize("venue", ["polymarket", "kalshi"],
                                 ids=["polymarket", "kalshi"])


def _ours(setup) -> list:
    return [o for o in setup.emulator.engines[setup.market_id].orders.values()
            if o.owner == ACCOUNT]


@VENUES
async def test_a_gtd_order_rests_until_its_expiry_then_the_venue_cancels_it(venue: Venue) -> None:
    setup = await open_venue(venue)
    expiry_ms = (setup.emulator.now_ms // 1000 + 120) * 1000  # venues count whole seconds
    request = setup.request(far_bid(setup), tif=GTD)
    request.expire_micros = expiry_ms * 1000

    ack = await setup.gateway.place(request)

    assert ack.accepted, ack.reject_reason
    if venue == "polymarket":  # sent with the venue's one-minute threshold on top
        sent = orjson.loads(setup.link.log[-1][3])
        assert sent["orderType"] == "GTD"
        assert int(sent["order"]["expiration"]) == expiry_ms // 1000 + GTD_THRESHOLD_S
    await setup.emulator.advance_clock(expiry_ms - 1)
    assert len(_ours(setup)) == 1
    await setup.emulator.advance_clock(expiry_ms)
    assert _ours(setup) == []
    await setup.gateway.reconcile(request)  # what the saga's overdue lookup does
    assert [r.qty_micros for r in setup.of(request.client_order_id, CANCELED)] == [
        request.qty_micros]


@VENUES
async def test_a_post_only_order_that_would_take_liquidity_is_refused_by_the_venue(
    venue: Venue,
) -> None:
    setup = await open_venue(venue)
    best_ask = setup.book()[1][0][0]
    before = setup.book()
    crossing = setup.request(best_ask, tif=GTC)
    crossing.post_only = True
    resting = setup.request(far_bid(setup), tif=GTC)
    resting.post_only = True

    refused = await setup.gateway.place(crossing)
    accepted = await setup.gateway.place(resting)

    assert not refused.accepted
    assert ("INVALID_POST_ONLY_ORDER" if venue == "polymarket" else "post only") in \
        refused.reject_reason
    assert setup.book()[1] == before[1]  # nothing was taken
    assert accepted.accepted and len(_ours(setup)) == 1


@VENUES
@pytest.mark.parametrize(("tif", "expire", "post_only", "message"), [
    (GTD, 0, False, "a GTD order needs expire_micros > 0"),
    (GTC, 5_000_000, False, "expire_micros=5000000 is only for GTD, not TIME_IN_FORCE_GTC"),
    (IOC, 0, True, "post_only needs a resting order (GTC or GTD), not TIME_IN_FORCE_IOC"),
    (9, 0, False, "time in force 9 is not GTC, GTD, IOC or FOK"),
], ids=["gtd-without-expiry", "expiry-without-gtd", "post-only-ioc", "unknown-tif"])
async def test_bad_order_options_are_refused_before_anything_is_sent(
    venue: Venue, tif: int, expire: int, post_only: bool, message: str,
) -> None:
    setup = await open_venue(venue)
    request = setup.request(far_bid(setup), tif=tif)
    request.expire_micros, request.post_only = expire, post_only
    sent_before = len(setup.link.paths("POST"))

    ack = await setup.gateway.place(request)

    assert not ack.accepted and ack.reject_reason == message
    assert [r.reason for r in setup.of(request.client_order_id, REJECT)] == [message]
    assert len(setup.link.paths("POST")) == sent_before
