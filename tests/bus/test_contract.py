"""The bus contract: every case runs against MemoryBus and against KafkaBus on tansu."""

from __future__ import annotations

import asyncio
import collections
import logging

import pytest

from arbiter.platform.bus import Deduplicator, Envelope
from arbiter.platform.bus.base import HEADER_MESSAGE_ID, HEADER_TENANT
from arbiter.v1 import market_data_pb2

from .conftest import BusFactory, eventually, settle

Delta = market_data_pb2.BookDelta


def delta(key: str, seq: int) -> Delta:
    return Delta(venue="kalshi", market_id=key, seq=seq)


async def test_round_trip_keeps_value_key_and_headers(make_bus: BusFactory, uid: str) -> None:
    bus = make_bus(topic_prefix=f"{uid}.")
    got: list[Envelope[market_data_pb2.BookEvent]] = []

    async def handler(envelope: Envelope[market_data_pb2.BookEvent]) -> None:
        got.append(envelope)

    bus.subscribe("books", "orderbook", market_data_pb2.BookEvent, handler)
    await bus.start()
    sent = market_data_pb2.BookEvent(
        snapshot=market_data_pb2.BookSnapshot(
            venue="polymarket",
            market_id="0xabc",
            seq=7,
            bids=[market_data_pb2.PriceLevel(price_micros=410_000, qty_micros=5_000_000)],
            asks=[market_data_pb2.PriceLevel(price_micros=430_000, qty_micros=1_000_000)],
        ),
        received_micros=1_700_000_000_000_000,
    )
    await bus.publish("books", "polymarket:0xabc", sent, {HEADER_TENANT: "acme", "trace": "t-1"})
    await eventually(lambda: len(got) == 1)

    envelope = got[0]
    assert envelope.value == sent
    assert envelope.key == "polymarket:0xabc"
    assert envelope.topic == f"{uid}.books"
    assert envelope.headers[HEADER_TENANT] == "acme"
    assert envelope.headers["trace"] == "t-1"
    assert envelope.headers[HEADER_MESSAGE_ID]
    assert 0 <= envelope.partition < 4


async def test_messages_with_one_key_arrive_in_order(make_bus: BusFactory, uid: str) -> None:
    bus = make_bus()
    keys = [f"kalshi:M{n}" for n in range(7)]
    seen: dict[str, list[int]] = collections.defaultdict(list)

    async def handler(envelope: Envelope[Delta]) -> None:
        for _ in range(envelope.value.seq % 4):  # uneven work: concurrent handling would reorder
            await asyncio.sleep(0)
        seen[envelope.key].append(envelope.value.seq)

    bus.subscribe(f"deltas-{uid}", "orderbook", Delta, handler)
    await bus.start()
    for i in range(200):
        key = keys[i % len(keys)]
        await bus.publish(f"deltas-{uid}", key, delta(key, i))

    await eventually(lambda: sum(map(len, seen.values())) == 200)
    for n, key in enumerate(keys):
        assert seen[key] == list(range(n, 200, len(keys))), key


async def test_every_group_receives_every_message(make_bus: BusFactory, uid: str) -> None:
    bus = make_bus()
    groups = ["detector", "recorder", "ui"]
    seen: dict[str, list[int]] = {group: [] for group in groups}
    for group in groups:

        async def handler(envelope: Envelope[Delta], group: str = group) -> None:
            seen[group].append(envelope.value.seq)

        bus.subscribe(f"depth-{uid}", group, Delta, handler)
    await bus.start()
    for i in range(30):
        await bus.publish(f"depth-{uid}", f"m{i % 5}", delta(f"m{i % 5}", i))

    await eventually(lambda: all(len(s) == 30 for s in seen.values()))
    await settle(bus)
    for group in groups:
        assert sorted(seen[group]) == list(range(30)), group


async def test_members_of_one_group_share_the_messages(make_bus: BusFactory, uid: str) -> None:
    bus = make_bus()
    handled: dict[str, list[int]] = {"a": [], "b": []}
    for member in handled:  # noqa: PLC0206 - binds each member into its handler

        async def handler(envelope: Envelope[Delta], member: str = member) -> None:
            handled[member].append(envelope.value.seq)

        bus.subscribe(f"opps-{uid}", "saga", Delta, handler)
    await bus.start()
    for i in range(60):
        await bus.publish(f"opps-{uid}", f"pair-{i % 20}", delta(f"pair-{i % 20}", i))

    await eventually(lambda: len(handled["a"]) + len(handled["b"]) >= 60)
    await settle(bus)
    assert sorted(handled["a"] + handled["b"]) == list(range(60))  # each exactly once
    assert handled["a"] and handled["b"], "partitions are shared out among members"


