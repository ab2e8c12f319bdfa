"""`arbiter check-connectivity`, the venue-neutral half: a result per venue, clock-skew
judgement, and the table. Each venue's plugin runs its own checks (`VenuePlugin.check`):
reach, the protocol version it signs for, clock skew and an authenticated call with the
credentials its gateway would use.

Venue clocks have one-second resolution (a `/time` endpoint in whole seconds, or an HTTP
`Date` header truncated to the second): the server time is taken as the middle of its second
and compared with the middle of our request, so the skew is accurate to about ±0.5 s plus
half the round trip. A venue clock before 2020 is an emulator's synthetic clock and is
reported, not judged.

Readiness (what `arbiter run --live` refuses to start without) goes further, with the same
shared pieces for every venue: each WebSocket channel the gateway opens must complete its
handshake and *answer* a subscription within the deadline (`probe_channel`, fed the venue's
`ChannelProbe`s), each configured market must be listed, open and agree with the configured
tick and fees (`judge_listing`, fed the venue's `Listing`), and the spendable balance must
reach the required minimum (`judge_minimum`). Each such check is recorded by name
(`CheckResult.checks`), and every failure line names its check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import aiohttp
import orjson
from rich.table import Table

from arbiter.core.instruments import Venue
from arbiter.core.units import to_decimal
from arbiter.gateways.base import json_object
from arbiter.gateways.onboarding import OnboardingError
from arbiter.platform.transport import Connection, RequestTimeout, VenueTransport, WsHeaders

SKEW_WARN_MS = 1_000
SKEW_FAIL_MS = 5_000
SYNTHETIC_CLOCK_BEFORE_MS = 1_577_836_800_000  # 2020-01-01: older "server time" is an emulator's

NowMs = Callable[[], float]
DateProbe = Callable[[], Awaitable[str | None]]
C = TypeVar("C")


def wall_ms() -> float:
    return time.time_ns() / 1_000_000


CheckStatus = Literal["ok", "warn", "fail", "not checked"]


@dataclass(frozen=True, slots=True)
class Check:
    """One named readiness check: its verdict, what it measured and, unless ok, why.
    Channel checks are named "<channel> ws", market checks "market <market id>"."""

    name: str
    status: CheckStatus
    value: str = ""
    cause: str = ""

    @property
    def of_channel(self) -> bool:
        return self.name.endswith(" ws")

    @property
    def of_market(self) -> bool:
        return self.name.startswith("market ") and not self.of_channel


@dataclass(slots=True)
class CheckResult:
    venue: Venue
    reachable: bool = False
    auth_ok: bool | None = None  # None: not checked
    clock_skew_ms: int | None = None  # venue minus local; None: not measured
    protocol: str = ""
    balance_micros: int | None = None  # what the account can spend; None: not read
    cash_micros: int | None = None
    allowance_micros: int | None = None  # None: the venue has no allowance
    min_balance_micros: int = 0
    checks: list[Check] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def passed(self, name: str, value: str = "") -> None:
        self.checks.append(Check(name, "ok", value))

    def fail(self, name: str, cause: str, value: str = "") -> None:
        self.checks.append(Check(name, "fail", value, cause))
        self.failures.append(f"{name}: {cause}")

    def warn(self, name: str, cause: str, value: str = "") -> None:
        self.checks.append(Check(name, "warn", value, cause))
        self.warnings.append(f"{name}: {cause}")

    def not_checked(self, name: str, why: str) -> None:
        """A check that could not run is a warning, never a silent pass."""
        self.checks.append(Check(name, "not checked", cause=f"not checked: {why}"))
        self.warnings.append(f"{name}: not checked: {why}")

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


def judge_balance(result: CheckResult, cash: int, allowance: int | None = None) -> None:
    """An account that can fund nothing fails; an exchange approved for less than the cash
    is a warning (orders beyond the approval would be refused)."""
    spendable = cash if allowance is None else min(cash, allowance)
    result.balance_micros, result.cash_micros, result.allowance_micros = spendable, cash, allowance
    if spendable <= 0:
        result.failures.append("no spendable balance: deposit funds"
                               + (" or approve the exchange" if allowance is not None else ""))
    elif allowance is not None and allowance < cash:
        result.warnings.append(f"exchange approved for ${to_decimal(allowance):,.2f} of "
                               f"${to_decimal(cash):,.2f} collateral")


def judge_minimum(result: CheckResult, min_micros: int) -> None:
    """Spendable below the required minimum fails: the first saga would be refused."""
    result.min_balance_micros = min_micros
    if result.balance_micros is None:
        return
    spendable = f"${to_decimal(result.balance_micros):,.2f}"
    if result.balance_micros < min_micros:
        result.fail("balance", f"spendable {spendable} is below the required "
                    f"${to_decimal(min_micros):,.2f}", spendable)
    else:
        result.passed("balance", spendable)


def http_date_probe(base_url: str, path: str, timeout_s: float = 5.0) -> DateProbe:
    """A GET that returns the reply's `Date` header (whatever the status)."""
    async def probe() -> str | None:
        async with aiohttp.ClientSession() as session, session.get(
                base_url.rstrip("/") + path, timeout=aiohttp.ClientTimeout(total=timeout_s)) as reply:
            return reply.headers.get("Date")
    return probe


