"""Risk limits in integer micro-units, derived once from `RiskConfig`.

The config speaks decimal strings for operators; the gates compare integers only, so the
conversion happens here, at the boundary, and never on the decision path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo

from arbiter.core.units import money_from_decimal, qty_from_decimal
from arbiter.platform.config import RiskConfig


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
    day_start: time
    day_zone: ZoneInfo

    @classmethod
    def from_config(cls, config: RiskConfig) -> RiskLimits:
        hours, minutes = (int(part) for part in config.trading_day_start.split(":"))
        return cls(
            max_position_per_market=qty_from_decimal(config.max_position_per_market),
            max_position_total=qty_from_decimal(config.max_position_total),
            max_exposure=money_from_decimal(config.max_exposure_usd),
            max_open_sagas=config.max_open_sagas,
            orders_per_second=config.orders_per_second,
            order_burst=config.order_burst,
            max_cumulative_loss=money_from_decimal(config.max_cumulative_loss_usd),
            max_daily_loss=money_from_decimal(config.max_daily_loss_usd),
            max_consecutive_losses=config.max_consecutive_losses,
            max_failed_unwinds=config.max_failed_unwinds,
            max_rejections_per_hour=config.max_rejections_per_hour,
            slippage_threshold=money_from_decimal(config.slippage_threshold_usd),
            max_slippage_streak=config.max_slippage_streak,
            day_start=time(hours, minutes),
            day_zone=ZoneInfo(config.trading_day_timezone),
        )
