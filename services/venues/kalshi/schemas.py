"""Kalshi REST replies the engine acts on, as typed, range-checked models.

GET /portfolio/balance answers `balance` (integer cents, kept for old clients),
`balance_dollars` (a fixed-point dollar string), `portfolio_value` (cents) and `updated_ts`;
the dollar string wins when present, since it is exact below a cent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from arbiter.core.units import CENT, parse_micros


class Balance(BaseModel):
    """Free cash at Kalshi."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    balance: StrictInt = Field(ge=0, le=10**15)  # cents
    balance_dollars: str | None = None

    @field_validator("balance_dollars")
    @classmethod
    def _dollars(cls, value: str | None) -> str | None:
        if value is not None and parse_micros(value, "balance_dollars") < 0:
            raise ValueError(f"{value!r} is negative")
        return value

    @property
    def micros(self) -> int:
        if self.balance_dollars is not None:
            return parse_micros(self.balance_dollars, "balance_dollars")
        return self.balance * CENT
