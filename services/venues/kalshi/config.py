"""Kalshi's configuration: its `venues.kalshi` section and a pair leg on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from arbiter.platform.config import (
    Amount,
    MarketLeg,
    VenueSettings,
    check_http_url,
    check_ws_url,
)
from arbiter.venues.kalshi.constants import VENUE

ENVIRONMENTS = {
    "production": ("https://external-api.kalshi.com",
                   "wss://external-api-ws.kalshi.com/trade-api/ws/v2"),
    "demo": ("https://external-api.demo.kalshi.co",
             "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"),
}
"""The recommended hosts per environment (docs/venues/kalshi.md); credentials differ per
environment."""


class KalshiSettings(VenueSettings):
    """Where the trade API is and which key signs. `url` is an origin (paths carry
    /trade-api/v2); left empty, both URLs follow `environment`. Live, the key is the vault's
    `<environment>-<credential>`, so a demo run can never sign with the production key. The
    rate-limit `tier` sets the token buckets; the legacy /portfolio/orders write path is used
    only when asked for, while it still exists."""

    venue: Literal["kalshi"] = VENUE
    environment: Literal["production", "demo"] = "production"
    url: str = ""
    ws_url: str = ""
    credential: str = Field("kalshi", pattern=r"^[a-z0-9][a-z0-9._-]{0,100}$")
    tier: Literal["basic", "advanced", "premier", "paragon", "prime"] = "basic"
    legacy_order_entry: bool = False

    @model_validator(mode="before")
    @classmethod
    def _environment_urls(cls, data: Any) -> Any:
        """Unset URLs follow the environment (an unknown one fails its own check)."""
        if isinstance(data, dict) and (urls := ENVIRONMENTS.get(
                data.get("environment", "production"))):
            data = {"url": urls[0], "ws_url": urls[1],
                    **{k: v for k, v in data.items() if v != ""}}
        return data

    _url = field_validator("url")(check_http_url)
    _ws_url = field_validator("ws_url")(check_ws_url)

    @property
    def vault_credential(self) -> str:
        """The vault id of the Kalshi key, namespaced by environment."""
        return f"{self.environment}-{self.credential}"


class KalshiMarket(MarketLeg):
    """One market by ticker, its price grid and whether it trades fractional contracts."""

    venue: Literal["kalshi"] = VENUE
    ticker: str = Field(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
    tick: Amount = Field(Decimal("0.01"), gt=0, lt=1)
    fractional: bool = False

    @field_validator("tick")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        if v not in (Decimal("0.01"), Decimal("0.001")):
            raise ValueError(f"tick {v} is not a Kalshi tick (0.01 or 0.001)")
        return v
