"""One saga, one trace, across services, over the real tansu broker."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from arbiter.platform.bus import KafkaBus
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import load_config
from arbiter.platform.telemetry import tracing
from arbiter.topology.embedded import EmbeddedMesh

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("telemetry_reset")]


def _service(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get(tracing.ATTR_SERVICE, ""))


async def test_spans_of_one_saga_share_one_trace_across_services(tansu_bootstrap: str) -> None:
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("arbiter-embedded", exporter=exporter)
    config = load_config(environ={}, overrides={"market.seed": 7})
    bus = KafkaBus(tansu_bootstrap, topic_prefix=f"obs-{uuid.uuid4().hex[:8]}.",
                   fetch_max_wait_ms=5, session_timeout_ms=2000)
    mesh = await EmbeddedMesh.build(config, bus=bus, clock=SystemClock())
    await mesh.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 40
        while not mesh.saga.stats().completed and loop.time() < deadline:
            await mesh.step()
            await asyncio.sleep(0.02)
        await mesh.wait_for_sagas()
        assert mesh.saga.stats().completed, "no saga completed on the Kafka mesh"
    finally:
        await mesh.stop()

    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in exporter.get_finished_spans():
        by_trace[span.context.trace_id].append(span)
    saga_traces = {tid: spans for tid, spans in by_trace.items()
                   if any(s.name.endswith("/PlaceOrder") for s in spans)}
    assert saga_traces, "no trace reached an order"
    best = max(saga_traces.values(), key=lambda spans: len({_service(s) for s in spans}))
    services = {_service(s) for s in best}
    assert {"gateway", "orderbook", "detector", "saga", "risk"} <= services, services
    # One tree, rooted at the venue tick: every span's parent is in the same trace.
    ids = {s.context.span_id for s in best}
    roots = [s for s in best if s.parent is None or s.parent.span_id not in ids]
    assert [r.name for r in roots] == ["venue book event"]
    assert any(s.name.startswith("saga") and "exec.reports" in s.name for s in best), \
        "the saga's handling of its own execution reports joins the trace"
