"""The fault matrix: every fault class the socket-served emulators script (`server.Faults`),
against the production gateways over real HTTP and WebSocket, on each venue where it
applies. Each test ends on the money invariants (`conftest.money_violations`), checked
against the emulator's own orders and fills: no order lost or duplicated (one venue order
per intent), every fill counted exactly once, every order's quantity accounted for.

| fault                                   | polymarket | kalshi |
| --------------------------------------- | ---------- | ------ |
| REST latency                            | yes        | yes    |
| 5xx before / after the venue acted      | yes        | yes    |
| reply lost after accept (held, cut)     | yes        | yes    |
| ... on a batch                          | yes        | yes    |
| business reject                         | yes        | yes    |
| 429: reject, new orders back off only   | yes        | yes    |
| partial fills (taker sweep, maker)      | yes        | yes    |
| fill frame duplicated / reordered       | yes        | yes    |
| fill frame dropped (Kalshi: a seq gap)  | yes        | yes    |
| cut on a fill frame, with / no replay   | yes        | yes    |
| book frame dropped / reordered (gap)    | --         | yes    |
| book frame duplicated                   | yes        | yes    |
| cut on the book channel, with replay    | yes        | yes    |
| tick-size change                        | test_tick_size_change.py | -- |

Polymarket's market channel has no sequence number (facts A11), so a dropped or reordered
book frame is invisible to the gateway: its recovery is the fresh `book` after a reconnect,
which the cut tests (and tests/emulators) cover. Kalshi has no tick-size change event.
"""

from __future__ import annotations

import asyncio

import pytest
from emulators.conftest import Harness, eventually

from arbiter.core.instruments import Venue
from arbiter.emulators.server import WsFault
from arbiter.gateways.ratelimit import BackoffPolicy
from arbiter.v1 import execution_pb2, market_data_pb2

from .conftest import (
    ACK,
    BOOK_DELTAS,
    CANCELED,
    FILL,
    FILLS,
    ONE,
    REJECT,
    SteppedTimer,
    after_last_order_post,
    assert_money_invariants,
    fills_of,
    inside_bid,
    kinds_of,
    opened,
    resting_bid,
    sweep,
    venue_orders,
)


def cancel_request(venue_order_id: str) -> execution_pb2.CancelRequest:
    return execution_pb2.CancelRequest(venue_order_id=venue_order_id)


def order_posts(harness: Harness) -> int:
    paths = harness.server.surface.order_paths
    return sum(method == "POST" and path in paths for method, path in harness.server.requests)


def looked_up(harness: Harness) -> bool:
    """Whether the gateway asked the venue about the order after posting it."""
    return any(method == "GET" for method, _ in after_last_order_post(harness))


# -- order posts ---------------------------------------------------------------------------
async def test_latency_on_every_request_changes_no_outcome(harness: Harness) -> None:
    harness.server.faults.rest_latency_ms = 30
    rest = await harness.gateway.place(resting_bid(harness, "slow-rest"))
    take = await harness.gateway.place(sweep(harness, "slow-take", levels=2))
    canceled = await harness.gateway.cancel(cancel_request(rest.venue_order_id))

    assert rest.accepted and take.accepted and canceled.canceled
    await assert_money_invariants(harness)


async def test_5xx_before_the_venue_acted_is_looked_up_and_not_found(harness: Harness) -> None:
    harness.server.faults.fail_orders(503)

    ack = await harness.gateway.place(sweep(harness, "down", levels=1))

    assert not ack.accepted
    assert any(word in ack.reject_reason.lower() for word in ("disabled", "unavailable"))
    assert looked_up(harness) and venue_orders(harness) == {}
    assert kinds_of(harness, "down") == [REJECT]
    await assert_money_invariants(harness)


async def test_5xx_after_the_venue_acted_is_looked_up_and_found(harness: Harness) -> None:
    harness.server.faults.fail_orders(500, after_accept=True)

    ack = await harness.gateway.place(sweep(harness, "half-done", levels=2))

    assert ack.accepted, ack.reject_reason
    assert looked_up(harness) and list(venue_orders(harness)) == [ack.venue_order_id]
    await assert_money_invariants(harness)
    assert kinds_of(harness, "half-done") == [ACK, FILL, FILL, CANCELED]


