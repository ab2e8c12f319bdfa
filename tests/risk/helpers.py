"""Builders shared by the risk tests: a ready state on a manual clock, and legs."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from arbiter.core.instruments import Outcome
from arbiter.platform.clock import ManualClock
from arbiter.platform.config import RiskConfig
from arbiter.risk.gates import LegIntent
from arbiter.risk.service import limits_from_config, update_limits
from arbiter.risk.state import RiskState

C = 1_000_000  # one contract in micro-contracts / one dollar in micro-dollars
# 2023-11-14 22:13:20 UTC, the ManualClock default; tests that care about days set their own.
T0 = 1_700_000_000_000_000
VENUES = ("polymarket", "kalshi")


def config(**changes: Any) -> RiskConfig:
    """Generous defaults so a test exercises only the limits it names."""
    base: dict[str, Any] = {
        "max_position_per_market": "1000000", "max_position_total": "1000000",
        "max_exposure_usd": "1000000", "max_open_sagas": 1000, "orders_per_second": 1000,
        "order_burst": 100000, "max_cumulative_loss_usd": "1000000",
        "max_daily_loss_usd": "1000000", "max_consecutive_losses": 1000,
        "max_failed_unwinds": 1000, "max_rejections_per_hour": 1000,
        "slippage_threshold_usd": "0.05", "max_slippage_streak": 1000,
    }
    return RiskConfig.model_validate({**base, **changes})


# what each state's limits are in the operator's units, as the risk service keeps them
_CONFIGS: weakref.WeakKeyDictionary[RiskState, RiskConfig] = weakref.WeakKeyDictionary()


FUNDED = 10_000_000 * 1_000_000  # micro-dollars: more than any limit here lets a saga spend


def state(clock: ManualClock | None = None, ready: bool = True, **changes: Any) -> RiskState:
    """Risk on `config(**changes)`; `ready`: every venue synced and funded with `FUNDED`."""
    limits = config(**changes)
    risk = RiskState(limits_from_config(limits), clock or ManualClock(T0), VENUES)
    _CONFIGS[risk] = limits
    if ready:
        for venue in VENUES:
            risk.mark_venue_ready(venue, "test")
            risk.report_balance(venue, FUNDED, "test")
    return risk


def config_of(risk: RiskState) -> RiskConfig:
    return _CONFIGS[risk]


def retune(risk: RiskState, changes: Mapping[str, str], actor: str,
           reason: str = "") -> RiskConfig:
    """A limit change as the risk service applies one (`ConfigError`: nothing applied)."""
    _CONFIGS[risk] = update_limits(risk, _CONFIGS[risk], changes, actor, reason)
    return _CONFIGS[risk]


def legs(qty: int = 10 * C, yes_price: int = 400_000, no_price: int = 500_000,
         market: str = "M1") -> tuple[LegIntent, LegIntent]:
    """Buy YES on Polymarket and NO on Kalshi for the same event."""
    return (LegIntent("polymarket", f"pm-{market}", Outcome.YES, qty, yes_price),
            LegIntent("kalshi", f"ks-{market}", Outcome.NO, qty, no_price))
