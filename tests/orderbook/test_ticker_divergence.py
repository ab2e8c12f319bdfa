"""The order book service checks our book's top against the venue's own ticker."""

from __future__ import annotations

from arbiter.core.instruments import Market
from arbiter.core.units import CENT, QTY_SCALE
from arbiter.orderbook.service import DIVERGENT_TICKERS, OrderBookService
from arbiter.platform import topics
from arbiter.platform.bus import Envelope, MemoryBus
from arbiter.platform.telemetry import metrics
from arbiter.v1 import market_data_pb2

MARKET = Market("kalshi", "KX", tick_micros=CENT)


def _divergences() -> float:
    return metrics.BOOK_DIVERGENCES.labels(venue="kalshi")._value.get()


async def _feed(service: OrderBookService, event: market_data_pb2.BookEvent) -> None:
    await service.on_book_event(Envelope(topics.BOOKS, MARKET.key, event))


def _ticker(bid: int, ask: int) -> market_data_pb2.BookEvent:
    return market_data_pb2.BookEvent(ticker=market_data_pb2.Ticker(
        venue="kalshi", market_id="KX", yes_bid_micros=bid, yes_ask_micros=ask))


async def test_a_lasting_divergence_is_counted_once_per_episode_and_a_race_is_not() -> None:
    service = OrderBookService(MemoryBus(), [MARKET])
    level = market_data_pb2.PriceLevel
    await _feed(service, market_data_pb2.BookEvent(snapshot=market_data_pb2.BookSnapshot(
        venue="kalshi", market_id="KX", seq=1,
        bids=[level(price_micros=40 * CENT, qty_micros=QTY_SCALE)],
        asks=[level(price_micros=45 * CENT, qty_micros=QTY_SCALE)])))
    before = _divergences()

    await _feed(service, _ticker(41 * CENT, 45 * CENT))  # one ticker racing a delta
    await _feed(service, _ticker(40 * CENT, 45 * CENT))
    assert _divergences() == before

    for _ in range(DIVERGENT_TICKERS + 2):  # the venue's book really is elsewhere
        await _feed(service, _ticker(41 * CENT, 45 * CENT))
    assert _divergences() == before + 1
    await _feed(service, _ticker(40 * CENT, 45 * CENT))  # agrees again: a new episode next
    for _ in range(DIVERGENT_TICKERS):
        await _feed(service, _ticker(40 * CENT, 44 * CENT))
    assert _divergences() == before + 2
    assert service.updates == 1  # tickers are not book updates