@pytest.mark.parametrize("cut", [False, True], ids=["reply-withheld", "connection-cut"])
async def test_reply_lost_after_accept_is_looked_up_and_found(harness: Harness, cut: bool) -> None:
    """The venue took the order and traded it; the reply never came. The gateway must not
    assume it lost (nor resend it): it looks it up and reports what really happened."""
    harness.server.faults.lose_order_replies(cut=cut)
    harness.transport.request_timeout_s = 0.5  # the withheld reply waits out this timeout

    ack = await harness.gateway.place(sweep(harness, "lost", levels=2))

    assert ack.accepted, ack.reject_reason
    assert looked_up(harness) and list(venue_orders(harness)) == [ack.venue_order_id]
    await assert_money_invariants(harness)
    assert kinds_of(harness, "lost") == [ACK, FILL, FILL, CANCELED]


async def test_batch_reply_lost_after_accept_looks_each_order_up(harness: Harness) -> None:
    batch = [resting_bid(harness, f"batch-rest-{i}") for i in range(3)]
    batch.append(sweep(harness, "batch-take", levels=1))
    harness.server.faults.lose_order_replies(cut=True)

    acks = await harness.gateway.place_batch(batch)

    assert [a.accepted for a in acks] == [True] * 4
    assert sorted(venue_orders(harness)) == sorted(a.venue_order_id for a in acks)
    await assert_money_invariants(harness)


async def test_business_reject_is_final_and_never_looked_up(harness: Harness) -> None:
    harness.server.faults.reject_orders()

    ack = await harness.gateway.place(sweep(harness, "broke", levels=1))

    assert not ack.accepted and "balance" in ack.reject_reason.lower()
    assert not looked_up(harness) and venue_orders(harness) == {}
    retry = await harness.gateway.place(sweep(harness, "funded", levels=1))  # one-shot
    assert retry.accepted, retry.reject_reason
    await assert_money_invariants(harness)


@pytest.mark.parametrize("venue", ["polymarket", "kalshi"], ids=["polymarket", "kalshi"])
async def test_429_rejects_and_backs_off_new_orders_while_cancels_go_out(venue: Venue) -> None:
    timer = SteppedTimer()  # back-off lasts until the test moves time, however slow the box
    async with opened(venue, timer=timer) as harness:
        rest = await harness.gateway.place(resting_bid(harness, "resting"))
        harness.server.faults.fail_orders(429)

        limited = await harness.gateway.place(sweep(harness, "limited", levels=1))

        assert not limited.accepted and "too many requests" in limited.reject_reason.lower()
        assert not looked_up(harness)  # a 429 means the venue did not take it
        waiting = asyncio.create_task(harness.gateway.place(sweep(harness, "next", levels=1)))
        await eventually(lambda: harness.gateway.scheduler.depth == 1)
        posts = order_posts(harness)

        canceled = await harness.gateway.cancel(cancel_request(rest.venue_order_id))

        assert canceled.canceled and not waiting.done()  # the cancel went out, the order not
        assert order_posts(harness) == posts
        assert not venue_orders(harness)[rest.venue_order_id].resting
        timer.advance(2 * BackoffPolicy.base_s)
        after = await waiting
        assert after.accepted, after.reject_reason
        await assert_money_invariants(harness)


async def test_ioc_fills_partially_across_levels_and_the_rest_is_canceled(
    harness: Harness,
) -> None:
    ack = await harness.gateway.place(sweep(harness, "partial", levels=3, extra=2 * ONE))

    assert ack.accepted, ack.reject_reason
    await assert_money_invariants(harness)
    assert kinds_of(harness, "partial") == [ACK, FILL, FILL, FILL, CANCELED]
    assert harness.reports[-1].qty_micros == 2 * ONE