async def test_failing_handler_is_retried_in_place(make_bus: BusFactory, uid: str) -> None:
    bus = make_bus(max_attempts=5)
    calls: list[int] = []

    async def handler(envelope: Envelope[Delta]) -> None:
        calls.append(envelope.value.seq)
        if envelope.value.seq == 0 and calls.count(0) <= 2:
            raise RuntimeError("transient")

    bus.subscribe(f"fills-{uid}", "risk", Delta, handler)
    await bus.start()
    for seq in range(5):
        await bus.publish(f"fills-{uid}", "saga-1", delta("saga-1", seq))

    await eventually(lambda: len(calls) >= 7)
    await settle(bus)
    assert calls == [0, 0, 0, 1, 2, 3, 4]


async def test_poison_message_is_skipped_after_max_attempts(
    make_bus: BusFactory, uid: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus = make_bus(max_attempts=3)
    calls: list[int] = []

    async def handler(envelope: Envelope[Delta]) -> None:
        calls.append(envelope.value.seq)
        if envelope.value.seq == 0:
            raise ValueError("poison")

    bus.subscribe(f"reports-{uid}", "saga", Delta, handler)
    await bus.start()
    with caplog.at_level(logging.ERROR):
        for seq in range(3):
            await bus.publish(f"reports-{uid}", "order-1", delta("order-1", seq))
        await eventually(lambda: calls[-1:] == [2])
        await settle(bus)

    assert calls == [0, 0, 0, 1, 2]  # skipped for good: not redelivered after the skip
    assert "giving up" in caplog.text


async def test_deduplicator_handles_redeliveries_once(make_bus: BusFactory, uid: str) -> None:
    bus = make_bus()
    dedup = Deduplicator()
    ids: list[str] = []
    effects: list[int] = []

    async def handler(envelope: Envelope[Delta]) -> None:
        ids.append(envelope.message_id)
        if dedup.first_time(envelope.message_id):
            effects.append(envelope.value.seq)
        if len(ids) == 1:
            raise ConnectionError("ack lost after the effect was applied")

    bus.subscribe(f"fills-{uid}", "positions", Delta, handler)
    await bus.start()
    await bus.publish(f"fills-{uid}", "order-7", delta("order-7", 1))
    # A producer that retried a send after a timeout: same message id, published twice.
    for _ in range(2):
        await bus.publish(
            f"fills-{uid}", "order-7", delta("order-7", 2), {HEADER_MESSAGE_ID: "fill-42"}
        )

    await eventually(lambda: len(ids) >= 4)
    await settle(bus)
    assert ids[0] == ids[1] != "fill-42"  # the redelivery carries the same id
    assert ids[2:] == ["fill-42", "fill-42"]
    assert effects == [1, 2]


async def test_topic_prefix_isolates_tenants(make_bus: BusFactory, uid: str) -> None:
    tenants = {"a": make_bus(topic_prefix=f"{uid}-a."), "b": make_bus(topic_prefix=f"{uid}-b.")}
    seen: dict[str, list[Envelope[Delta]]] = {"a": [], "b": []}
    for name, bus in tenants.items():

        async def handler(envelope: Envelope[Delta], name: str = name) -> None:
            seen[name].append(envelope)

        bus.subscribe("fills", "risk", Delta, handler)  # same logical topic and group
    await asyncio.gather(*(bus.start() for bus in tenants.values()))
    for name, bus in tenants.items():
        for seq in range(10):
            await bus.publish("fills", f"{name}-order", delta(f"{name}-order", seq))

    await eventually(lambda: len(seen["a"]) >= 10 and len(seen["b"]) >= 10)
    await settle(*tenants.values())
    for name in tenants:
        assert [e.value.seq for e in seen[name]] == list(range(10))
        assert {e.key for e in seen[name]} == {f"{name}-order"}
        assert {e.topic for e in seen[name]} == {f"{uid}-{name}.fills"}
