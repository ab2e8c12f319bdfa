"""`arbiter check-connectivity`, the venue-neutral half: a result per venue, clock-skew
judgement, and the table. Each venue's plugin runs its own checks (`VenuePlugin.check`):
reach, the protocol version it signs for, clock skew and an authenticated call with the
credentials its gateway would use.

Venue clocks have one-second resolution (a `/time` endpoint in whole seconds, or an HTTP
`Date` header truncated to the second): the server time is taken as the middle of its second
and compared with the middle of our request, so the skew is accurate to about ±0.5 s plus
half the round trip. A venue clock before 2020 is an emulator's synthetic clock and is
reported, not judged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
import orjson
from rich.table import Table

from arbiter.core.instruments import Venue
from arbiter.core.units import to_decimal
from arbiter.gateways.onboarding import OnboardingError
from arbiter.platform.transport import RequestTimeout

SKEW_WARN_MS = 1_000
SKEW_FAIL_MS = 5_000
SYNTHETIC_CLOCK_BEFORE_MS = 1_577_836_800_000  # 2020-01-01: older "server time" is an emulator's

NowMs = Callable[[], float]
DateProbe = Callable[[], Awaitable[str | None]]
C = TypeVar("C")


def wall_ms() -> float:
    return time.time_ns() / 1_000_000


@dataclass(slots=True)
class CheckResult:
    venue: Venue
    reachable: bool = False
    auth_ok: bool | None = None  # None: not checked
    clock_skew_ms: int | None = None  # venue minus local; None: not measured
    protocol: str = ""
    balance_micros: int | None = None  # what the account can spend; None: not read
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


def judge_balance(result: CheckResult, cash: int, allowance: int | None = None) -> None:
    """An account that can fund nothing fails; an exchange approved for less than the cash
    is a warning (orders beyond the approval would be refused)."""
    spendable = cash if allowance is None else min(cash, allowance)
    result.balance_micros = spendable
    if spendable <= 0:
        result.failures.append("no spendable balance: deposit funds"
                               + (" or approve the exchange" if allowance is not None else ""))
    elif allowance is not None and allowance < cash:
        result.warnings.append(f"exchange approved for ${to_decimal(allowance):,.2f} of "
                               f"${to_decimal(cash):,.2f} collateral")


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
    except (OnboardingError, RequestTimeout) as exc:
        result.auth_ok = False
        result.failures.append(f"auth failed: could not obtain credentials: {exc}")
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


def render_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="Venue connectivity")
    for column in ("venue", "status", "reachable", "auth", "clock skew", "balance", "protocol",
                   "detail"):
        table.add_column(column, overflow="fold")
    colours = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
    for r in results:
        skew = "-" if r.clock_skew_ms is None else f"{r.clock_skew_ms:+d} ms"
        balance = "-" if r.balance_micros is None else f"${to_decimal(r.balance_micros):,.2f}"
        table.add_row(r.venue, f"[{colours[r.status]}]{r.status}[/]", _yes_no(r.reachable),
                      _yes_no(r.auth_ok), skew, balance, r.protocol or "-", r.detail or "")
    return table