async def test_resting_order_filled_partly_as_maker_then_canceled(harness: Harness) -> None:
    request = inside_bid(harness, "maker", 3 * ONE)
    ack = await harness.gateway.place(request)
    assert ack.accepted, ack.reject_reason
    market_id = harness.market_ids[0]
    harness.emulator.quote(market_id, "seller", [], [(request.limit_price_micros, ONE)])
    await harness.emulator.publish()
    await eventually(lambda: len(fills_of(harness, "maker")) == 1)

    canceled = await harness.gateway.cancel(cancel_request(ack.venue_order_id))

    assert canceled.canceled
    await assert_money_invariants(harness)
    assert kinds_of(harness, "maker") == [ACK, FILL, CANCELED]
    assert fills_of(harness, "maker")[0].fee_micros == 0  # makers pay no fee on either venue
    assert harness.reports[-1].qty_micros == 2 * ONE


# -- fill frames -------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [WsFault.DUPLICATE, WsFault.HOLD],
                         ids=["duplicated", "reordered"])
async def test_duplicated_or_reordered_fill_frames_count_each_fill_once(
    harness: Harness, fault: WsFault,
) -> None:
    stream = FILLS[harness.venue]
    harness.server.faults.ws_fault(fault, stream.channel, containing=stream.marker)
    request = sweep(harness, "twice", levels=2)  # two trades: two fill frames

    ack = await harness.gateway.place(request)

    assert ack.accepted, ack.reject_reason
    await assert_money_invariants(harness)  # from the stream alone: no lookup
    assert harness.server.faults.armed == 0


async def test_dropped_fill_frame_is_recovered_by_the_lookup_exactly_once(
    harness: Harness,
) -> None:
    stream = FILLS[harness.venue]
    harness.server.faults.ws_fault(WsFault.DROP, stream.channel, containing=stream.marker)
    request = sweep(harness, "dropped", levels=2)

    ack = await harness.gateway.place(request)
    await eventually(lambda: len(fills_of(harness, "dropped")) == 1)  # the other one's gone
    again = await harness.gateway.reconcile(request)

    assert ack.accepted and again.venue_order_id == ack.venue_order_id
    await assert_money_invariants(harness)
    assert len(fills_of(harness, "dropped")) == 2


@pytest.mark.parametrize("replay", [2, 0], ids=["with-replay", "without-replay"])
async def test_connection_cut_on_a_fill_frame(harness: Harness, replay: int) -> None:
    """With replay the venue re-sends what the dead connection carried (one fill already
    counted among it) and the stream alone counts every fill once; without, the fills of
    the cut are gone and the lookup recovers them."""
    stream = FILLS[harness.venue]
    first = await harness.gateway.place(sweep(harness, "before-cut", levels=1))
    await eventually(lambda: len(fills_of(harness, "before-cut")) == 1)
    harness.server.faults.ws_fault(WsFault.CUT, stream.channel, containing=stream.marker,
                                   replay=replay)
    request = sweep(harness, "cut", levels=2)

    ack = await harness.gateway.place(request)
    await eventually(lambda: harness.transport.reconnects >= 1)

    assert first.accepted and ack.accepted
    if not replay:
        assert fills_of(harness, "cut") == []
        await harness.gateway.reconcile(request)
    await assert_money_invariants(harness)
    assert len(fills_of(harness, "cut")) == 2


# -- book frames -------------------------------------------------------------------------
BOOK_FAULTS = [("kalshi", WsFault.DROP), ("kalshi", WsFault.HOLD),
               ("kalshi", WsFault.DUPLICATE), ("polymarket", WsFault.DUPLICATE)]


@pytest.mark.parametrize(("venue", "fault"), BOOK_FAULTS,
                         ids=[f"{v}-{f.value}" for v, f in BOOK_FAULTS])
