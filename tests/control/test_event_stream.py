"""The control event stream under load: a busy saga stream must not starve the audit poll
(alerts come from the audit), and a subscriber that cannot keep up is ended, not grown
without bound."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from arbiter.control import service as control_service
from arbiter.control.service import ControlServicer
from arbiter.platform.bus import MemoryBus
from arbiter.platform.bus.base import Envelope
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import load_config
from arbiter.platform.rpc import LocalContext, LocalStub
from arbiter.topology import builders
from arbiter.v1 import common_pb2, control_pb2, saga_pb2

TENANT = common_pb2.TenantContext(tenant_id="default", tier="paper")


def control_and_risk() -> tuple[ControlServicer, builders.RiskServicer]:
    plane = builders.Plane.of(load_config(environ={}), MemoryBus(), SystemClock())
    risk = builders.build_risk(plane)
    return ControlServicer(plane.bus, TENANT, LocalStub(risk), {}), risk  # type: ignore[arg-type]


def saga_event(n: int) -> Envelope[saga_pb2.SagaEvent]:
    event = saga_pb2.SagaEvent(tenant_id="default", saga_id=f"s{n}", version=1,
                               state=saga_pb2.SAGA_STATE_CREATED, ts_micros=n)
    return Envelope("saga.events", f"s{n}", event)


async def test_an_alert_gets_through_a_saga_stream_that_never_pauses() -> None:
    control, risk = control_and_risk()
    stream = control.Events(control_pb2.EventsRequest(tenant=TENANT), LocalContext())
    alert = asyncio.Event()

    async def read() -> None:  # slower than the flood, as a network write can be
        async for event in stream:
            if event.WhichOneof("kind") == "alert":
                alert.set()
                return
            await asyncio.sleep(0.005)

    async def flood() -> None:
        n = 0
        while True:  # faster than the reader: the stream's queue is never empty
            n += 1
            await control.on_saga_event(saga_event(n))
            await asyncio.sleep(0.001)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)  # subscribed
    flooding = asyncio.create_task(flood())
    risk.state.latch_operator("kill switch: under load", "ops")
    try:
        async with asyncio.timeout(3 * control_service.AUDIT_POLL_S + 1):
            await alert.wait()
    finally:
        for task in (flooding, reader):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_subscriber_that_cannot_keep_up_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control_service, "SUBSCRIBER_QUEUE", 5)
    control, _ = control_and_risk()
    stream = control.Events(control_pb2.EventsRequest(tenant=TENANT), LocalContext())
    first = asyncio.ensure_future(anext(stream))  # subscribes, then waits for an event
    await asyncio.sleep(0.1)
    for n in range(50):  # nobody reads while these arrive
        await control.on_saga_event(saga_event(n))
    received = [await first]
    async with asyncio.timeout(5):
        async for event in stream:
            received.append(event)
    assert 1 <= len(received) <= 5  # what was queued when it fell behind, then the end
    assert not control._streams
