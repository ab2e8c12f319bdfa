"""The NonceX plugin, and `registered()`: how a test plugs the venue in and out again."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import orjson

from arbiter.core.fees import FeeModel
from arbiter.core.instruments import Market
from arbiter.core.units import price_from_decimal
from arbiter.emulators.venue import EmulatedVenue
from arbiter.gateways.base import VenueGateway
from arbiter.gateways.connectivity import (
    ChannelProbe,
    CheckResult,
    Listing,
    NowMs,
    ProbeRefused,
    error_text,
    frame_object,
    guarded,
    judge_balance,
    obtain,
    skew_from_server_ms,
    unreachable,
    wall_ms,
)
from arbiter.gateways.dry_run import DRY_RUN_REASON, DryRunRules
from arbiter.gateways.http_transport import SocketEndpoints
from arbiter.platform.config import VenuesConfig
from arbiter.platform.telemetry.metrics import forget_venue
from arbiter.platform.transport import RequestTimeout, VenueTransport
from arbiter.platform.venues import VENUES
from arbiter.venues.plugin import CredentialContext, GatewayContext, ListedMarket, VenuePlugin

from .codec import (
    API,
    FILLS_SUBSCRIPTION,
    NONCE_AHEAD,
    NX_SIGN,
    WS_PATH,
    ErrorCode,
    book_subscription,
    error_body,
)
from .config import VENUE, NoncexMarket, NoncexSettings
from .credentials import CREDENTIAL_KIND, NoncexCredentials, auth_headers, noncex_credentials
from .emulator import NoncexEmulator
from .gateway import NoncexGateway, cash_of

TAKER_FEE = FeeModel("noncex-taker", Fraction(2, 100))
"""2% of p(1-p) per contract, rounded up to the cent per order (the Kalshi formula)."""


class NoncexPlugin(VenuePlugin[NoncexSettings, NoncexMarket, NoncexCredentials]):
    slug = VENUE
    title = "NonceX v1 (test venue)"
    settings_model = NoncexSettings
    market_model = NoncexMarket
    credential_kinds = (CREDENTIAL_KIND,)
    nonce_window = NONCE_AHEAD
    dry_run = DryRunRules(
        secret_headers=frozenset({NX_SIGN}),
        pass_through_writes=frozenset({("POST", f"{API}/keys")}),  # paper onboarding
        rejection=lambda path: orjson.dumps(error_body(ErrorCode.DRY_RUN, DRY_RUN_REASON)),
    )

    def market(self, leg: NoncexMarket) -> Market:
        return Market(VENUE, leg.symbol, price_from_decimal(leg.tick))

    def fee_model(self, leg: NoncexMarket) -> FeeModel:
        return TAKER_FEE

    def successor(self, leg: NoncexMarket, generation: int) -> NoncexMarket:
        suffix = f"N{generation}"
        return NoncexMarket.model_validate(
            {**leg.model_dump(), "symbol": leg.symbol[:32 - len(suffix)] + suffix})

    async def add_market(self, gateway: VenueGateway,
                         listed: ListedMarket[NoncexMarket]) -> None:
        if not isinstance(gateway, NoncexGateway):
            raise TypeError(f"not a NonceX gateway: {type(gateway).__name__}")
        await gateway.add_market(listed.market, listed.fees)

    def emulator(self) -> EmulatedVenue:
        emulator = NoncexEmulator()
        emulator.open_registration = True
        return emulator

    def endpoints(self, settings: NoncexSettings, venues: VenuesConfig) -> SocketEndpoints:
        return SocketEndpoints(settings.url, {"ws": settings.ws_url},
                               heartbeat_s=venues.ws_ping_interval_s,
                               request_timeout_s=venues.request_timeout_s)

    def served_at(self, url: str, ws_urls: Mapping[str, str]) -> dict[str, Any]:
        return {"url": url, "ws_url": ws_urls["ws"]}

    async def credentials(self, context: CredentialContext[NoncexSettings]) -> NoncexCredentials:
        return await noncex_credentials(context)

    def gateway(self, context: GatewayContext[NoncexSettings, NoncexMarket, NoncexCredentials],
                ) -> VenueGateway:
        if context.nonces is None:
            raise ValueError("the NonceX gateway needs the nonce allocator its plugin asks for")
        return NoncexGateway(context.transport, [m.market for m in context.markets],
                             {m.market.market_id: m.fees for m in context.markets},
                             context.credentials, context.nonces, context.clock,
                             context.on_book, context.on_report, timer=context.timer)

    async def check(self, transport: VenueTransport,
                    credentials: Callable[[], Awaitable[NoncexCredentials]] | None,
                    now_ms: NowMs = wall_ms) -> CheckResult:
        return await guarded(VENUE, _check(transport, credentials, now_ms))

    def channel_probes(self, legs: Sequence[NoncexMarket],
                       credentials: NoncexCredentials) -> Sequence[ChannelProbe]:
        """The book snapshot of the first market and the fills ack, signed like the
        gateway's upgrade."""
        symbol = legs[0].symbol

        async def headers() -> dict[str, str]:
            return await auth_headers(credentials, int(wall_ms()), "GET", WS_PATH)

        return [ChannelProbe("book ws", "ws", [book_subscription([symbol])],
                             lambda frame: _answer(frame, "book", symbol), headers),
                ChannelProbe("fill ws", "ws", [FILLS_SUBSCRIPTION],
                             lambda frame: _answer(frame, "subscribed", "fills"), headers)]

    async def listing(self, transport: VenueTransport, leg: NoncexMarket) -> Listing:
        """NonceX publishes no market endpoint: say so rather than pass the market."""
        return Listing(leg.symbol, found=None, not_checked=["venue has no market endpoint"])