async def test_book_frame_faults_leave_the_books_converged(venue: Venue, fault: WsFault) -> None:
    """Kalshi: a dropped delta is a seq gap, a held one arrives behind its successor; both
    invalidate the book and fetch a snapshot. A duplicate is ignored (Kalshi: seq behind;
    Polymarket: sizes are absolute), with no resync."""
    async with opened(venue) as harness:
        snapshots = sum(harness.mirror.snapshots(m) for m in harness.market_ids)
        stream = BOOK_DELTAS[venue]
        harness.server.faults.ws_fault(fault, stream.channel, containing=stream.marker,
                                       after=1)
        for _ in range(3):
            await harness.step()

        await eventually(harness.all_books_match)
        resynced = sum(harness.mirror.snapshots(m) for m in harness.market_ids) - snapshots
        assert (resynced > 0) == (fault is not WsFault.DUPLICATE)
        assert harness.server.faults.armed == 0
        assert harness.mirror.errors == [] and harness.gateway.rejected_messages == 0


async def test_connection_cut_with_replay_on_the_book_channel_converges(
    harness: Harness,
) -> None:
    """Replayed frames come before the new subscription's snapshots, which reset the books."""
    stream = BOOK_DELTAS[harness.venue]
    harness.server.faults.ws_fault(WsFault.CUT, stream.channel, containing=stream.marker,
                                   after=2, replay=6)

    await eventually(lambda: harness.transport.reconnects >= 1, between=harness.step)
    for _ in range(3):
        await harness.step()

    await eventually(harness.all_books_match)
    assert harness.mirror.errors == []


@pytest.mark.parametrize("venue", ["kalshi", "polymarket"])
async def test_a_garbled_book_frame_is_rejected_and_never_leaves_a_wrong_book(venue: Venue) -> None:
    """A delta whose payload is garbage is dropped with a typed rejection, and the books it
    may have touched are unknowable (Kalshi: its sequence number is spent; Polymarket: a lost
    level change shows nowhere), so they go dark and rebuild from fresh snapshots."""
    async with opened(venue) as harness:
        snapshots = sum(harness.mirror.snapshots(m) for m in harness.market_ids)
        stream = BOOK_DELTAS[venue]
        harness.server.faults.ws_fault(WsFault.CORRUPT, stream.channel,
                                       containing=stream.marker, after=1)
        for _ in range(3):
            await harness.step()

        await eventually(lambda: harness.gateway.rejected_messages == 1)
        resynced = sum(harness.mirror.snapshots(m) for m in harness.market_ids) - snapshots
        assert resynced > 0
        await eventually(harness.all_books_match)
        assert harness.server.faults.armed == 0 and harness.mirror.errors == []


@pytest.mark.parametrize("venue", ["kalshi", "polymarket"])
async def test_a_dropped_book_stream_darkens_every_book_until_fresh_snapshots(
    venue: Venue,
) -> None:
    """The moment the book socket drops, the connected gauge reads 0 and every book is
    published empty (nothing trades on a book the venue can no longer update); after the
    reconnect the gauge is back, the reconnect is counted, and fresh snapshots rebuild the
    books to the venue's."""
    async with opened(venue) as harness:
        metrics = harness.gateway.metrics
        reconnects = metrics.reconnects._value.get()
        dark: dict[str, float] = {}  # market -> the gauge when its empty book was published
        mirror = harness.gateway.on_book

        async def watch(event: market_data_pb2.BookEvent) -> None:
            if event.HasField("snapshot") and not (event.snapshot.bids or event.snapshot.asks):
                dark.setdefault(event.snapshot.market_id, metrics.connected._value.get())
            await mirror(event)

        harness.gateway.on_book = watch
        stream = BOOK_DELTAS[venue]
        harness.server.faults.ws_fault(WsFault.CUT, stream.channel, containing=stream.marker)
        await eventually(lambda: set(dark) == set(harness.market_ids), between=harness.step)
        assert set(dark.values()) == {0.0}

        await eventually(lambda: metrics.reconnects._value.get() == reconnects + 1)
        assert metrics.connected._value.get() == 1.0
        for _ in range(2):
            await harness.step()
        await eventually(harness.all_books_match)
        assert all(harness.mirror.books[m].bids or harness.mirror.books[m].asks
                   for m in harness.market_ids)
