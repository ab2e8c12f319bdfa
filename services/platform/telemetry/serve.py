"""Telemetry for `arbiter run`: the embedded topology is scraped like a cluster service.

`serve_telemetry` is what the runner enters around a run: logs, tracing when
configured, and `/metrics` (+ `/healthz`, `/readyz`) on the given port — the same endpoint
every `arbiter serve` pod has, so the same dashboards and alerts work on a laptop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from arbiter.platform.health import HealthServer
from arbiter.platform.telemetry.logging import configure_logging
from arbiter.platform.telemetry.tracing import setup_tracing, shutdown_tracing


@contextlib.asynccontextmanager
async def serve_telemetry(
    service: str, metrics_port: int | None, host: str = "127.0.0.1",
    log_level: int | str | None = None,
) -> AsyncIterator[HealthServer | None]:
    """Logs and tracing for the block; metrics on `metrics_port` (0: any free port, None:
    not served), on loopback unless `host` says otherwise: a laptop run should not expose
    its metrics to the network. Yields the server (its `.port` is the bound one) once it
    is ready.

    Logs are at `log_level`, else the operator's `--log-level`, else warning (the live view
    owns the terminal); their format is the operator's `--log-format`, else console on a
    terminal and JSON otherwise."""
    configure_logging(log_level, default_level=logging.WARNING)
    setup_tracing(service)
    server = None
    try:
        if metrics_port is not None:
            server = HealthServer(host, metrics_port, service)
            await server.start()
            server.ready = True
        yield server
    finally:
        if server is not None:
            await server.stop()
        shutdown_tracing()
