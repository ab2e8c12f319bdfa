"""Official venue SDKs against socket-served emulators.

The SDKs block (httpx / urllib3), so each emulator is served from its own event loop on a
background thread; the test thread drives the SDK and reaches into the emulator only through
`ThreadedVenue.run`, which executes on that loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

from arbiter.emulators.server import VenueServer
from arbiter.emulators.venue import EmulatedVenue

T = TypeVar("T")


class ThreadedVenue:
    """An emulator behind a real `VenueServer` on 127.0.0.1, served from a background loop."""

    def __init__(self, venue: EmulatedVenue) -> None:
        self.venue = venue
        self.server = VenueServer(venue)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="emulator",
                                        daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the emulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a plain emulator method on its loop (emulator state has one owner thread)."""

        async def invoke() -> Any:
            return function(*args, **kwargs)

        return self.run(invoke())

    def __enter__(self) -> Self:
        self._thread.start()
        self.run(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
