"""NonceX registered for each module of its own tests, over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from emulators.conftest import Harness, open_harness

from .noncex.demo import demo_pairs
from .noncex.plugin import registered


@pytest.fixture(scope="module", autouse=True)
def noncex_registered() -> Iterator[None]:
    with registered():
        yield


@pytest.fixture
async def noncex() -> AsyncIterator[Harness]:
    async with open_harness("noncex", pairs=demo_pairs()) as opened:
        yield opened
