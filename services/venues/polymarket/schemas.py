"""Polymarket REST replies as typed, range-checked models: a reply is accepted whole or
rejected with the field named, never half-read.

The Data API's GET /positions answers a JSON array of rows (`proxyWallet, asset,
conditionId, size, avgPrice, …, outcome, outcomeIndex`) where `size` is a JSON number of
shares; rows under `sizeThreshold` (default 1 share) are left out and pages hold at most
`limit` (default 100, at most 500) rows from `offset` (at most 10,000).

POST /order (and each item of POST /orders) answers, per docs/venues/polymarket.md:
`{"success", "errorMsg", "orderID", "status", "makingAmount", "takingAmount",
"transactionsHashes", "tradeIDs"}`. The amounts are decimal strings in whole units — shares
and dollars — not 6-decimal base units: a 5-share BUY at 0.53 that matched answers
`"takingAmount": "5", "makingAmount": "2.65"`. The taking side is what the order receives
(shares for a BUY, dollars for a SELL); a resting order answers empty strings.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

from arbiter.core.units import parse_amount
from arbiter.venues.polymarket.amounts import Side


class PostStatus(StrEnum):
    """What became of a posted order (the POST reply's `status`, lower case)."""

    MATCHED = "matched"  # matched against resting orders
    LIVE = "live"  # resting on the book
    DELAYED = "delayed"  # marketable, matching delayed: the outcome is not known yet
    UNMATCHED = "unmatched"  # marketable, the delay failed, placed without matching


def _micros(value: object) -> int:
    """A decimal amount string in whole units as micro-units; "" (a resting order) is 0."""
    if value in ("", None):
        return 0
    if not isinstance(value, str):
        raise ValueError(f"must be a decimal string, was {type(value).__name__}")
    return parse_amount(value, "amount")


Amount = Annotated[int, BeforeValidator(_micros)]


def _number_micros(value: object) -> int:
    """A JSON number of whole units (the Data API's sizes) as micro-units, exactly as
    written: the float's shortest repr is the decimal the venue sent."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number, was {type(value).__name__}")
    return parse_amount(str(value), "size")


class PositionRow(BaseModel):
    """One row of GET /positions: how many shares of one outcome token the user holds."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    asset: str = Field(pattern=r"^[0-9]{1,78}$")
    size: Annotated[int, BeforeValidator(_number_micros)]


class MergeRow(BaseModel):
    """One MERGE row of the Data API's GET /activity: complete sets of one market the wallet
    merged back to collateral, `size` a JSON number of sets, keyed by its transaction."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["MERGE"]
    conditionId: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    size: Annotated[int, BeforeValidator(_number_micros)] = Field(gt=0)
    transactionHash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


ACTIVITY_PAGE = 500  # the Data API's largest `limit` on /activity too


def _base_units(value: object) -> int:
    """A non-negative integer string in 6-decimal base units (which are micro-dollars)."""
    if not isinstance(value, str) or not value.isdigit() or len(value) > 78:
        raise ValueError(f"must be a base-unit integer string, was {value!r:.80}")
    return int(value)


class BalanceAllowance(BaseModel):
    """GET /balance-allowance: `balance` and `allowance` (what the exchange may move) as
    base-unit integer strings, as the SDKs type the reply."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    balance: Annotated[int, BeforeValidator(_base_units)]
    allowance: Annotated[int, BeforeValidator(_base_units)]


class MarketToken(BaseModel):
    token_id: str = Field(pattern=r"^[0-9]{1,78}$")
    price: Annotated[int, BeforeValidator(_number_micros)] = Field(ge=0, le=1_000_000)
    winner: StrictBool = False


class MarketRecord(BaseModel):
    """GET /markets/{condition_id}, what settlement reads: `closed`, and per token its
    `price` and `winner` flag, which resolution sets (the winner's price 1, the loser's 0;
    UMA's 50-50 for a question that cannot be resolved leaves both at 0.5 and no winner)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    condition_id: str
    closed: StrictBool
    tokens: list[MarketToken] = Field(min_length=2, max_length=2)

    def yes_payout(self, yes_token: str) -> int | None:
        """What one YES token pays out once resolved; None while it is not (a closed market
        waits for its oracle, and then shows no winner and not a 50-50)."""
        yes = next((t for t in self.tokens if t.token_id == yes_token), None)
        if yes is None:
            raise ValueError(f"market {self.condition_id} does not list token {yes_token}")
        if not self.closed:
            return None
        if any(t.winner for t in self.tokens):
            return 1_000_000 if yes.winner else 0
        return 500_000 if all(t.price == 500_000 for t in self.tokens) else None


POSITIONS_PAGE = 500  # the Data API's largest `limit`
POSITIONS_MAX_OFFSET = 10_000  # and its largest `offset`


class OrderReply(BaseModel):
    """One order's answer. `accepted` only with success, an order id and no error text; the
    venue has answered `success: true` with an error message and an empty id, which is a
    reject, not an ACK."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    success: bool = False
    error_msg: str = Field("", alias="errorMsg", max_length=2_000)
    order_id: str = Field("", alias="orderID", max_length=200)
    status: PostStatus | None = None
    making: Amount = Field(0, alias="makingAmount")
    taking: Amount = Field(0, alias="takingAmount")
    trade_ids: list[str] = Field(default_factory=list, alias="tradeIDs", max_length=1_000)

    @model_validator(mode="before")
    @classmethod
    def _blank_status(cls, data: object) -> object:
        """A rejected order answers `"status": ""`: no status, not an unknown one."""
        if isinstance(data, dict) and data.get("status") == "":
            return {k: v for k, v in data.items() if k != "status"}
        return data

    @property
    def accepted(self) -> bool:
        return self.success and bool(self.order_id) and not self.error_msg

    def filled_shares(self, side: Side) -> int:
        """Micro-shares the order filled at once: the taking side of a BUY, the making side
        of a SELL."""
        return self.taking if side is Side.BUY else self.making


BOOK_HASH_KEYS = ("market", "asset_id", "timestamp", "hash", "bids", "asks", "min_order_size",
                  "tick_size", "neg_risk", "last_trade_price")
"""What GET /book's `hash` covers, in this order (facts A10)."""


def book_hash(book: dict[str, object]) -> str:
    """The venue's hash of a GET /book reply: SHA-1 hex of its compact JSON with `hash`
    blank and the keys in `BOOK_HASH_KEYS` order (the levels as sent, `price`/`size`
    only). A missing key raises KeyError: such a book cannot be checked."""
    payload = {key: "" if key == "hash" else book[key] for key in BOOK_HASH_KEYS}
    for side in ("bids", "asks"):
        levels = payload[side]
        if not isinstance(levels, list):
            raise TypeError(f"book {side} is not a list")
        payload[side] = [{"price": lv["price"], "size": lv["size"]} for lv in levels]
    return hashlib.sha1(orjson.dumps(payload), usedforsecurity=False).hexdigest()
