"""Minimal signed clients for calling the emulators' handlers in process: real EIP-712 orders
and L2 HMAC headers for Polymarket, real RSA-PSS request signatures for Kalshi, built from
the pure signing functions so these tests do not depend on gateway plumbing."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from eth_account import Account as EthAccount

from arbiter.core.fees import NO_FEE
from arbiter.core.units import QTY_SCALE
from arbiter.emulators.venue import EmulatedVenue, WsSession
from arbiter.venues.kalshi.auth import (
    KALSHI_ACCESS_KEY,
    KALSHI_ACCESS_SIGNATURE,
    KALSHI_ACCESS_TIMESTAMP,
    signing_string,
)
from arbiter.venues.kalshi.emulator import API, KalshiEmulator
from arbiter.venues.polymarket.amounts import (
    OrderAmounts,
    Side,
    limit_order_amounts,
    tick_size,
)
from arbiter.venues.polymarket.auth import ApiCreds, l2_headers
from arbiter.venues.polymarket.emulator import PolymarketEmulator
from arbiter.venues.polymarket.order_builder import (
    OrderType,
    SignedOrder,
    build_order,
    order_payload,
)
from arbiter.venues.polymarket.signing import ExchangeDomain, encode_signature, signing_digest

CONDITION, YES_TOKEN, NO_TOKEN = "0xc0nd", "1001", "1002"
TICKER = "KX-TEST"
TICK = 10_000  # one cent, in micro-dollars
LP = "lp"


def shares(n: float) -> int:
    """Whole or fractional shares/contracts in micro-units (test literals only)."""
    return round(n * QTY_SCALE)


def polymarket_venue(**kwargs: Any) -> PolymarketEmulator:
    venue = PolymarketEmulator(**kwargs)
    venue.add_binary_market(CONDITION, YES_TOKEN, NO_TOKEN, TICK, NO_FEE)
    return venue


def kalshi_venue(**kwargs: Any) -> KalshiEmulator:
    venue = KalshiEmulator(**kwargs)
    venue.add_market(TICKER, TICK)
    return venue


@dataclass
class Frames:
    """A WebSocket session's received frames, decoded."""

    received: list[Any] = field(default_factory=list)

    async def __call__(self, frame: bytes) -> None:
        self.received.append(orjson.loads(frame))

    def events(self, kind: str) -> list[dict]:
        flat = [e for f in self.received for e in (f if isinstance(f, list) else [f])]
        return [e for e in flat if e.get("event_type", e.get("type")) == kind]


async def open_session(venue: EmulatedVenue, channel: str, subscribe: dict) -> Frames:
    frames = Frames()
    session: WsSession = await venue.connect(channel, frames)
    await session.send(orjson.dumps(subscribe))
    return frames


class PolymarketTrader:
    """One signer address with an L2 API key registered at the emulator."""

    def __init__(self, venue: PolymarketEmulator, private_key: str) -> None:
        self.venue = venue
        self.account = EthAccount.from_key(private_key)
        self.address: str = self.account.address
        digest = hashlib.sha256(private_key.encode()).digest()
        self.creds = ApiCreds(api_key=f"key-{self.address[2:10].lower()}",
                              secret=base64.urlsafe_b64encode(digest).decode(),
                              passphrase=digest.hex()[:16])
        venue.register_api_key(self.creds, self.address)
        self._salt = 0

    def order(self, token: str, side: str, price: int, size: int, order_type: str = "GTC",
              domain: ExchangeDomain | None = None,
              amounts: OrderAmounts | None = None) -> dict[str, Any]:
        """A signed POST /order wrapper (for the venue's current domain unless given);
        `amounts` signs raw amounts the SDK rounding would refuse to make."""
        self._salt += 1
        amounts = amounts or limit_order_amounts(Side[side], price, size, tick_size("0.01"))
        order = build_order(token_id=int(token), side=Side[side], amounts=amounts,
                            signer_address=self.address, salt=self._salt,
                            timestamp_ms=1_700_000_000_000)
        domain = domain or self.venue.domain
        ecdsa = bytes(self.account.unsafe_sign_hash(signing_digest(order, domain)).signature)
        signed = SignedOrder(order, encode_signature(order, domain, ecdsa))
        return order_payload(signed, owner=self.creds.api_key, order_type=OrderType(order_type))

    async def call(self, method: str, path: str, payload: Any = None,
                   query: dict[str, str] | None = None) -> tuple[int, Any]:
        body = b"" if payload is None else orjson.dumps(payload)
        headers = l2_headers(self.address, self.creds, int(time.time()), method, path, body)
        response = await self.venue.handle_http(method, path, query or {}, headers, body)
        return response.status, orjson.loads(response.body) if response.body else None

    async def place(self, token: str, side: str, price: int, size: int,
                    order_type: str = "GTC") -> dict[str, Any]:
        status, reply = await self.call("POST", "/order", self.order(token, side, price, size,
                                                                      order_type))
        assert status == 200 and reply["success"], reply
        return reply


class KalshiTrader:
    """An RSA API key registered at the emulator; requests are signed like the SDK's."""

    _key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def __init__(self, venue: KalshiEmulator, key_id: str = "kalshi-test-key") -> None:
        self.venue = venue
        self.key_id = key_id
        venue.register_key(key_id, self._key.public_key())

    def headers(self, method: str, path: str) -> dict[str, str]:
        timestamp = time.time_ns() // 1_000_000
        message = signing_string(timestamp, method, path).encode()
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        signature = self._key.sign(message, pss, hashes.SHA256())
        return {KALSHI_ACCESS_KEY: self.key_id,
                KALSHI_ACCESS_SIGNATURE: base64.b64encode(signature).decode(),
                KALSHI_ACCESS_TIMESTAMP: str(timestamp)}

    async def call(self, method: str, path: str, payload: Any = None,
                   query: dict[str, str] | None = None) -> tuple[int, Any]:
        full = API + path
        body = b"" if payload is None else orjson.dumps(payload)
        response = await self.venue.handle_http(method, full, query or {},
                                                self.headers(method, full), body)
        return response.status, orjson.loads(response.body) if response.body else None

    async def place(self, side: str, price: str, count: str,
                    tif: str = "good_till_canceled", **extra: Any) -> dict[str, Any]:
        status, reply = await self.call("POST", "/portfolio/events/orders", v2_order(
            side, price, count, tif, **extra))
        assert status == 201, reply
        return reply


def v2_order(side: str, price: str, count: str, tif: str = "good_till_canceled",
             **extra: Any) -> dict[str, Any]:
    return {"ticker": TICKER, "side": side, "price": price, "count": count,
            "time_in_force": tif, "self_trade_prevention_type": "taker_at_cross", **extra}
