"""The venue contract suite: every registered venue, and NonceX (the test-tree venue),
registered for each module and unregistered after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from emulators.conftest import Harness, open_harness
from venue_plugin.noncex.config import VENUE as NONCEX
from venue_plugin.noncex.demo import demo_pairs
from venue_plugin.noncex.plugin import registered

from arbiter.platform.venues import VENUES

CONTRACT_VENUES = tuple(sorted({*VENUES.slugs(), NONCEX}))
"""The installed venues plus the test one, known at collection."""


def pairs_for(venue: str) -> list[dict[str, Any]] | None:
    """Pairs that list `venue` (None: the default demo pairs already do)."""
    return demo_pairs() if venue == NONCEX else None


@pytest.fixture(scope="module", autouse=True)
def noncex_registered() -> Iterator[None]:
    with registered():
        yield


@pytest.fixture(params=CONTRACT_VENUES)
def venue(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def harness(venue: str) -> AsyncIterator[Harness]:
    async with open_harness(venue, pairs=pairs_for(venue)) as opened:
        yield opened
