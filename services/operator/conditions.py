"""Tenant status conditions: Ready and Degraded, with Kubernetes transition-time semantics.

`lastTransitionTime` moves only when a condition's status flips, so `kubectl describe` shows
how long a tenant has been degraded, not when the operator last looked at it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """The result of one reconciliation, mapped onto conditions by `conditions()`."""

    ready: bool
    reason: str  # CamelCase, e.g. Converged, Paused, InvalidSpec, InvalidConfig, ApplyFailed
    message: str


CONVERGED = "Converged"
PAUSED = "Paused"
INVALID_SPEC = "InvalidSpec"
INVALID_CONFIG = "InvalidConfig"  # the spec is well-formed, but a pod would refuse its config
APPLY_FAILED = "ApplyFailed"
PROGRESSING = "Progressing"  # applied, but its pods are not all available yet: not degraded


def conditions(
    outcome: Outcome,
    generation: int | None,
    previous: Iterable[Mapping[str, Any]],
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    """The full condition list for an outcome, keeping transition times that did not change."""
    wanted = [
        ("Ready", outcome.ready, outcome.reason, outcome.message),
        (
            "Degraded",
            not outcome.ready and outcome.reason != PROGRESSING,
            outcome.reason,
            outcome.message if not outcome.ready else "",
        ),
    ]
    before = {c.get("type"): c for c in previous}
    stamp = now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result: list[dict[str, Any]] = []
    for kind, flag, reason, message in wanted:
        status = "True" if flag else "False"
        old = before.get(kind, {})
        condition: dict[str, Any] = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": (
                old["lastTransitionTime"]
                if old.get("status") == status and old.get("lastTransitionTime")
                else stamp
            ),
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        result.append(condition)
    return result
