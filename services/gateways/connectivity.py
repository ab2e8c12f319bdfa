"""`arbiter check-connectivity`: can we reach each venue, are we authenticated, is our clock
close to theirs, and do they speak the protocol we sign for?

Polymarket: GET `/time` (reachability and server time in Unix seconds), GET `/version`
(must be 2: V1 orders are rejected since 2026-04-28), and an L2-authenticated GET
`/data/orders`.

Kalshi: GET `/trade-api/v2/exchange/status` (public: reachability), and a signed GET
`/trade-api/v2/portfolio/orders` (auth). Kalshi publishes no time endpoint, so the skew comes
from the HTTP `Date` header of a reply. The transport port returns only (status, body), so the
header is read by a separate plain GET to the same origin (`http_date_probe`), available when
the transport is an `HttpVenueTransport`; otherwise the Kalshi skew is `None` ("not measured").

Both clocks have one-second resolution (`/time` is whole seconds, `Date` is truncated to the
second): the server time is taken as the middle of its second and compared with the middle
of our request, so the skew is accurate to about ±0.5 s plus half the round trip. A venue
clock before 2020 is an emulator's synthetic clock (it counts market steps from 0) and is
reported, not judged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import aiohttp
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.table import Table

from arbiter.core.instruments import Venue
from arbiter.gateways.http_transport import HttpVenueTransport
from arbiter.gateways.kalshi.auth import PrivateKeySigner, RequestSigner, auth_headers
from arbiter.gateways.onboarding import (
    OnboardingError,
    derive_polymarket_creds,
    register_kalshi_key,
)
from arbiter.gateways.polymarket.auth import ApiCreds, l2_headers
from arbiter.gateways.polymarket.signing import LocalSigner
from arbiter.gateways.transport import RequestTimeout, VenueTransport
from arbiter.platform.config import VenueEndpointsConfig
from arbiter.topology.credentials import PAPER_POLYMARKET_KEY

SKEW_WARN_MS = 1_000
SKEW_FAIL_MS = 5_000
POLYMARKET_PROTOCOL_VERSION = 2
V1_REJECTED = ("Polymarket CLOB reports protocol version {found}, but Arbiter signs V2 orders "
               "only (V1 orders are rejected since 2026-04-28); check polymarket_url")
SYNTHETIC_CLOCK_BEFORE_MS = 1_577_836_800_000  # 2020-01-01: older "server time" is an emulator's
KALSHI_API = "/trade-api/v2"

NowMs = Callable[[], float]
DateProbe = Callable[[], Awaitable[str | None]]


def wall_ms() -> float:
    return time.time_ns() / 1_000_000


@dataclass(frozen=True, slots=True)
class PolymarketAuth:
    address: str  # the signer EOA (POLY_ADDRESS)
    api: ApiCreds


@dataclass(frozen=True, slots=True)
class KalshiAuth:
    key_id: str
    signer: RequestSigner


Credentials = PolymarketAuth | KalshiAuth
# Either credentials in hand or how to get them (paper onboarding), called once the venue
# is known to be reachable; an `OnboardingError` or `RequestTimeout` counts as failed auth.
CredentialSource = Credentials | Callable[[], Awaitable[Credentials]] | None


@dataclass(slots=True)
class CheckResult:
    venue: Venue
    reachable: bool = False
    auth_ok: bool | None = None  # None: not checked
    clock_skew_ms: int | None = None  # venue minus local; None: not measured
    protocol: str = ""
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def status(self) -> str:
        return "FAIL" if self.failures else ("WARN" if self.warnings else "OK")

    @property
    def detail(self) -> str:
        return "; ".join(self.failures + self.warnings + self.notes)


def judge_skew(result: CheckResult, skew_ms: int) -> None:
    result.clock_skew_ms = skew_ms
    if abs(skew_ms) > SKEW_FAIL_MS:
        result.failures.append(f"clock skew {skew_ms:+d} ms exceeds {SKEW_FAIL_MS} ms: "
                               "sync the host clock (NTP); signed timestamps will be refused")
    elif abs(skew_ms) > SKEW_WARN_MS:
        result.warnings.append(f"clock skew {skew_ms:+d} ms exceeds {SKEW_WARN_MS} ms")


def skew_from_server_ms(result: CheckResult, server_ms: float, sent_ms: float,
                        received_ms: float) -> None:
    """`server_ms` is the start of the venue's (whole) second."""
    if server_ms < SYNTHETIC_CLOCK_BEFORE_MS:
        result.notes.append(f"venue clock is synthetic ({int(server_ms)} ms): skew not judged")
        return
    judge_skew(result, round(server_ms + 500 - (sent_ms + received_ms) / 2))


