"""Tenant status conditions: Ready and Degraded, plus one condition per prerequisite of a
running tenant, with Kubernetes transition-time semantics.

Each prerequisite (its config loads, its store credentials are in its namespace, its Vault
role exists, its Deployments are available) is its own condition, so `kubectl describe`
names what is missing; Ready holds only when every one of them does. `lastTransitionTime`
moves only when a condition's status flips, so it shows how long a tenant has been degraded,
not when the operator last looked at it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """The result of one reconciliation, mapped onto Ready and Degraded by `conditions()`."""

    ready: bool
    reason: str  # CamelCase, e.g. Converged, Paused, InvalidSpec, InvalidConfig, ApplyFailed
    message: str


@dataclass(frozen=True)
class Check:
    """One prerequisite of a Ready tenant: whether it holds, why (CamelCase) and what."""

    type: str  # one of the condition types below
    ok: bool
    reason: str
    message: str


CONVERGED = "Converged"
PAUSED = "Paused"
INVALID_SPEC = "InvalidSpec"
INVALID_CONFIG = "InvalidConfig"  # the spec is well-formed, but a pod would refuse its config
APPLY_FAILED = "ApplyFailed"
PROGRESSING = "Progressing"  # applied, but its pods are not all available yet: not degraded

# The prerequisite conditions, in the order Ready reports the first one that fails.
CONFIG_LOADS = "ConfigLoads"
STORE_CREDENTIALS = "StoreCredentialsReady"
VAULT_ROLE = "VaultRoleReady"
DEPLOYMENTS = "DeploymentsAvailable"


def outcome_of(checks: Sequence[Check], ready_reason: str, ready_message: str) -> Outcome:
    """Ready when every check holds; else not, with the first failing check's reason and every
    failing check named in the message."""
    failing = [c for c in checks if not c.ok]
    if not failing:
        return Outcome(True, ready_reason, ready_message)
    return Outcome(False, failing[0].reason, "; ".join(f"{c.type}: {c.message}" for c in failing))


def conditions(
    outcome: Outcome,
    generation: int | None,
    previous: Iterable[Mapping[str, Any]],
    now: datetime.datetime,
    checks: Sequence[Check] = (),
) -> list[dict[str, Any]]:
    """The full condition list for an outcome and the checks that were made, keeping
    transition times that did not change."""
    wanted = [
        ("Ready", outcome.ready, outcome.reason, outcome.message),
        (
            "Degraded",
            not outcome.ready and outcome.reason != PROGRESSING,
            outcome.reason,
            outcome.message if not outcome.ready else "",
        ),
        *((c.type, c.ok, c.reason, c.message) for c in checks),
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