def unreachable(result: CheckResult, exc: RequestTimeout) -> CheckResult:
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        result.failures.append(f"unreachable: cannot connect to {cause.host}:{cause.port} "
                               f"({cause.os_error.strerror or cause.os_error})")
    else:
        result.failures.append(f"unreachable: {exc}")
    return result


async def guarded(venue: Venue, check: Awaitable[CheckResult]) -> CheckResult:
    """Run a venue's checks; a venue reachable at first whose later call got no reply is a
    failed check, not an exception."""
    try:
        return await check
    except RequestTimeout as exc:
        result = CheckResult(venue, reachable=True)
        result.failures.append(f"a request got no reply: {exc}")
        return result


async def obtain(
    source: Callable[[], Awaitable[C]] | None, result: CheckResult
) -> C | None:
    """The credentials to check with, obtained once the venue is known to be reachable (a
    paper key is onboarded then); failing to obtain them is failed auth."""
    if source is None:
        result.notes.append("auth not checked: no credentials configured")
        return None
    try:
        return await source()
    except (OnboardingError, CredentialsUnavailable, RequestTimeout) as exc:
        result.auth_ok = False
        result.failures.append(f"auth failed: could not obtain credentials: {exc}")
        return None


class CredentialsUnavailable(Exception):
    """The credentials could not be had (the vault refused or is down): failed auth."""


class Remembered(Generic[C]):
    """A credential source that obtains once: the authenticated call and the channel probes
    use the same credentials, as one gateway does (a paper key is onboarded once)."""

    def __init__(self, source: Callable[[], Awaitable[C]]) -> None:
        self._source = source
        self.value: C | None = None

    async def __call__(self) -> C:
        if self.value is None:
            self.value = await self._source()
        return self.value


class ProbeRefused(Exception):
    """The venue answered a channel probe with an error, or hung up first."""


@dataclass(frozen=True)
class ChannelProbe:
    """One WebSocket channel to prove, from the venue plugin: the transport channel, its
    handshake headers, the frames to send (a subscription) and `answered`, which reads each
    frame the venue sends and returns what it proved once it is the awaited answer (None:
    keep waiting), or raises `ProbeRefused` for the venue's error reply."""

    check: str
    channel: str
    frames: Sequence[bytes]
    answered: Callable[[bytes], str | None]
    headers: WsHeaders | None = None


async def probe_channel(result: CheckResult, transport: VenueTransport, probe: ChannelProbe,
                        deadline_s: float) -> None:
    """Connect, subscribe and wait for the answer, all within `deadline_s`; a refused or
    failed handshake, an error reply, a hang-up or silence is a failure naming the check."""
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_frame(frame: bytes) -> None:
        if answer.done():
            return
        try:
            proved = probe.answered(frame)
        except ProbeRefused as exc:
            answer.set_exception(exc)
            return
        if proved is not None:
            answer.set_result(proved)

    async def on_state(up: bool) -> None:
        if not up and not answer.done():
            answer.set_exception(ProbeRefused("the venue closed the connection before "
                                              "answering the subscription"))

    connection: Connection | None = None
    try:
        async with asyncio.timeout(deadline_s):
            connection = await transport.connect(probe.channel, on_frame, probe.headers,
                                                 on_state)
            for frame in probe.frames:
                await connection.send(frame)
            proved = await answer
        result.passed(probe.check, proved)
    except TimeoutError:
        stage = "the subscription" if connection is not None else "the handshake"
        result.fail(probe.check, f"no answer to {stage} within {deadline_s:g} s")
    except aiohttp.WSServerHandshakeError as exc:
        result.fail(probe.check, f"handshake {exc.status} at {exc.request_info.real_url}")
    except aiohttp.ClientConnectorError as exc:
        result.fail(probe.check, f"handshake refused: cannot connect to {exc.host}:{exc.port} "
                    f"({exc.os_error.strerror or exc.os_error})")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        result.fail(probe.check, f"handshake failed: {exc}")
    except ProbeRefused as exc:
        result.fail(probe.check, str(exc))
    finally:
        if connection is not None:
            await connection.close()


@dataclass(frozen=True, slots=True)
class Listing:
    """What the venue says of one configured market. `found` None: the venue has no way to
    say; `accepting` None: it did not say whether orders are taken; `fields` maps each
    compared field to (configured, venue's) value, which must be equal; `minimums` maps each
    venue minimum to (configured, venue's), where the configured one may be larger (an order
    the config allows must be one the venue takes); `not_checked` names what the venue could
    not be asked ("venue has no GET /markets/{id}")."""

    market_id: str
    found: bool | None
    accepting: bool | None = None
    state: str = ""
    fields: Mapping[str, tuple[Decimal | str | bool, Decimal | str | bool]] = field(
        default_factory=dict)
    minimums: Mapping[str, tuple[Decimal, Decimal | str]] = field(default_factory=dict)
    not_checked: Sequence[str] = ()