def http_date_probe(base_url: str, path: str, timeout_s: float = 5.0) -> DateProbe:
    """A GET that returns the reply's `Date` header (whatever the status)."""
    async def probe() -> str | None:
        async with aiohttp.ClientSession() as session, session.get(
                base_url.rstrip("/") + path, timeout=aiohttp.ClientTimeout(total=timeout_s)) as reply:
            return reply.headers.get("Date")
    return probe


def _unreachable(result: CheckResult, exc: RequestTimeout) -> CheckResult:
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        result.failures.append(f"unreachable: cannot connect to {cause.host}:{cause.port} "
                               f"({cause.os_error.strerror or cause.os_error})")
    else:
        result.failures.append(f"unreachable: {exc}")
    return result


async def _credentials(source: CredentialSource, result: CheckResult) -> Credentials | None:
    if source is None:
        result.notes.append("auth not checked: no credentials configured")
        return None
    if not callable(source):
        return source
    try:
        return await source()
    except (OnboardingError, RequestTimeout) as exc:
        result.auth_ok = False
        result.failures.append(f"auth failed: could not obtain credentials: {exc}")
        return None


def _error_text(raw: bytes) -> str:
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return repr(raw[:200])
    error = reply.get("error", reply) if isinstance(reply, dict) else reply
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:200]


