"""Trading readiness: what must be synced per venue before any new risk is taken.

Reconciliation (or, until it exists, the topology once gateways are up) marks each aspect
ready; a disconnect or sequence gap marks it lost again. Until every aspect of every venue
is ready, the gate chain rejects new risk and says which aspects are missing.
"""

from __future__ import annotations

import enum

from arbiter.core.instruments import Venue


class Aspect(enum.IntEnum):
    """Values match `arbiter.v1.ReadinessAspect`."""

    MARKET_DATA = 1
    ORDER_SNAPSHOT = 2
    FILL_SNAPSHOT = 3
    POSITIONS = 4

    @property
    def slug(self) -> str:
        return self.name.lower()


class Readiness:
    def __init__(self, venues: tuple[Venue, ...]) -> None:
        self._missing = {(v, a) for v in venues for a in Aspect}

    def set(self, venue: Venue, aspect: Aspect, ready: bool) -> bool:
        """Record the aspect; returns whether that changed anything."""
        key = (venue, aspect)
        before = key in self._missing
        if ready:
            self._missing.discard(key)
        else:
            self._missing.add(key)
        return before == ready

    @property
    def ready(self) -> bool:
        return not self._missing

    def missing(self) -> list[str]:
        return [f"{v}:{a.slug}" for v, a in sorted(self._missing)]
