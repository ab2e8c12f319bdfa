"""Kalshi REST replies the engine acts on, as typed, range-checked models.

GET /portfolio/balance answers `balance` (integer cents, kept for old clients),
`balance_dollars` (a fixed-point dollar string), `portfolio_value` (cents) and `updated_ts`;
the dollar string wins when present, since it is exact below a cent.
"""

from __future__ import annotations

from typing import Annotated

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
