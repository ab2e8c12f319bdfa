"""On the embedded mesh, real gateways parsing real venue frames feed the detector and the
order book service the same book events: their books agree at every step, and an event
lost on the bus is a gap for both, healed by a fresh venue snapshot the order book service
asks the gateway for."""

from __future__ import annotations

from arbiter.core.book import L2Book
from arbiter.platform import topics
from arbiter.platform.bus import Envelope
from arbiter.platform.config import load_config
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.v1 import market_data_pb2


def _levels(book: L2Book) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return list(book.iter_bids()), list(book.iter_asks())


def _assert_agree(mesh: EmbeddedMesh) -> None:
    ours, theirs = mesh.detector.feed, mesh.orderbook.feed
    assert ours.books.keys() == theirs.books.keys()
    assert ours.stale == theirs.stale
    for key, book in ours.books.items():
        assert _levels(book) == _levels(theirs.books[key]), key
        assert book.seq == theirs.books[key].seq


async def test_detector_and_order_book_keep_the_same_books() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"market.seed": 7}))
    await mesh.start()
    assert not mesh.detector.feed.stale  # every gateway sent its snapshots at start
    for _ in range(60):
        await mesh.step()
        _assert_agree(mesh)
    assert mesh.detector.published > 0
    await mesh.stop()


async def test_a_book_event_lost_on_the_bus_is_seen_by_both_and_resynced() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"market.seed": 7}))
    pair = mesh.universe.pairs[0]
    lost = pair.b  # a Kalshi market
    gateway = mesh.gateways[lost.venue]
    publish = gateway.on_book
    armed = False

    async def lossy(event: market_data_pb2.BookEvent) -> None:
        nonlocal armed
        if armed and event.WhichOneof("event") == "delta" and \
                event.delta.market_id == lost.market_id:
            armed = False
            return
        await publish(event)

    gateway.on_book = lossy
    asked: list[str] = []

    async def heard(envelope: Envelope[market_data_pb2.BookResyncRequest]) -> None:
        asked.append(envelope.value.market_id)

    mesh.bus.subscribe(topics.BOOK_RESYNC, "observer", market_data_pb2.BookResyncRequest, heard)
    await mesh.start()
    for _ in range(5):
        await mesh.step()
    gaps = mesh.detector.feed.gaps, mesh.orderbook.feed.gaps
    armed = True
    while armed:  # the next delta on that market is lost
        await mesh.step()
    for _ in range(3):  # the gap shows on the market's next delta
        await mesh.step()
    await mesh.settle()
    # both saw the gap; the order books asked the gateway, which never saw anything wrong,
    # for a fresh snapshot of that one market, and both books are live on it again
    assert mesh.detector.feed.gaps > gaps[0] and mesh.orderbook.feed.gaps > gaps[1]
    assert asked == [lost.market_id]
    assert lost.key not in mesh.detector.feed.stale
    assert _levels(mesh.detector.feed.books[lost.key]) == \
        mesh.venue(lost.venue).engines[lost.market_id].snapshot()
    _assert_agree(mesh)
    for _ in range(20):
        await mesh.step()
    _assert_agree(mesh)

    await gateway.books_lost()  # the gateway darkens every book and restarts their seqs
    await mesh.settle()
    assert lost.key not in mesh.detector.feed.stale
    assert _levels(mesh.detector.feed.books[lost.key]) == ([], [])
    _assert_agree(mesh)
    await mesh.stop()