def _answer(frame: bytes, kind: str, subject: str) -> str | None:
    """A `book` of `subject` or the `subscribed` ack of channel `subject`."""
    msg = frame_object(frame)
    if msg is None:
        return None
    if msg.get("type") == "error":
        raise ProbeRefused(f"venue error {msg.get('code')}: {msg.get('message')}")
    if msg.get("type") == kind and subject in (msg.get("market"), msg.get("channel")):
        return f"{kind} {subject}"
    return None


async def _check(transport: VenueTransport,
                 credentials: Callable[[], Awaitable[NoncexCredentials]] | None,
                 now_ms: NowMs) -> CheckResult:
    """GET /v1/time (reach, skew), then a signed GET /v1/balance (auth, and the cash)."""
    result = CheckResult(VENUE, protocol="noncex v1")
    sent = now_ms()
    try:
        status, raw = await transport.request("GET", f"{API}/time")
    except RequestTimeout as exc:
        return unreachable(result, exc)
    received = now_ms()
    result.reachable = True
    server_ms = orjson.loads(raw).get("server_ms") if status == 200 else None
    if isinstance(server_ms, int):
        skew_from_server_ms(result, server_ms, sent, received)
    else:
        result.warnings.append(f"GET /v1/time: HTTP {status}: {error_text(raw)}")
    creds = await obtain(credentials, result)
    if creds is not None:
        path = f"{API}/balance"
        status, raw = await transport.request(
            "GET", path, headers=await auth_headers(creds, int(now_ms()), "GET", path))
        result.auth_ok = status == 200
        if not result.auth_ok:
            result.failures.append(f"auth failed: GET {path} HTTP {status}: {error_text(raw)}")
        else:
            try:
                judge_balance(result, cash_of(orjson.loads(raw)))
            except (orjson.JSONDecodeError, AttributeError, ValueError) as exc:
                result.failures.append(f"GET {path}: unreadable balance: {exc}")
    return result


PLUGIN = NoncexPlugin()


@contextlib.contextmanager
def registered() -> Iterator[NoncexPlugin]:
    """NonceX in the venue registry for the block, as an installed plugin would be; after
    it, neither the registry nor the metrics know the venue."""
    VENUES.register(PLUGIN)
    try:
        yield PLUGIN
    finally:
        VENUES.unregister(VENUE)
        forget_venue(VENUE)
