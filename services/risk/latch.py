"""The HardStop latch: once tripped, new risk stops until an operator resets it.

The first trip's reason is the latch's reason for its whole life; later trips are kept
(one per trigger kind) so the operator sees everything that fired. A failed unwind or a failed reconciliation
must be acknowledged by name by the reset that clears it. Two exceptions to "only
an operator resets it": a latch tripped by nothing but the daily loss limit clears by itself
when the next trading day starts, and a pause (`Trigger.PAUSE`) is lifted by a resume, which
takes away the pause and nothing else: a kill switch or a monitor's trip outlives it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Trigger(enum.StrEnum):
    OPERATOR = "operator"
    PAUSE = "pause"  # an operator's pause: the one trip a resume lifts
    CUMULATIVE_LOSS = "cumulative_loss"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    FAILED_UNWIND = "failed_unwind"
    REJECTIONS = "rejections"
    SLIPPAGE = "slippage"
    DAILY_LOSS = "daily_loss"
    RECONCILIATION = "reconciliation"  # the venues could not be reconciled with the log
    BROKER = "broker"  # the message broker was out of reach longer than bus.max_outage_s


SAFETY_TRIGGERS = frozenset({Trigger.FAILED_UNWIND, Trigger.RECONCILIATION})
"""Trips that mean the books may be wrong or exposure is open: a reset must name each one
it clears (`HardStopLatch.unacknowledged`), so none is waved through with the others."""


@dataclass(frozen=True, slots=True)
class Trip:
    trigger: Trigger
    reason: str

    def __str__(self) -> str:
        return f"{self.trigger}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LatchView:
    latched: bool
    reason: str
    triggers: tuple[str, ...]
    clears_at_micros: int  # 0 unless the latch will clear by itself
    paused: bool = False  # an operator's pause is among the trips


class HardStopLatch:
    __slots__ = ("_daily_clears_at", "trips")

    def __init__(self) -> None:
        self.trips: list[Trip] = []
        self._daily_clears_at = 0

    @property
    def latched(self) -> bool:
        return bool(self.trips)

    @property
    def reason(self) -> str:
        return self.trips[0].reason if self.trips else ""

    @property
    def clears_at(self) -> int:
        """When the latch clears by itself: only while every trip is the daily loss."""
        if self.trips and all(t.trigger is Trigger.DAILY_LOSS for t in self.trips):
            return self._daily_clears_at
        return 0

    def trip(self, trip: Trip, daily_clears_at: int) -> bool:
        """Record a trip; False for a repeat: the same operator reason, or a monitor whose
        trigger kind has already tripped this latch (its figures move on every event)."""
        if trip in self.trips or (trip.trigger not in (Trigger.OPERATOR, Trigger.PAUSE)
                                  and any(t.trigger is trip.trigger for t in self.trips)):
            return False
        self.trips.append(trip)
        if trip.trigger is Trigger.DAILY_LOSS:
            self._daily_clears_at = daily_clears_at
        return True

    def due(self, now_micros: int) -> bool:
        clears_at = self.clears_at
        return bool(clears_at) and now_micros >= clears_at

    def unacknowledged(self, acknowledged: frozenset[str]) -> tuple[str, ...]:
        """The safety trips latched that `acknowledged` does not name, by trigger."""
        return tuple(sorted({str(t.trigger) for t in self.trips
                             if t.trigger in SAFETY_TRIGGERS} - acknowledged))

    def clear(self) -> tuple[Trip, ...]:
        cleared, self.trips = tuple(self.trips), []
        self._daily_clears_at = 0
        return cleared

    def lift_pause(self) -> tuple[Trip, ...]:
        """Take away the pauses, and only them; the latch stays if anything else tripped."""
        lifted = tuple(t for t in self.trips if t.trigger is Trigger.PAUSE)
        self.trips = [t for t in self.trips if t.trigger is not Trigger.PAUSE]
        return lifted

    @property
    def paused(self) -> bool:
        return any(t.trigger is Trigger.PAUSE for t in self.trips)

    def view(self) -> LatchView:
        return LatchView(self.latched, self.reason, tuple(str(t) for t in self.trips),
                         self.clears_at, self.paused)
