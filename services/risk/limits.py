"""Risk limits in integer micro-units: the value object every gate decides by.

The config speaks decimal strings for operators; the gates compare integers only, so the
conversion happens once, at the boundary (`arbiter.risk.service.limits_from_config`, called
by the builder and on every accepted limit change), never on the decision path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_position_per_market: int  # micro-contracts per (venue, market, outcome)
    max_position_total: int  # micro-contracts over all markets
    max_exposure: int  # micro-dollars of capital at risk
    max_open_sagas: int
    orders_per_second: int
    order_burst: int
    max_cumulative_loss: int  # micro-dollars
    max_daily_loss: int  # micro-dollars
    max_consecutive_losses: int
    max_failed_unwinds: int
    max_rejections_per_hour: int
    slippage_threshold: int  # micro-dollars per contract
    max_slippage_streak: int
    min_free_balance: int  # micro-dollars every venue keeps free
    day_start: time
    day_zone: ZoneInfo
