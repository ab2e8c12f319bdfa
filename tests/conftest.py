"""Fixtures shared across test areas."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from arbiter.platform.bus import TansuBroker


@pytest.fixture(scope="session")
def tansu_bootstrap() -> Iterator[str]:
    """One real tansu Kafka broker for the whole session, on a free loopback port.

    It runs as a plain subprocess, not tied to any test's event loop, and is stopped (and
    reaped) at the end of the session."""
    broker = TansuBroker()
    asyncio.run(broker.start())
    try:
        yield broker.bootstrap
    finally:
        asyncio.run(broker.stop())
