"""Trading readiness: what must be synced per venue before any new risk is taken.

Reconciliation marks the order, fill and position snapshots ready, the gateway its market
data (lost again on a disconnect) and its balance reads the funds (lost while the balance is
under the tenant's minimum). Until every aspect of every venue
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
    FUNDS = 5  # the balance was read and is not under the minimum free balance

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