async def check_polymarket(transport: VenueTransport, credentials: CredentialSource = None,
                           now_ms: NowMs = wall_ms) -> CheckResult:
    result = CheckResult(Venue.POLYMARKET)
    sent = now_ms()
    try:
        status, raw = await transport.request("GET", "/time")
    except RequestTimeout as exc:
        return _unreachable(result, exc)
    received = now_ms()
    result.reachable = True
    try:
        if status != 200:
            raise ValueError(f"HTTP {status}")
        skew_from_server_ms(result, int(orjson.loads(raw)) * 1000, sent, received)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        result.failures.append(f"GET /time: unusable reply ({exc}): {raw[:100]!r}")

    status, raw = await transport.request("GET", "/version")
    version = None
    try:
        version = orjson.loads(raw).get("version") if status == 200 else None
    except (orjson.JSONDecodeError, AttributeError):
        pass
    result.protocol = f"CLOB v{version}" if version is not None else "CLOB v?"
    if version is None:
        result.failures.append(f"GET /version: HTTP {status} {raw[:100]!r}; cannot confirm the "
                               "V2 protocol (V1 orders are rejected since 2026-04-28)")
    elif version != POLYMARKET_PROTOCOL_VERSION:
        result.failures.append(V1_REJECTED.format(found=version))

    creds = await _credentials(credentials, result)
    if isinstance(creds, PolymarketAuth):
        path = "/data/orders"
        headers = l2_headers(creds.address, creds.api, int(now_ms() // 1000), "GET", path)
        status, raw = await transport.request("GET", path, {"next_cursor": "MA=="}, headers)
        result.auth_ok = status == 200
        if not result.auth_ok:
            result.failures.append(f"auth failed: GET {path} HTTP {status}: {_error_text(raw)}")
    return result


async def check_kalshi(transport: VenueTransport, credentials: CredentialSource = None,
                       now_ms: NowMs = wall_ms, date_probe: DateProbe | None = None) -> CheckResult:
    result = CheckResult(Venue.KALSHI, protocol="trade-api v2")
    try:
        status, raw = await transport.request("GET", f"{KALSHI_API}/exchange/status")
    except RequestTimeout as exc:
        return _unreachable(result, exc)
    result.reachable = True
    if status != 200:
        result.warnings.append(f"GET /exchange/status: HTTP {status}: {_error_text(raw)}")
    else:
        reply = orjson.loads(raw)
        if not (reply.get("exchange_active") and reply.get("trading_active")):
            result.warnings.append(f"exchange not trading: {reply}")

    if date_probe is None and isinstance(transport, HttpVenueTransport):
        date_probe = http_date_probe(transport.base_url, f"{KALSHI_API}/exchange/status",
                                     transport.request_timeout_s)
    if date_probe is None:
        result.notes.append("skew not measured: Kalshi has no time endpoint and this transport "
                            "exposes no Date header")
    else:
        sent = now_ms()
        try:
            date = await date_probe()
        except (aiohttp.ClientError, TimeoutError) as exc:
            date = None
            result.notes.append(f"skew not measured: {exc!r}")
        received = now_ms()
        if date:
            skew_from_server_ms(result, parsedate_to_datetime(date).timestamp() * 1000,
                                sent, received)
        elif not result.notes:
            result.notes.append("skew not measured: reply had no Date header")

    creds = await _credentials(credentials, result)
    if isinstance(creds, KalshiAuth):
        path = f"{KALSHI_API}/portfolio/orders"
        headers = await auth_headers(creds.key_id, creds.signer, int(now_ms()), "GET", path)
        status, raw = await transport.request("GET", path, {"limit": "1"}, headers)
        result.auth_ok = status == 200
        if not result.auth_ok:
            result.failures.append(f"auth failed: GET {path} HTTP {status}: {_error_text(raw)}")
    return result


async def check_venue(venue: Venue, transport: VenueTransport,
                      credentials: CredentialSource = None, now_ms: NowMs = wall_ms,
                      date_probe: DateProbe | None = None) -> CheckResult:
    """Never raises for a venue's fault: every problem ends up in the result."""
    try:
        if venue is Venue.POLYMARKET:
            return await check_polymarket(transport, credentials, now_ms)
        return await check_kalshi(transport, credentials, now_ms, date_probe)
    except RequestTimeout as exc:  # reachable at first, then a later call got no reply
        result = CheckResult(venue, reachable=True)
        result.failures.append(f"a request got no reply: {exc}")
        return result


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("[green]yes[/]" if value else "[red]no[/]")


def render_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="Venue connectivity")
    for column in ("venue", "status", "reachable", "auth", "clock skew", "protocol", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
    for r in results:
        skew = "-" if r.clock_skew_ms is None else f"{r.clock_skew_ms:+d} ms"
        table.add_row(r.venue.slug, f"[{colours[r.status]}]{r.status}[/]", _yes_no(r.reachable),
                      _yes_no(r.auth_ok), skew, r.protocol or "-", r.detail or "")
    return table


# -- from the config, as `arbiter check-connectivity` runs it ------------------------------
async def check_configured(venues: VenueEndpointsConfig,
                           only: Sequence[Venue] = (Venue.POLYMARKET, Venue.KALSHI)
                           ) -> list[CheckResult]:
    """Check each venue at its configured URL. With `venues.paper` the credentials are
    onboarded like `arbiter serve gateway-*` does (Polymarket: the paper wallet derives its
    L2 key; Kalshi: a fresh RSA key registered on `arbiter emulator --open-registration`);
    live credentials live in the vault, which this command does not read: auth is then
    reported as not checked."""
    results = []
    for venue in only:
        url = venues.polymarket_url if venue is Venue.POLYMARKET else venues.kalshi_url
        async with HttpVenueTransport(url, {},
                                      request_timeout_s=venues.request_timeout_s) as transport:
            source: CredentialSource = None
            if venues.paper:
                source = (_paper_polymarket(transport) if venue is Venue.POLYMARKET
                          else _paper_kalshi(transport))
            result = await check_venue(venue, transport, source)
            if not venues.paper:
                result.notes.append("live credentials are in the vault: auth not checked")
            result.notes.append(url)
            results.append(result)
    return results


def _paper_polymarket(transport: VenueTransport) -> Callable[[], Awaitable[Credentials]]:
    async def onboard() -> Credentials:
        signer = LocalSigner(PAPER_POLYMARKET_KEY)
        return PolymarketAuth(signer.address, await derive_polymarket_creds(transport, signer))
    return onboard


def _paper_kalshi(transport: VenueTransport) -> Callable[[], Awaitable[Credentials]]:
    async def onboard() -> Credentials:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        try:
            key_id = await register_kalshi_key(transport, key, name="arbiter-connectivity")
        except OnboardingError as exc:
            raise OnboardingError(f"{exc} (paper mode needs `arbiter emulator "
                                  "--open-registration`)") from exc
        return KalshiAuth(key_id, PrivateKeySigner(key))
    return onboard
