"""Business time as a port: pure code reads time only from a `Clock` it is given, so the
same decisions replay on simulated time (lock-step runs, the race simulator, replays)."""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    def now_micros(self) -> int:
        """Business time, microseconds since the Unix epoch."""
        ...
