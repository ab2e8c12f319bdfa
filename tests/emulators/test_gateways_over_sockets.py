"""Both production gateways against socket-served emulators: books, orders, reconnects, 429s."""

from __future__ import annotations

from arbiter.core.units import QTY_SCALE
from arbiter.platform.config import load_config
from arbiter.topology.listings import Listings
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import execution_pb2
from arbiter.venues.plugin import plugin

from .conftest import Harness, eventually

ONE_CONTRACT = QTY_SCALE
ACK, FILL, CANCELED, REJECT = (execution_pb2.REPORT_KIND_ACK, execution_pb2.REPORT_KIND_FILL,
                               execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT)


async def test_books_arrive_as_snapshot_then_deltas_and_track_the_emulator(
    harness: Harness,
) -> None:
    await eventually(harness.all_books_match)
    for _ in range(5):
        await harness.step()
    await eventually(harness.all_books_match)
    for market_id in harness.market_ids:
        kinds = harness.mirror.kinds[market_id]
        assert kinds[0] == "snapshot"
        assert kinds.count("snapshot") == 1 and "delta" in kinds
    assert harness.mirror.errors == []
    assert harness.gateway.rejected_messages == 0


async def test_kalshi_tickers_carry_the_venues_top_of_book_last_trade_and_volume(
    kalshi: Harness,
) -> None:
    await eventually(kalshi.all_books_match)
    market_id = kalshi.market_ids[0]
    bids, asks = kalshi.engine(market_id).snapshot()
    ack = await kalshi.gateway.place(kalshi.ioc_buy_yes("tick", asks[0][0], ONE_CONTRACT))
    assert ack.accepted
    await kalshi.step()
    await eventually(kalshi.all_books_match)
    engine = kalshi.engine(market_id)
    bids, asks = engine.snapshot()

    def current() -> bool:
        ticker = kalshi.mirror.tickers.get(market_id)
        return ticker is not None and (ticker.yes_bid_micros, ticker.yes_ask_micros) == (
            bids[0][0], asks[0][0])

    await eventually(current)
    ticker = kalshi.mirror.tickers[market_id]
    assert ticker.last_price_micros == engine.last_price > 0
    assert ticker.volume_micros == engine.volume >= ONE_CONTRACT
    assert kalshi.gateway.rejected_messages == 0


async def test_ioc_order_fills_then_cancels_the_remainder_in_order(harness: Harness) -> None:
    await eventually(harness.all_books_match)
    market_id = harness.market_ids[0]
    _, asks = harness.engine(market_id).snapshot()
    best_ask, best_qty = asks[0]
    request = harness.ioc_buy_yes("ioc-1", best_ask, best_qty + ONE_CONTRACT)

    ack = await harness.gateway.place(request)

    assert ack.accepted, ack.reject_reason
    await eventually(lambda: len(harness.reports) >= 3)
    assert [r.kind for r in harness.reports] == [ACK, FILL, CANCELED]
    fill, canceled = harness.reports[1], harness.reports[2]
    assert (fill.price_micros, fill.qty_micros) == (best_ask, best_qty)
    assert canceled.qty_micros == ONE_CONTRACT
    assert all(r.venue_order_id == ack.venue_order_id for r in harness.reports)
    assert sum(harness.emulator.account.positions.values()) == best_qty


async def test_dropped_socket_reconnects_resubscribes_and_rebuilds_the_books(
    harness: Harness,
) -> None:
    await eventually(harness.all_books_match)
    market_id = harness.market_ids[0]
    snapshots_before = harness.mirror.snapshots(market_id)
    harness.server.faults.drop_ws_after(3, channel=harness.book_channel)

    await eventually(lambda: harness.transport.reconnects >= 1, between=harness.step)
    await eventually(lambda: harness.mirror.snapshots(market_id) > snapshots_before)
    for _ in range(3):
        await harness.step()

    await eventually(harness.all_books_match)
    assert harness.server.ws_connections > len(harness.transport.channels)
    assert harness.mirror.errors == []
    assert harness.gateway.rejected_messages == 0


