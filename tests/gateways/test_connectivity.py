"""`check-connectivity` against socket-served emulators on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.core.units import ONE_DOLLAR
from arbiter.emulators.server import VenueServer
from arbiter.emulators.venue import DEFAULT_FUNDS, HttpResponse
from arbiter.gateways.connectivity import SKEW_FAIL_MS, CheckResult, judge_balance, render_table
from arbiter.gateways.http_transport import HttpVenueTransport
from arbiter.platform.config import ArbiterConfig, load_config
from arbiter.topology.connectivity import check_configured
from arbiter.venues.kalshi.auth import PrivateKeySigner
from arbiter.venues.kalshi.credentials import KalshiCredentials
from arbiter.venues.kalshi.emulator import KalshiEmulator
from arbiter.venues.plugin import plugin
from arbiter.venues.polymarket.auth import ApiCreds
from arbiter.venues.polymarket.credentials import PAPER_KEY, PolymarketCredentials
from arbiter.venues.polymarket.emulator import PolymarketEmulator
from arbiter.venues.polymarket.signing import LocalSigner


class PolymarketV1(PolymarketEmulator):
    async def handle_http(self, method: str, path: str, query: dict[str, str],
                          headers: dict[str, str], body: bytes) -> HttpResponse:
        if (method, path) == ("GET", "/version"):
            return HttpResponse.json(200, {"version": 1})
        return await super().handle_http(method, path, query, headers, body)


@dataclass
class Venues:
    polymarket: PolymarketEmulator
    kalshi: KalshiEmulator
    polymarket_url: str
    kalshi_url: str

    def config(self, polymarket_url: str | None = None,
               kalshi_url: str | None = None) -> ArbiterConfig:
        return load_config(environ={}, overrides={"venues": {
            "mode": "paper", "request_timeout_s": 2.0,
            "polymarket": {"url": polymarket_url or self.polymarket_url},
            "kalshi": {"url": kalshi_url or self.kalshi_url}}})


async def _serve(polymarket: PolymarketEmulator) -> AsyncIterator[Venues]:
    kalshi = KalshiEmulator()
    kalshi.open_registration = True
    async with VenueServer(polymarket) as pm, VenueServer(kalshi) as ks:
        yield Venues(polymarket, kalshi, pm.url, ks.url)


@pytest.fixture
async def venues() -> AsyncIterator[Venues]:
    async for served in _serve(PolymarketEmulator()):
        yield served


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_all_ok(venues: Venues) -> None:
    results = await check_configured(venues.config())
    assert [r.venue for r in results] == ["polymarket", "kalshi"]  # the pairs' order
    for r in results:
        assert (r.ok, r.reachable, r.auth_ok) == (True, True, True), r.detail
    polymarket, kalshi = results
    assert polymarket.protocol == "CLOB v2"
    assert polymarket.clock_skew_ms is None and "synthetic" in polymarket.detail
    assert kalshi.clock_skew_ms is not None and abs(kalshi.clock_skew_ms) <= 1_500  # Date header
    assert polymarket.balance_micros == kalshi.balance_micros == DEFAULT_FUNDS
    text = _render(results)
    assert "polymarket" in text and "kalshi" in text and "OK" in text
    assert "$100,000.00" in text


async def test_an_account_that_can_fund_nothing_fails(venues: Venues) -> None:
    venues.polymarket.account.funds = venues.kalshi.account.funds = 0
    results = await check_configured(venues.config())
    for r in results:
        assert r.auth_ok and not r.ok and r.balance_micros == 0
        assert "no spendable balance" in r.detail


def test_an_exchange_approved_for_less_than_the_cash_is_a_warning() -> None:
    result = CheckResult("polymarket")
    judge_balance(result, 5 * ONE_DOLLAR, 2 * ONE_DOLLAR)
    assert result.ok and result.status == "WARN" and result.balance_micros == 2 * ONE_DOLLAR
    assert "approved for $2.00 of $5.00" in result.detail


async def test_polymarket_skew_is_judged_against_a_real_clock(venues: Venues) -> None:
    async with HttpVenueTransport(venues.polymarket_url, {}) as transport:
        venues.polymarket.now_ms = time.time_ns() // 1_000_000
        check = plugin("polymarket").check
        fine = await check(transport, None)
        venues.polymarket.now_ms += 2_500
        warned = await check(transport, None)
        venues.polymarket.now_ms += SKEW_FAIL_MS
        failed = await check(transport, None)
    assert fine.status == "OK" and abs(fine.clock_skew_ms or 0) <= 1_000
    assert warned.status == "WARN" and warned.ok and 1_000 < (warned.clock_skew_ms or 0) < 5_000
    assert not failed.ok and "clock skew" in failed.detail


async def test_wrong_credentials_fail_auth(venues: Venues) -> None:
    async def wrong_polymarket() -> PolymarketCredentials:
        return PolymarketCredentials(LocalSigner(PAPER_KEY), ApiCreds("nope", "A" * 43 + "=", "x"))

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def wrong_kalshi() -> KalshiCredentials:
        return KalshiCredentials("unregistered-key", PrivateKeySigner(key))

    async with HttpVenueTransport(venues.polymarket_url, {}) as transport:
        polymarket = await plugin("polymarket").check(transport, wrong_polymarket)
    async with HttpVenueTransport(venues.kalshi_url, {}) as transport:
        kalshi = await plugin("kalshi").check(transport, wrong_kalshi)
    for result in (polymarket, kalshi):
        assert result.reachable and result.auth_ok is False and not result.ok
        assert "auth failed" in result.detail and "401" in result.detail


async def test_kalshi_paper_onboarding_refused_without_open_registration(venues: Venues) -> None:
    venues.kalshi.open_registration = False
    [kalshi] = await check_configured(venues.config(), ["kalshi"])
    assert kalshi.reachable and kalshi.auth_ok is False
    assert "--open-registration" in kalshi.detail


async def test_closed_port_is_unreachable(venues: Venues) -> None:
    url = closed_port_url()
    results = await check_configured(venues.config(polymarket_url=url, kalshi_url=url))
    for r in results:
        assert not r.ok and not r.reachable and r.auth_ok is None
        assert "unreachable: cannot connect to 127.0.0.1" in r.detail


async def test_polymarket_v1_is_refused() -> None:
    async for served in _serve(PolymarketV1()):
        [result] = await check_configured(served.config(), ["polymarket"])
        assert result.reachable and result.auth_ok is True and not result.ok
        assert result.protocol == "CLOB v1"
        assert "V1 orders are rejected since 2026-04-28" in result.detail


def _render(results: list) -> str:
    console = Console(width=200, record=True)
    console.print(render_table(results))
    return console.export_text()


def test_cli_exits_1_when_a_venue_is_unreachable(tmp_path: Path) -> None:
    config = tmp_path / "arbiter.yaml"
    config.write_text(f"venues:\n  kalshi:\n    url: {closed_port_url()}\n"
                      "  request_timeout_s: 2\n")
    result = CliRunner().invoke(app, ["check-connectivity", "--venue", "kalshi",
                                      "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert "unreachable" in result.output and "FAIL" in result.output


def test_cli_rejects_an_unknown_venue() -> None:
    result = CliRunner().invoke(app, ["check-connectivity", "--venue", "nyse"])
    assert result.exit_code == 2
