"""Bus contract fixtures: one `make_bus` factory per implementation, a tansu broker per session.

Each test gets fresh, unique topic and group names (`uid`), so tests sharing the session
broker never see each other's messages or committed offsets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from arbiter.platform.bus import Bus, MemoryBus
from arbiter.platform.bus.kafka import KafkaBus

BusFactory = Callable[..., Bus]



@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def bootstrap(request: pytest.FixtureRequest) -> str:
    """The Kafka bootstrap address, or "" for the memory bus (which then starts no broker)."""
    return request.getfixturevalue("tansu_bootstrap") if request.param == "kafka" else ""


@pytest.fixture
async def make_bus(bootstrap: str) -> AsyncIterator[BusFactory]:
    """Build buses of one implementation (same options for both); all stopped at teardown."""
    buses: list[Bus] = []

    def make(topic_prefix: str = "", max_attempts: int = 5) -> Bus:
        bus: Bus
        if bootstrap:
            # 2 s session timeout: tansu holds a group's first join for ~half of it.
            bus = KafkaBus(bootstrap, topic_prefix, max_attempts, partitions=4,
                           fetch_max_wait_ms=10, session_timeout_ms=2000)
        else:
            bus = MemoryBus(partitions=4, topic_prefix=topic_prefix, max_attempts=max_attempts)
        buses.append(bus)
        return bus

    yield make
    await asyncio.gather(*(bus.stop() for bus in buses))


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


async def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll `condition` until it holds; fail with a timeout instead of sleeping blindly."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.005)


async def settle(*buses: Bus, timeout: float = 15.0) -> None:
    """Wait until every delivery so far is handled (and, on Kafka, committed), so that a
    later assertion that something did *not* happen is meaningful."""
    # Both buses have drained(); it is not on the Bus ABC (yet).
    waits = [bus.drained() for bus in buses]  # type: ignore[attr-defined]
    await asyncio.wait_for(asyncio.gather(*waits), timeout)