async def test_rate_limited_order_post_is_a_reject_with_the_venue_reason(
    harness: Harness,
) -> None:
    await eventually(harness.all_books_match)
    _, asks = harness.engine(harness.market_ids[0]).snapshot()
    harness.server.faults.fail_orders(429)

    ack = await harness.gateway.place(harness.ioc_buy_yes("limited-1", asks[0][0], ONE_CONTRACT))

    assert not ack.accepted
    assert [r.kind for r in harness.reports] == [REJECT]
    assert harness.reports[0].reason.lower() == "too many requests"
    assert harness.emulator.orders == {}  # type: ignore[attr-defined]
    assert not any(harness.emulator.account.positions.values())
    # the fault was one-shot: the next order goes through
    retry = await harness.gateway.place(harness.ioc_buy_yes("limited-2", asks[0][0], ONE_CONTRACT))
    assert retry.accepted, retry.reject_reason


async def test_junk_from_a_client_never_kills_the_emulators_session(harness: Harness) -> None:
    """`null`, `[]`, a bare string and wrongly shaped commands are ignored: the same
    connection keeps carrying the books."""
    await eventually(harness.all_books_match)
    connections = harness.server.ws_connections
    junk = (b"null", b"[]", b'"subscribe"', b"{", b'{"cmd": "subscribe", "params": 5}',
            b'{"assets_ids": 7}', b'{"type": "user", "markets": 3}')
    for channel in harness.transport.channels:
        for frame in junk:
            await channel.send(frame)
    # some shapes are valid JSON a venue may shrug at; none may close the session
    await eventually(lambda: harness.server.ignored_client_frames >= 3 * len(
        harness.transport.channels))
    for _ in range(3):
        await harness.step()
    await eventually(harness.all_books_match)
    assert harness.server.ws_connections == connections
    assert harness.transport.reconnects == 0


async def test_a_market_listed_while_running_streams_trades_and_survives_a_reconnect(
    harness: Harness,
) -> None:
    """The living market's successor, as the venue lists it: the gateway subscribes it on
    the running streams, trades it, and resubscribes it with the others after a drop."""
    await eventually(harness.all_books_match)
    config = load_config(environ={}, overrides={"market.seed": 7})
    listings = Listings.of(TradingUniverse.from_config(config.market), config.market.pairs)
    _, pair, fresh = listings.successor(config.market.pairs[0].pair_id)
    for entry in fresh:
        harness.market.venues[entry.market.venue].list_market(entry.market, entry.fees)
    harness.market.add_pair(pair)
    mine = next(entry for entry in fresh if entry.market.venue == harness.venue)
    new_id = mine.market.market_id
    harness.mirror.ticks[new_id] = mine.market.tick_micros
    await harness.step()

    await plugin(harness.venue).add_market(harness.gateway, mine)

    await eventually(lambda: harness.mirror.matches(new_id, harness.engine(new_id)),
                     between=harness.step)
    _, asks = harness.engine(new_id).snapshot()
    request = harness.ioc_buy_yes("listed-1", asks[0][0], ONE_CONTRACT)
    request.market_id = new_id
    ack = await harness.gateway.place(request)
    assert ack.accepted, ack.reject_reason
    await eventually(lambda: any(r.kind == FILL and r.client_order_id == "listed-1"
                                 for r in harness.reports))
    fill = next(r for r in harness.reports if r.kind == FILL)
    assert (fill.market_id, fill.price_micros, fill.qty_micros) == (
        new_id, asks[0][0], ONE_CONTRACT)

    snapshots = harness.mirror.snapshots(new_id)
    harness.server.faults.drop_ws_after(1, channel=harness.book_channel)
    await eventually(lambda: harness.transport.reconnects >= 1, between=harness.step)
    await eventually(lambda: harness.mirror.snapshots(new_id) > snapshots, between=harness.step)
    await eventually(harness.all_books_match, between=harness.step)
    assert harness.mirror.errors == [] and harness.gateway.rejected_messages == 0
