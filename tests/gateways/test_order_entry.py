"""Both gateways against the in-process emulators: batches, cancels, paging, /version
re-signing, heartbeats, the Kalshi legacy switch and typed rejection of unknown values."""

from __future__ import annotations

import orjson
import pytest

from arbiter.core.instruments import Venue
from arbiter.gateways.base import VenueMessageError
from arbiter.venues.kalshi.orders import MarketRules, PriceLevelStructure
from arbiter.venues.polymarket.signing import CTF_EXCHANGE_V3, ExchangeDomain, order_digest

from .venues import ACK, CANCELED, FILL, FOK, GTC, IOC, ONE, REJECT, open_venue

VENUES = pytest.mark.parametrize("venue", ["polymarket", "kalshi"],
                                 ids=["polymarket", "kalshi"])


def far_bid(setup) -> int:
    """A YES bid far below the market: it rests and never fills."""
    bids, _ = setup.book()
    return max(10_000, bids[-1][0] - 50_000)


@VENUES
async def test_a_batch_larger_than_the_venue_limit_is_chunked_and_each_order_stands_alone(
    venue: Venue,
) -> None:
    setup = await open_venue(venue)
    if venue == "kalshi":  # the gateway lets a 1.5-contract order out; the venue refuses it
        fractional = MarketRules.for_structure(PriceLevelStructure.LINEAR_CENT,
                                               fractional_trading_enabled=True)
        setup.gateway.rules = {t: fractional for t in setup.gateway.markets}
    _, asks = setup.book()
    best_ask = asks[0][0]
    resting = [setup.request(far_bid(setup), ONE, GTC) for _ in range(setup.gateway.max_batch)]
    filled = setup.request(best_ask, ONE, IOC)
    refused_here = setup.request(best_ask + 1, ONE, IOC)  # off the tick: never sent
    unknown = setup.request(best_ask, ONE, IOC, market_id="NO-SUCH-MARKET")
    refused_there = (setup.request(10_000, 2 * ONE, FOK) if venue == "polymarket"
                     else setup.request(best_ask, ONE + ONE // 2, IOC))
    batch = resting[:8] + [filled, refused_here, unknown, refused_there] + resting[8:]

    acks = await setup.gateway.place_batch(batch)

    assert len(acks) == len(batch)
    by_coid = dict(zip([r.client_order_id for r in batch], acks, strict=True))
    posts = setup.link.paths("POST")
    assert len(posts) == 2 and all(p.endswith(("/orders", "/batched")) for p in posts)
    for request in resting + [filled]:
        ack = by_coid[request.client_order_id]
        assert ack.accepted, ack.reject_reason
        assert ack.venue_order_id in setup.gateway.tracker.orders
        assert setup.kinds(request.client_order_id)[0] == ACK
    for request in (refused_here, unknown, refused_there):
        assert not by_coid[request.client_order_id].accepted
        assert setup.kinds(request.client_order_id) == [REJECT]
    assert [r.kind for r in setup.of(filled.client_order_id, FILL)] == [FILL]
    assert setup.of(resting[0].client_order_id, CANCELED) == []  # GTC: still resting


@VENUES
async def test_a_batch_whose_reply_is_lost_is_looked_up_order_by_order(venue: Venue) -> None:
    setup = await open_venue(venue)
    path = "/orders" if venue == "polymarket" else "/trade-api/v2/portfolio/events/orders/batched"
    setup.link.fail("POST", path, "timeout-after")
    _, asks = setup.book()
    batch = [setup.request(asks[0][0], ONE, IOC), setup.request(far_bid(setup), ONE, GTC)]

    acks = await setup.gateway.place_batch(batch)

    assert all(a.accepted for a in acks), [a.reject_reason for a in acks]
    assert setup.kinds(batch[0].client_order_id) == [ACK, FILL, CANCELED] or \
        setup.kinds(batch[0].client_order_id)[:2] == [ACK, FILL]
    assert setup.kinds(batch[1].client_order_id) == [ACK]
    assert len(setup.link.paths("POST")) == 1  # looked up, never re-sent


@VENUES
async def test_a_whole_batch_refused_with_429_rejects_each_and_backs_off_new_orders(
    venue: Venue,
) -> None:
    setup = await open_venue(venue)
    path = "/orders" if venue == "polymarket" else "/trade-api/v2/portfolio/events/orders/batched"
    setup.link.fail("POST", path, (429, b'{"error":"Too Many Requests"}'))
    batch = [setup.request(far_bid(setup), ONE, GTC) for _ in range(3)]

    acks = await setup.gateway.place_batch(batch)

    assert [a.accepted for a in acks] == [False] * 3
    assert all(setup.kinds(r.client_order_id) == [REJECT] for r in batch)
    slept_before = sum(setup.timer.slept)
    resting = await setup.gateway.place(setup.request(far_bid(setup), ONE, GTC))
    assert resting.accepted
    assert sum(setup.timer.slept) - slept_before >= 0.5  # the back-off delayed the new order
    slept_before = sum(setup.timer.slept)
    setup.link.fail("POST", path, (429, b'{"error":"Too Many Requests"}'))
    await setup.gateway.place_batch([setup.request(far_bid(setup), ONE, GTC)])
    cancel = await setup.gateway.cancel_many([resting.venue_order_id])
    assert cancel[resting.venue_order_id].canceled
    assert sum(setup.timer.slept) == slept_before  # the cancel did not wait


@VENUES
async def test_cancel_many_all_and_by_market_close_each_remainder_once(venue: Venue) -> None:
    setup = await open_venue(venue)
    markets = list(setup.gateway.markets)
    placed = []
    for market_id in markets[:2]:
        bids, _ = setup.book(market_id)
        for _ in range(3):
            request = setup.request(max(10_000, bids[-1][0] - 50_000), 2 * ONE, GTC,
                                    market_id=market_id)
            placed.append((request, await setup.gateway.place(request)))
    assert all(ack.accepted for _, ack in placed)
    ids = [ack.venue_order_id for _, ack in placed]

    many = await setup.gateway.cancel_many(ids[:2] + ["0xunknown" if venue == "polymarket"
                                                      else "unknown-order"])
    assert [many[i].canceled for i in ids[:2]] == [True, True]
    assert not many["0xunknown" if venue == "polymarket" else "unknown-order"].canceled
    by_market = await setup.gateway.cancel_market(markets[0])
    assert sorted(by_market) == sorted(ids[2:3])
    everything = await setup.gateway.cancel_all()
    assert sorted(everything) == sorted(ids[3:])
    for request, _ in placed:
        [canceled] = setup.of(request.client_order_id, CANCELED)
        assert canceled.qty_micros == 2 * ONE
    assert await setup.gateway._open_orders() == []
    assert setup.link.paths("DELETE")  # cancels went out as DELETEs, batched where possible
    assert len(setup.link.paths("DELETE")) <= 4


@VENUES
async def test_cancel_orphans_uses_one_batch_cancel(venue: Venue) -> None:
    setup = await open_venue(venue)
    keep = setup.request(far_bid(setup), ONE, GTC)
    orphans = [setup.request(far_bid(setup), ONE, GTC) for _ in range(4)]
    for request in [keep, *orphans]:
        assert (await setup.gateway.place(request)).accepted
    deletes = len(setup.link.paths("DELETE"))

    canceled = await setup.gateway.cancel_orphans({keep.client_order_id})

    assert len(canceled) == 4
    assert len(setup.link.paths("DELETE")) == deletes + 1
    assert setup.of(keep.client_order_id, CANCELED) == []


@VENUES
async def test_open_orders_and_lookups_follow_cursors_to_the_last_page(venue: Venue) -> None:
    option = {"page_size": 2} if venue == "polymarket" else {"page_limit": 2}
    setup = await open_venue(venue, **option)
    requests = [setup.request(far_bid(setup), ONE, GTC) for _ in range(7)]
    acks = [await setup.gateway.place(r) for r in requests]

    found = await setup.gateway._open_orders()

    assert sorted(order_id for order_id, _ in found) == sorted(a.venue_order_id for a in acks)
    pages = [q for m, p, q, _ in setup.link.log if m == "GET" and p.endswith("/orders")]
    assert len(pages) >= 4
    # the last order sits on the last page: a lookup still finds it (never re-sent)
    setup.gateway.tracker.orders.clear()
    ack = await setup.gateway.reconcile(requests[-1])
    assert ack.accepted and ack.venue_order_id == acks[-1].venue_order_id


async def test_polymarket_follows_a_protocol_version_change_and_keeps_one_order_per_intent() -> None:
    setup = await open_venue("polymarket")
    setup.emulator.upgrade_exchange(3)
    _, asks = setup.book()
    request = setup.request(asks[0][0], ONE, IOC)

    ack = await setup.gateway.place(request)

    assert ack.accepted, ack.reject_reason
    v3 = ExchangeDomain(137, CTF_EXCHANGE_V3, "3")
    order = setup.gateway._order(setup.gateway.markets[request.market_id], request)
    assert ack.venue_order_id == "0x" + order_digest(order, v3).hex()
    assert [p for p in setup.link.paths("GET") if p == "/version"] == ["/version"]
    # a lookup (and a resend answered "duplicated") land on the hash that was sent
    setup.gateway.tracker.orders.clear()
    again = await setup.gateway.reconcile(request)
    assert again.venue_order_id == ack.venue_order_id
    assert len(setup.emulator.orders) == 1
    # after a restart (nothing remembered) the lookup still tries every domain signed for
    setup.gateway._sent.clear()
    setup.gateway.tracker.orders.clear()
    assert (await setup.gateway.reconcile(request)).venue_order_id == ack.venue_order_id


async def test_polymarket_batch_resigns_version_mismatched_orders_once() -> None:
    setup = await open_venue("polymarket")
    setup.emulator.upgrade_exchange(3)
    batch = [setup.request(far_bid(setup), ONE, GTC) for _ in range(3)]

    acks = await setup.gateway.place_batch(batch)

    assert all(a.accepted for a in acks), [a.reject_reason for a in acks]
    assert setup.link.paths("POST") == ["/orders", "/orders"]
    assert setup.gateway.domain.version == "3"


async def test_polymarket_unknown_version_is_a_clear_reject() -> None:
    setup = await open_venue("polymarket")
    setup.emulator.upgrade_exchange(9, "0x" + "99" * 20)
    ack = await setup.gateway.place(setup.request(far_bid(setup), ONE, GTC))
    assert not ack.accepted and "order_version_mismatch" in ack.reject_reason


async def test_polymarket_heartbeats_chain_ids_count_failures_and_stop_on_close() -> None:
    setup = await open_venue("polymarket", {"heartbeat_s": 5.0})
    setup.link.fail("POST", "/v1/heartbeats", "pass", (500, b'{"error":"boom"}'))

    def beats() -> list[str]:
        return [orjson.loads(b)["heartbeat_id"] for _, p, _, b in setup.link.log
                if p == "/v1/heartbeats"]

    for _ in range(5):  # the beats follow the gateway's clock: 5 s apart
        await setup.settle()
        setup.clock.advance(4_999_999)
        await setup.settle()
        before = len(beats())
        setup.clock.advance(1)
        await setup.settle()
        assert len(beats()) == before + 1
    await setup.gateway.close()
    bodies = beats()
    # each beat passes the previous beat's id, except the first and the one after the failure
    assert bodies[0] == "" and bodies.count("") == 2 and len(bodies) == 6
    restart = bodies.index("", 1)
    assert all(body for i, body in enumerate(bodies) if i not in (0, restart))
    assert setup.gateway.heartbeat_failures == 1
    assert setup.gateway.heartbeats_sent == 5
    setup.clock.advance(60_000_000)
    await setup.settle()
    assert len(beats()) == 6  # closed: no more


async def test_heartbeats_are_off_when_configured_zero() -> None:
    setup = await open_venue("polymarket", {"heartbeat_s": 0})
    setup.clock.advance(60_000_000)
    await setup.settle()
    assert "/v1/heartbeats" not in setup.link.paths("POST")
    await setup.gateway.close()


async def test_kalshi_legacy_switch_uses_the_legacy_paths_end_to_end() -> None:
    setup = await open_venue("kalshi", {"legacy_order_entry": True})
    _, asks = setup.book()
    taken = await setup.gateway.place(setup.request(asks[0][0], ONE, IOC))
    resting = await setup.gateway.place_batch(
        [setup.request(far_bid(setup), ONE, GTC) for _ in range(3)])
    canceled = await setup.gateway.cancel_many([a.venue_order_id for a in resting[:2]])
    single = await setup.gateway.cancel_many([resting[2].venue_order_id])

    assert taken.accepted and all(a.accepted for a in resting)
    assert all(o.canceled for o in canceled.values()) and all(o.canceled for o in single.values())
    paths = setup.link.paths("POST") + setup.link.paths("DELETE")
    assert all("/events/" not in p for p in paths), paths
    assert "/trade-api/v2/portfolio/orders" in paths
    assert "/trade-api/v2/portfolio/orders/batched" in paths


async def test_kalshi_v2_is_the_default() -> None:
    setup = await open_venue("kalshi")
    await setup.gateway.place(setup.request(far_bid(setup), ONE, GTC))
    assert setup.link.paths("POST") == ["/trade-api/v2/portfolio/events/orders"]


async def test_polymarket_unknown_user_event_is_counted_and_the_trade_beside_it_still_counts(
) -> None:
    setup = await open_venue("polymarket")
    request = setup.request(far_bid(setup), ONE, GTC)
    ack = await setup.gateway.place(request)
    api_key = setup.gateway.credentials.api.api_key
    trade = {"event_type": "trade", "id": "T-1", "taker_order_id": "0xother", "side": "BUY",
             "price": "0.5", "size": "1", "status": "MATCHED", "trade_owner": "someone",
             "maker_orders": [{"order_id": ack.venue_order_id, "owner": api_key,
                               "matched_amount": "0.5", "price": "0.4"}]}
    before = setup.gateway.rejected_messages

    await setup.gateway._on_user_frame(orjson.dumps([{"event_type": "mystery"}, trade]))

    assert setup.gateway.rejected_messages == before + 1
    [fill] = setup.of(request.client_order_id, FILL)
    assert (fill.qty_micros, fill.price_micros, fill.fee_micros) == (ONE // 2, 400_000, 0)
    await setup.gateway._on_user_frame(orjson.dumps({**trade, "status": "WHATEVER"}))
    assert setup.gateway.rejected_messages == before + 2


async def test_polymarket_lookup_with_an_unknown_status_raises_and_counts() -> None:
    setup = await open_venue("polymarket")
    request = setup.request(far_bid(setup), ONE, GTC)
    ack = await setup.gateway.place(request)
    setup.emulator.orders[ack.venue_order_id].status = "SOMETHING_NEW"
    before = setup.gateway.rejected_messages
    with pytest.raises(VenueMessageError, match="unknown order status 'SOMETHING_NEW'"):
        await setup.gateway.reconcile(request)
    assert setup.gateway.rejected_messages == before + 1


async def test_kalshi_fill_with_an_unknown_side_is_rejected_and_counted() -> None:
    setup = await open_venue("kalshi")
    before = setup.gateway.rejected_messages
    frame = {"type": "fill", "sid": 99, "msg": {
        "trade_id": "t", "order_id": "o", "yes_price_dollars": "0.5", "count_fp": "1.00",
        "fee_cost": "0", "outcome_side": "maybe"}}
    await setup.gateway._on_frame(orjson.dumps(frame))
    assert setup.gateway.rejected_messages == before + 1


async def test_kalshi_self_cross_keeps_both_our_fills() -> None:
    """Both sides of one trade are ours: the maker fill must not be dropped as a repeat."""
    setup = await open_venue("kalshi")
    maker, taker = (setup.request(far_bid(setup), ONE, GTC) for _ in range(2))
    maker_ack = await setup.gateway.place(maker)
    taker_ack = await setup.gateway.place(taker)
    for order_id, is_taker in ((taker_ack.venue_order_id, True),
                               (maker_ack.venue_order_id, False)):
        await setup.gateway._on_frame(orjson.dumps({"type": "fill", "sid": 99, "msg": {
            "trade_id": "T-9", "order_id": order_id, "yes_price_dollars": "0.4000",
            "count_fp": "1.00", "fee_cost": "0.0000", "outcome_side": "yes",
            "is_taker": is_taker}}))
    assert len(setup.of(maker.client_order_id, FILL)) == 1
    assert len(setup.of(taker.client_order_id, FILL)) == 1
