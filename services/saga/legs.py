"""Which leg goes first.

The first leg is the one that may fail: if it does, nothing needs hedging. So the leg less
likely to fill goes first, and between equally reliable venues the slower one, so that the
hedge is placed on the faster venue while the price is still there. Both figures are
running averages of what this saga service has seen (integer per-mille and microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arbiter.core.instruments import Venue

PER_MILLE = 1000
_WEIGHT = 8  # new observations count 1/8 in the running averages


@dataclass(slots=True)
class VenueRecord:
    fill_per_mille: int = PER_MILLE  # optimistic until we know better
    ack_micros: int = 0
    seen: int = 0


@dataclass(slots=True)
class LegChooser:
    venues: dict[Venue, VenueRecord] = field(default_factory=dict)

    def _record(self, venue: Venue) -> VenueRecord:
        return self.venues.setdefault(venue, VenueRecord())

    def observe_fill(self, venue: Venue, requested: int, filled: int) -> None:
        """An order ended: how much of it filled."""
        if requested <= 0:
            return
        record = self._record(venue)
        ratio = filled * PER_MILLE // requested
        record.fill_per_mille += (ratio - record.fill_per_mille) // _WEIGHT
        record.seen += 1

    def observe_ack(self, venue: Venue, micros: int) -> None:
        """How long the venue took to answer an order."""
        record = self._record(venue)
        record.ack_micros = micros if not record.ack_micros else (
            record.ack_micros + (micros - record.ack_micros) // _WEIGHT)

    def yes_first(self, yes_venue: Venue, no_venue: Venue) -> bool:
        """True if the YES leg should be sent first."""
        yes, no = self._record(yes_venue), self._record(no_venue)
        if yes.fill_per_mille != no.fill_per_mille:
            return yes.fill_per_mille < no.fill_per_mille
        return yes.ack_micros >= no.ack_micros