def judge_listing(result: CheckResult, listing: Listing) -> None:
    """A market the venue does not list, does not trade or describes differently from the
    config fails, naming the market and the field."""
    name = f"market {listing.market_id}"
    if listing.found is False:
        result.fail(name, "not listed on the venue" + (f" ({listing.state})"
                                                      if listing.state else ""))
        return
    failed = False
    if listing.accepting is False:
        result.fail(name, f"not accepting orders ({listing.state or 'closed'})")
        failed = True
    for key, (configured, venue) in listing.fields.items():
        if configured != venue:
            result.fail(name, f"{key} configured {configured}, venue says {venue}")
            failed = True
    for key, (configured_min, venue_min) in listing.minimums.items():
        if not isinstance(venue_min, Decimal) or configured_min < venue_min:
            result.fail(name, f"{key} configured {configured_min}, below the venue's {venue_min}")
            failed = True
    if listing.found is None or listing.not_checked:
        why = list(listing.not_checked) or ["venue cannot say whether it lists it"]
        result.not_checked(name, "; ".join(why))
    elif not failed:
        agreed = ", ".join([f"{k} {v}" for k, (_, v) in listing.fields.items()]
                           + [f"{k} {v} (configured {c})"
                              for k, (c, v) in listing.minimums.items()])
        result.passed(name, f"{listing.state or 'listed'}{'; ' + agreed if agreed else ''}")


def as_json(result: CheckResult) -> dict[str, Any]:
    """One venue's readiness as JSON: money as decimal dollar strings, every check named."""
    def money(micros: int | None) -> str | None:
        return None if micros is None else format(to_decimal(micros).normalize(), "f")

    return {
        "venue": result.venue, "status": result.status, "ok": result.ok,
        "reachable": result.reachable, "auth_ok": result.auth_ok,
        "clock_skew_ms": result.clock_skew_ms, "protocol": result.protocol,
        "balance": money(result.balance_micros), "cash": money(result.cash_micros),
        "allowance": money(result.allowance_micros),
        "min_balance": money(result.min_balance_micros),
        "checks": [{"name": c.name, "status": c.status, "value": c.value, "cause": c.cause}
                   for c in result.checks],
        "failures": list(result.failures), "warnings": list(result.warnings),
        "notes": list(result.notes),
    }


def object_reply(status: int, raw: bytes) -> dict[str, Any] | None:
    """A 200 reply's JSON object; None for any other status or shape."""
    return frame_object(raw) if status == 200 else None


def frame_object(raw: bytes) -> dict[str, Any] | None:
    """A reply body or WebSocket frame that is a JSON object; None for anything else (a
    probe waits past the venue's keep-alive text)."""
    try:
        return json_object(raw)
    except ValueError:
        return None


def error_text(raw: bytes) -> str:
    """A venue's error reply, short: its message where it has one."""
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return repr(raw[:200])
    error = reply.get("error", reply) if isinstance(reply, dict) else reply
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:200]


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("[green]yes[/]" if value else "[red]no[/]")


def _problems(result: CheckResult) -> list[str]:
    """Failures first, then warnings; one line for a cause several markets share."""
    from_checks = {f"{c.name}: {c.cause}" for c in result.checks}
    grouped: dict[tuple[str, str, bool], list[str]] = {}
    for check in sorted(result.checks, key=lambda c: c.status != "fail"):
        if check.status != "ok":
            grouped.setdefault((check.status, check.cause, check.of_market), []).append(
                check.name)
    lines = [line for line in result.failures if line not in from_checks]
    for (_, cause, of_market), names in grouped.items():
        who = f"{len(names)} markets" if of_market and len(names) > 1 else ", ".join(names)
        lines.append(f"{who}: {cause}")
    return lines + [line for line in result.warnings if line not in from_checks]


def _tally(result: CheckResult, channels: bool) -> str:
    mine = [c for c in result.checks if (c.of_channel if channels else c.of_market)]
    return f"{sum(c.status == 'ok' for c in mine)}/{len(mine)} ok" if mine else "-"


def render_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="Venue readiness")
    for column in ("venue", "status", "reachable", "auth", "clock skew", "balance", "protocol",
                   "channels", "markets", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
    for r in results:
        skew = "-" if r.clock_skew_ms is None else f"{r.clock_skew_ms:+d} ms"
        balance = "-" if r.balance_micros is None else f"${to_decimal(r.balance_micros):,.2f}"
        table.add_row(r.venue, f"[{colours[r.status]}]{r.status}[/]", _yes_no(r.reachable),
                      _yes_no(r.auth_ok), skew, balance, r.protocol or "-",
                      _tally(r, channels=True), _tally(r, channels=False),
                      "; ".join(_problems(r) + r.notes))
    return table
