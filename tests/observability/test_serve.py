"""`arbiter run` can be scraped: /metrics serves the arbiter_ metrics of the embedded mesh."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from arbiter.platform.config import load_config
from arbiter.platform.telemetry import metrics
from arbiter.platform.telemetry.serve import serve_telemetry
from arbiter.platform.venues import VENUES
from arbiter.topology.embedded import EmbeddedMesh

pytestmark = pytest.mark.usefixtures("telemetry_reset")

BOUNDED = {
    "hop": set(metrics.HOPS),
    "venue": set(VENUES.slugs()),
    "service": {"gateway", "orderbook", "detector"},
    "state": set(metrics.SAGA_END_STATES),
    "strategy": set(metrics.STRATEGIES),
}


async def test_metrics_endpoint_serves_the_mesh_metrics() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"market.seed": 7}))
    async with serve_telemetry("embedded", 0, host="127.0.0.1") as server:
        assert server is not None
        await mesh.start()
        for _ in range(120):
            await mesh.step()
        url = f"http://127.0.0.1:{server.port}/metrics"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                assert response.status == 200
                text = await response.text()
            async with http.get(url, headers={"Accept": "application/openmetrics-text"}) as om:
                assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        await mesh.stop()

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text)
               if family.name.startswith("arbiter_") for s in family.samples}
    assert samples[("arbiter_hop_latency_seconds_count", (("hop", "book_applied"),))] > 0
    assert samples[("arbiter_tick_latency_seconds_count", (("hop", "opportunity"),))] > 0
    assert samples[("arbiter_book_events_total", (("venue", "kalshi"),))] > 0
    assert samples[("arbiter_venue_connected", (("venue", "polymarket"),))] == 1
    assert samples[("arbiter_opportunities_seen_total", ())] > 0
    assert ("arbiter_books_stale", (("venue", "kalshi"),)) in samples
    # Label values come from fixed vocabularies, never from traffic.
    for _, labels in samples:
        for label, value in labels:
            if label in BOUNDED:
                assert value in BOUNDED[label], (label, value)
