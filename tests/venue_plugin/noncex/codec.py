"""NonceX's wire codec, pure: request signing, typed order and error bodies, amounts.

Requests carry `NX-KEY`, `NX-TS` (ms) and `NX-SIGN`: base64 of HMAC-SHA256 over
`ts + METHOD + path + body` under the key's secret. Prices are YES-book dollars and sizes
contracts, as decimal strings; they become integer micro-units here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from arbiter.core.units import parse_micros
from arbiter.emulators.wire import dollars, size_text

API = "/v1"
ORDERS_PATH = f"{API}/orders"
WS_PATH = f"{API}/ws"
FILLS_SUBSCRIPTION = b'{"op":"fills"}'
"""Our fills on the stream; the venue acks `{"type": "subscribed", "channel": "fills"}`."""


def book_subscription(markets: list[str]) -> bytes:
    """Books of `markets`: an ack naming the known ones, then a `book` snapshot of each."""
    return orjson.dumps({"op": "subscribe", "markets": markets})

NX_KEY, NX_TS, NX_SIGN = "NX-KEY", "NX-TS", "NX-SIGN"
NONCE_AHEAD = 16
"""Nonces the venue accepts ahead of the highest it has seen: the gateway's skip window."""
NONCES_KEPT = 64
"""Nonces the venue remembers per key; anything older than the oldest of them is reused."""


class ErrorCode(StrEnum):
    """The venue's typed refusals (`{"error": {"code", "message"}}`)."""

    UNAUTHORIZED = "unauthorized"
    BAD_REQUEST = "bad_request"
    UNKNOWN_MARKET = "unknown_market"
    INVALID_ORDER = "invalid_order"  # off the price grid, bad size: its nonce is spent
    NONCE_REUSED = "nonce_reused"
    NONCE_TOO_FAR_AHEAD = "nonce_too_far_ahead"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    NOT_FOUND = "not_found"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    DRY_RUN = "dry_run"


NONCE_ERRORS = frozenset({ErrorCode.NONCE_REUSED, ErrorCode.NONCE_TOO_FAR_AHEAD})


class Side(StrEnum):
    BUY_YES = "buy_yes"
    BUY_NO = "buy_no"


class Tif(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"


class WireError(ValueError):
    """A body that is not what the protocol says; names the field."""


def signing_string(ts_ms: int, method: str, path: str, body: bytes) -> bytes:
    return f"{ts_ms}{method.upper()}{path}".encode() + body


def hmac_sign(secret: bytes, message: bytes) -> bytes:
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(message)
    return mac.finalize()


def hmac_verify(secret: bytes, message: bytes, signature_b64: str) -> bool:
    """Constant-time check of a base64 `NX-SIGN` value."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(message)
    try:
        mac.verify(signature)
    except InvalidSignature:
        return False
    return True


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise WireError(f"{name!r} must be a {kind.__name__}, was {value!r:.60}")
    return value


def _enum(enum: type[StrEnum], body: dict[str, Any], name: str) -> Any:
    value = _field(body, name, str)
    try:
        return enum(value)
    except ValueError:
        raise WireError(f"{name!r} {value!r} is not one of "
                        f"{', '.join(m.value for m in enum)}") from None


def _micros(body: dict[str, Any], name: str) -> int:
    try:
        return parse_micros(_field(body, name, str), name)
    except ValueError as exc:
        raise WireError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class OrderBody:
    """`POST /v1/orders`: one limit order with its nonce."""

    market: str
    side: Side
    price: int  # micro-dollars of the outcome bought
    size: int  # micro-contracts
    tif: Tif
    client_id: str
    nonce: int

    def to_json(self) -> dict[str, object]:
        return {"market": self.market, "side": self.side.value, "price": dollars(self.price),
                "size": size_text(self.size), "tif": self.tif.value,
                "client_id": self.client_id, "nonce": self.nonce}

    @classmethod
    def from_json(cls, body: object) -> OrderBody:
        if not isinstance(body, dict):
            raise WireError("an order must be a JSON object")
        nonce = _field(body, "nonce", int)
        if nonce < 0:
            raise WireError(f"'nonce' {nonce} must not be negative")
        client_id = _field(body, "client_id", str)
        if not 0 < len(client_id) <= 64:
            raise WireError("'client_id' must be 1..64 characters")
        return cls(_field(body, "market", str), _enum(Side, body, "side"),
                   _micros(body, "price"), _micros(body, "size"), _enum(Tif, body, "tif"),
                   client_id, nonce)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the venue reports it (`GET /v1/orders`, order replies)."""

    order_id: str
    client_id: str
    market: str
    side: Side
    price: int
    size: int
    filled: int
    status: OrderStatus
    nonce: int

    def to_json(self) -> dict[str, object]:
        return {"order_id": self.order_id, "client_id": self.client_id, "market": self.market,
                "side": self.side.value, "price": dollars(self.price),
                "size": size_text(self.size), "filled": size_text(self.filled),
                "status": self.status.value, "nonce": self.nonce}

    @classmethod
    def from_json(cls, body: object) -> OrderRecord:
        if not isinstance(body, dict):
            raise WireError("an order record must be a JSON object")
        return cls(_field(body, "order_id", str), _field(body, "client_id", str),
                   _field(body, "market", str), _enum(Side, body, "side"),
                   _micros(body, "price"), _micros(body, "size"), _micros(body, "filled"),
                   _enum(OrderStatus, body, "status"), _field(body, "nonce", int))


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill of one of our orders (WS `fill` frames, `GET /v1/fills`)."""

    trade_id: str
    order_id: str
    price: int  # of the outcome bought
    size: int
    fee: int

    def to_json(self) -> dict[str, object]:
        return {"trade_id": self.trade_id, "order_id": self.order_id,
                "price": dollars(self.price), "size": size_text(self.size),
                "fee": dollars(self.fee)}

    @classmethod
    def from_json(cls, body: object) -> FillRecord:
        if not isinstance(body, dict):
            raise WireError("a fill must be a JSON object")
        return cls(_field(body, "trade_id", str), _field(body, "order_id", str),
                   _micros(body, "price"), _micros(body, "size"), _micros(body, "fee"))


def error_body(code: ErrorCode, message: str) -> dict[str, object]:
    return {"error": {"code": code.value, "message": message}}


def parse_error(body: object) -> tuple[ErrorCode | None, str]:
    """(code, message) of an error reply; an unknown code is kept as text, never guessed."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, f"unreadable error reply {body!r:.100}"
    message = str(error.get("message") or error.get("code"))
    try:
        return ErrorCode(error.get("code")), message
    except ValueError:
        return None, message
