"""Polymarket's configuration: its `venues.polymarket` section and a pair leg on it."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from arbiter.platform.config import (
    Amount,
    Int,
    MarketLeg,
    Seconds,
    VenueSettings,
    check_http_url,
    check_ws_url,
)
from arbiter.venues.polymarket.amounts import TICK_SIZES
from arbiter.venues.polymarket.constants import (
    DATA_API_PREFIX,
    PRODUCTION_CLOB,
    PRODUCTION_DATA_API,
    VENUE,
)

SIGNATURE_TYPES = ("eoa", "poly-proxy", "poly-gnosis-safe", "poly-1271")


class PolymarketSettings(VenueSettings):
    """Where the CLOB is, which vault key signs, and how orders are signed.

    `signature_type` eoa trades from the key's own address; poly-proxy, poly-gnosis-safe and
    poly-1271 trade from `funder`, the wallet holding the money. The dead-man switch
    (`heartbeat_s`): once beating, a missed beat cancels our resting orders (0 turns it off).
    Live, `credential` names the tenant's EOA key in the vault. `data_api_url` is where
    positions are read: unset, the production Data API beside the production CLOB, or the
    `/data-api` path of any other `url` (an emulator serves both)."""

    venue: Literal["polymarket"] = VENUE
    url: str = PRODUCTION_CLOB
    ws_url: str = "wss://ws-subscriptions-clob.polymarket.com"
    data_api_url: str = ""
    credential: str = Field("polymarket", pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$")
    signature_type: Literal["eoa", "poly-proxy", "poly-gnosis-safe", "poly-1271"] = "eoa"
    funder: str = Field("", pattern=r"^(0x[0-9a-fA-F]{40})?$")
    heartbeat_s: Seconds = Field(5.0, ge=0, le=9)

    _url = field_validator("url")(check_http_url)
    _ws_url = field_validator("ws_url")(check_ws_url)

    @field_validator("data_api_url")
    @classmethod
    def _data_api_url(cls, value: str) -> str:
        return check_http_url(cls, value) if value else value

    @property
    def data_api(self) -> str:
        """The Data API origin positions are read from."""
        if self.data_api_url:
            return self.data_api_url
        if self.url.rstrip("/") == PRODUCTION_CLOB:
            return PRODUCTION_DATA_API
        return self.url.rstrip("/") + DATA_API_PREFIX

    @model_validator(mode="after")
    def _funder_with_wallets(self) -> PolymarketSettings:
        if self.signature_type != "eoa" and not self.funder:
            raise ValueError(f"signature_type={self.signature_type!r} trades from a wallet: "
                             "set venues.polymarket.funder to its address")
        return self


class PolymarketMarket(MarketLeg):
    """One binary market: its condition id, its two outcome tokens, tick and fees."""

    venue: Literal["polymarket"] = VENUE
    condition_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    yes_token: str = Field(pattern=r"^[0-9]{1,78}$")
    no_token: str = Field(pattern=r"^[0-9]{1,78}$")
    tick: Amount = Field(Decimal("0.01"), gt=0, lt=1)
    fee_rate: Amount = Field(Decimal("0.04"), ge=0, le=1)
    fee_exponent: Int = Field(1, ge=1, le=4)
    min_size: Amount = Field(Decimal(1), gt=0, le=1_000_000)

    @field_validator("tick")
    @classmethod
    def _tick(cls, v: Decimal) -> Decimal:
        allowed = {Decimal(t) for t in TICK_SIZES}
        if v not in allowed:
            raise ValueError(f"tick {v} is not a Polymarket tick size {sorted(allowed)}")
        return v

    @model_validator(mode="after")
    def _two_tokens(self) -> PolymarketMarket:
        if self.yes_token == self.no_token:
            raise ValueError(f"yes_token and no_token are both {self.yes_token}")
        return self
