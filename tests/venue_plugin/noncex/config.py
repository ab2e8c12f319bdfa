"""NonceX's configuration: its `venues.noncex` section and a pair leg on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from arbiter.platform.config import MarketLeg, VenueSettings, check_http_url, check_ws_url

VENUE = "noncex"


class NoncexSettings(VenueSettings):
    """Where the venue is and which vault credential signs (live)."""

    venue: Literal["noncex"] = VENUE
    url: str = "https://api.noncex.invalid"
    ws_url: str = "wss://api.noncex.invalid/v1/ws"
    credential: str = Field("noncex", pattern=r"^[a-z0-9][a-z0-9._-]{0,100}$")

    _url = field_validator("url")(check_http_url)
    _ws_url = field_validator("ws_url")(check_ws_url)


class NoncexMarket(MarketLeg):
    """One market by symbol, on a cent or tenth-of-a-cent grid."""

    venue: Literal["noncex"] = VENUE
    symbol: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,31}$")
    tick: Decimal = Decimal("0.01")

    @field_validator("tick")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        if v not in (Decimal("0.01"), Decimal("0.001")):
            raise ValueError(f"tick {v} is not a NonceX tick (0.01 or 0.001)")
        return v
