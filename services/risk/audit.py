"""The risk audit trail: every latch, reset, auto-clear, readiness and limit change.

Records are typed and kept in memory in order; hooks see each record as it is appended
(the place to persist them). A hook that raises propagates to the caller: an audit that
cannot be written is never swallowed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class AuditAction(enum.StrEnum):
    LATCHED = "latched"  # HardStop went from clear to latched
    TRIGGERED = "triggered"  # a further trigger while already latched
    RESET = "reset"  # explicit operator reset
    RESUMED = "resumed"  # a pause lifted (nothing else: other trips stay)
    AUTO_CLEARED = "auto_cleared"  # daily-loss cooldown ended at the trading-day boundary
    LIMITS_UPDATED = "limits_updated"
    READINESS = "readiness"
    POSITIONS_SEEDED = "positions_seeded"  # restart: venue positions replaced the log's
    PAIR_PAUSED = "pair_paused"  # an operator refused new sagas on one pair
    PAIR_RESUMED = "pair_resumed"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at_micros: int
    actor: str  # who: operator name, "monitor:<trigger>", "calendar", ...
    action: AuditAction
    detail: str
    changes: tuple[tuple[str, str, str], ...] = ()  # (field, before, after) for limits


AuditHook = Callable[[AuditRecord], None]


class AuditLog:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self._hooks: list[AuditHook] = []

    def subscribe(self, hook: AuditHook) -> None:
        self._hooks.append(hook)

    def append(self, record: AuditRecord) -> None:
        self.records.append(record)
        for hook in self._hooks:
            hook(record)
