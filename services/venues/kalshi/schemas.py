"""Kalshi REST replies the engine acts on, as typed, range-checked models.

GET /portfolio/balance answers `balance` (integer cents, kept for old clients),
`balance_dollars` (a fixed-point dollar string), `portfolio_value` (cents) and `updated_ts`;
the dollar string wins when present, since it is exact below a cent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from arbiter.core.units import CENT, parse_amount


def _dollars(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a dollar string, was {type(value).__name__}")
    return parse_amount(value, "balance_dollars")


class Balance(BaseModel):
    """Free cash at Kalshi."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    balance: StrictInt = Field(ge=0, le=10**15)  # cents
    balance_dollars: Annotated[int | None, BeforeValidator(_dollars)] = None  # as micros

    @property
    def micros(self) -> int:
        return self.balance * CENT if self.balance_dollars is None else self.balance_dollars


class Settlement(BaseModel):
    """One row of GET /portfolio/settlements: how a market we held settled. `value` is what
    one YES contract paid, in cents: 100 or 0 for a `yes` or `no` result, the settlement
    price for a `scalar` (or `void`) one."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ticker: str = Field(min_length=1)
    market_result: Literal["yes", "no", "scalar", "void"]
    value: StrictInt | None = Field(None, ge=0, le=100)

    @property
    def yes_payout(self) -> int:
        """Micro-dollars one YES contract paid; a scalar or void row must say its value."""
        if self.market_result == "yes":
            return 100 * CENT
        if self.market_result == "no":
            return 0
        if self.value is None:
            raise ValueError(f"{self.ticker}: a {self.market_result} settlement without its value")
        return self.value * CENT
