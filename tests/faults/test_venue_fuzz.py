"""Adversarial venue frames: real frames the emulators sent (books, deltas, fills, trades),
mutated by hypothesis, fed to the real gateways' handlers. Whatever arrives, nothing raises
out of a handler (every rejection is typed, counted and logged), no book event names a
market we did not subscribe or a price outside (0, 1) or a negative size, and every fill
report describes a fill an exchange could make."""

from __future__ import annotations

import os
from typing import Any

import orjson
from gateways.venues import ONE, Setup, open_venue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.core.units import ONE_DOLLAR
from arbiter.v1 import execution_pb2, market_data_pb2

EXAMPLES = int(os.environ.get("ARBITER_FUZZ_EXAMPLES", "150"))
"""Per venue per run; raise it for a long soak (ARBITER_FUZZ_EXAMPLES=20000)."""

JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),  # what JSON encoders carry
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-1", "1e999999", "NaN", "0.5", "1.0000001", "\u0000", "x" * 300,
                     "KXFEDCUTDEC", "0x" + "0" * 63 + "1", "orderbook_delta", "price_change"]),
    st.text(max_size=20))
JSON = st.recursive(JSON_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10)


def mutations(frame: object) -> st.SearchStrategy[object]:
    """The frame with one value replaced (anywhere in it), one key dropped, or whole junk."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: object, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, (*path, key))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, (*path, index))

    walk(frame, ())

    def replaced(path: tuple[Any, ...], value: object, drop: bool) -> object:
        copy = orjson.loads(orjson.dumps(frame))
        if not path:
            return value
        parent = copy
        for step in path[:-1]:
            parent = parent[step]
        if drop and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
        return copy

    return st.one_of(
        st.builds(replaced, st.sampled_from(paths), JSON, st.booleans()),
        JSON)


class Recorded:
    """One venue's gateway, with the frames its emulator sent, by the handler they went to."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.frames: list[tuple[Any, bytes]] = []
        self.corpus: tuple[tuple[Any, bytes], ...] = ()
        self.checked = 0  # book events already checked
        self.books: list[market_data_pb2.BookEvent] = []
        for session in setup.emulator.sessions:
            handler = session.sink

            async def record(frame: bytes, handler: Any = handler) -> None:
                self.frames.append((handler, frame))
                await handler(frame)

            session.sink = record

        async def on_book(event: market_data_pb2.BookEvent) -> None:
            self.books.append(event)

        setup.gateway.on_book = on_book

    @classmethod
    async def open(cls, venue: str) -> Recorded:
        recorded = cls(await open_venue(venue))
        setup = recorded.setup
        _, asks = setup.book()
        await setup.gateway.place(setup.request(asks[0][0], 2 * ONE))  # fill frames
        for _ in range(3):
            await setup.emulator.advance_clock(setup.emulator.now_ms + 1_000)
            await setup.emulator.publish()
        await setup.settle()
        assert {b"fill" in f or b"trade" in f for _, f in recorded.frames} == {True, False}
        recorded.corpus = tuple(recorded.frames[:60])  # fixed: hypothesis replays draws
        return recorded


def check_invariants(recorded: Recorded) -> None:
    """Over what the last frame produced (the reports' totals over all of them)."""
    markets = set(recorded.setup.gateway.markets)
    fresh, recorded.checked = recorded.books[recorded.checked:], len(recorded.books)
    for event in fresh:
        body = getattr(event, event.WhichOneof("event"))
        assert body.market_id in markets, body.market_id
        levels = (list(body.bids) + list(body.asks) if event.HasField("snapshot")
                  else list(body.bid_changes) + list(body.ask_changes)
                  if event.HasField("delta") else [])
        for level in levels:
            assert 0 < level.price_micros < ONE_DOLLAR and level.qty_micros >= 0, level
    filled: dict[str, int] = {}
    for report in recorded.setup.reports:
        if report.kind == execution_pb2.REPORT_KIND_FILL:
            assert 0 < report.price_micros < ONE_DOLLAR and report.qty_micros > 0
            assert report.fee_micros >= 0
            filled[report.client_order_id] = filled.get(report.client_order_id, 0) + \
                report.qty_micros
        if report.kind == execution_pb2.REPORT_KIND_CANCELED:
            assert report.qty_micros >= 0
    for coid, qty in filled.items():
        assert qty <= 2 * ONE, (coid, qty)


def fuzz(venue: str) -> Any:
    cache: dict[str, Recorded] = {}

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(st.data())
    async def test(data: st.DataObject) -> None:
        if venue not in cache:
            cache[venue] = await Recorded.open(venue)
        recorded = cache[venue]
        handler, frame = data.draw(st.sampled_from(recorded.corpus))
        mutated = data.draw(mutations(orjson.loads(frame)))
        await handler(orjson.dumps(mutated))  # must not raise, whatever it is
        await recorded.setup.settle()
        check_invariants(recorded)

    return test


test_kalshi_frames_survive_mutation = fuzz("kalshi")
test_polymarket_frames_survive_mutation = fuzz("polymarket")
