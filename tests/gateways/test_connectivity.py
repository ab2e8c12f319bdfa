"""`check-connectivity` against socket-served emulators on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.core.units import ONE_DOLLAR
from arbiter.emulators.server import VenueServer
from arbiter.emulators.venue import DEFAULT_FUNDS, HttpResponse
from arbiter.emulators.wire import dollars
from arbiter.gateways.connectivity import SKEW_FAIL_MS, CheckResult, judge_balance, render_table
from arbiter.gateways.http_transport import HttpVenueTransport
from arbiter.platform.config import ArbiterConfig, load_config
from arbiter.topology.connectivity import check_configured
from arbiter.topology.universe import TradingUniverse
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


class PolymarketWithMarkets(PolymarketEmulator):
    """The CLOB's market endpoints in their documented shapes (facts A2), with what the
    emulator never does on its own: a market closed, a fee rate changed.
    `/markets/{condition_id}` (accepting_orders, closed, minimum_tick_size) and the V2
    `/clob-markets/{condition_id}` (`fd` = fee rate and exponent)."""

    closed: frozenset[str] = frozenset()
    fee_rate = "0.04"

    async def handle_http(self, method: str, path: str, query: dict[str, str],
                          headers: dict[str, str], body: bytes) -> HttpResponse:
        condition = path.rsplit("/", 1)[-1]
        if method == "GET" and condition in self.token_ids:
            tick = dollars(self.engines[condition].tick)
            if path == f"/markets/{condition}":
                shut = condition in self.closed
                return HttpResponse.json(200, {"condition_id": condition, "closed": shut,
                                               "accepting_orders": not shut,
                                               "minimum_tick_size": float(tick)})
            if path == f"/clob-markets/{condition}":
                return HttpResponse.json(200, {"t": [{"t": t} for t in self.token_ids[condition]],
                                               "mts": float(tick), "nr": False,
                                               "fd": {"r": float(self.fee_rate), "e": 1}})
        return await super().handle_http(method, path, query, headers, body)


class KalshiWithMarkets(KalshiEmulator):
    """GET /trade-api/v2/markets/{ticker} as Kalshi documents it (facts B4), with a status
    and a price-level structure the test can change."""

    status = "active"
    structure = "linear_cent"

    async def handle_http(self, method: str, path: str, query: dict[str, str],
                          headers: dict[str, str], body: bytes) -> HttpResponse:
        ticker = path.removeprefix("/trade-api/v2/markets/")
        if method == "GET" and ticker in self.engines:
            return HttpResponse.json(200, {"market": {
                "ticker": ticker, "status": self.status,
                "price_level_structure": self.structure, "fractional_trading_enabled": False}})
        return await super().handle_http(method, path, query, headers, body)


@dataclass
class Venues:
    """Both venues served on sockets, listing the default pairs' markets."""

    polymarket: PolymarketEmulator
    kalshi: KalshiEmulator
    servers: dict[str, VenueServer]

    @property
    def polymarket_url(self) -> str:
        return self.servers["polymarket"].url

    @property
    def kalshi_url(self) -> str:
        return self.servers["kalshi"].url

    def sections(self, **changes: dict[str, Any]) -> dict[str, Any]:
        """The `venues` section pointing at the served emulators, with `changes` per venue."""
        sections = {slug: {**plugin(slug).served_at(server.url, server.ws_urls),
                           **changes.get(slug, {})} for slug, server in self.servers.items()}
        return {"mode": "paper", "request_timeout_s": 2.0, **sections}

    def config(self, **changes: dict[str, Any]) -> ArbiterConfig:
        return load_config(environ={}, overrides={"venues": self.sections(**changes)})


async def _serve(polymarket: PolymarketEmulator,
                 kalshi: KalshiEmulator | None = None) -> AsyncIterator[Venues]:
    kalshi = kalshi or KalshiEmulator()
    kalshi.open_registration = True
    universe = TradingUniverse.from_config(load_config(environ={}).market)
    for emulator in (polymarket, kalshi):
        for entry in universe.listed[emulator.venue]:
            emulator.list_market(entry.market, entry.fees)
    async with VenueServer(polymarket) as pm, VenueServer(kalshi) as ks:
        yield Venues(polymarket, kalshi, {"polymarket": pm, "kalshi": ks})


@pytest.fixture
async def venues() -> AsyncIterator[Venues]:
    async for served in _serve(PolymarketEmulator()):
        yield served


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def statuses(result: CheckResult) -> dict[str, str]:
    return {check.name: check.status for check in result.checks}


async def test_a_good_config_passes_every_check(venues: Venues) -> None:
    results = await check_configured(venues.config())
    assert [r.venue for r in results] == ["polymarket", "kalshi"]  # the pairs' order
    for r in results:
        assert (r.ok, r.reachable, r.auth_ok) == (True, True, True), r.detail
    polymarket, kalshi = results
    assert polymarket.protocol == "CLOB v2"
    assert polymarket.clock_skew_ms is None and "synthetic" in polymarket.detail
    assert kalshi.clock_skew_ms is not None and abs(kalshi.clock_skew_ms) <= 1_500  # Date header
    assert polymarket.balance_micros == kalshi.balance_micros == DEFAULT_FUNDS
    pm, ks = statuses(polymarket), statuses(kalshi)
    assert (pm["market ws"], pm["user ws"], pm["balance"]) == ("ok", "ok", "ok")
    assert (ks["book ws"], ks["fill ws"], ks["balance"]) == ("ok", "ok", "ok")
    channels = {c.name: c.value for c in polymarket.checks + kalshi.checks}
    assert channels["market ws"].startswith("book of ") and "PONG" in channels["user ws"]
    assert channels["book ws"].startswith("snapshot of ") and "fill" in channels["fill ws"]
    # every configured market was looked up and agrees with the venue's listing; the venue's
    # 0.01 minimum order size is below the configured 1, which is allowed
    markets = {c.name: c.status for c in polymarket.checks if c.of_market}
    assert markets == {f"market 0x{i:064x}": "ok" for i in range(1, 5)}
    assert all(c.status == "ok" for c in kalshi.checks if c.of_market)
    assert any("min_size 0.01 (configured 1)" in c.value for c in polymarket.checks)
    text = _render(results)
    assert "polymarket" in text and "kalshi" in text
    assert "$100,000.00" in text and "2/2 ok" in text and "4/4 ok" in text


async def test_a_wrong_ws_url_fails_naming_the_channel(venues: Venues) -> None:
    wrong = venues.servers["polymarket"].url.replace("http://", "ws://") + "/nope"
    kalshi_wrong = venues.servers["kalshi"].url.replace("http://", "ws://") + "/nope"
    polymarket, kalshi = await check_configured(venues.config(
        polymarket={"ws_url": wrong}, kalshi={"ws_url": kalshi_wrong}))
    assert polymarket.reachable and polymarket.auth_ok and not polymarket.ok
    assert f"market ws: handshake 404 at {wrong}/ws/market" in polymarket.failures
    assert f"user ws: handshake 404 at {wrong}/ws/user" in polymarket.failures
    assert f"book ws: handshake 404 at {kalshi_wrong}" in kalshi.failures
    assert statuses(kalshi)["fill ws"] == "fail"


async def test_a_refused_ws_port_and_a_rejected_signature_are_named(venues: Venues) -> None:
    closed = closed_port_url().replace("http://", "ws://")
    [polymarket] = await check_configured(venues.config(polymarket={"ws_url": closed}),
                                          ["polymarket"])
    assert any(f.startswith("market ws: handshake refused: cannot connect to 127.0.0.1")
               for f in polymarket.failures), polymarket.detail
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def unregistered() -> KalshiCredentials:
        return KalshiCredentials("unregistered-key", PrivateKeySigner(key))

    config = venues.config()
    kalshi_plugin = plugin("kalshi")
    legs = [e.leg for e in TradingUniverse.from_config(config.market).listed["kalshi"]]
    async with kalshi_plugin.endpoints(config.venues.settings("kalshi"),
                                       config.venues).transport() as transport:
        kalshi = await kalshi_plugin.readiness(transport, unregistered, legs, deadline_s=2.0)
    assert kalshi.auth_ok is False
    assert f"book ws: handshake 401 at {venues.servers['kalshi'].ws_urls['ws']}" in kalshi.failures


async def test_an_unknown_market_fails_naming_the_market(venues: Venues) -> None:
    ticker = TradingUniverse.from_config(load_config(environ={}).market).listed["kalshi"][0]
    market_id = ticker.market.market_id
    del venues.kalshi.engines[market_id], venues.kalshi.listings[market_id]  # delisted
    [kalshi] = await check_configured(venues.config(), ["kalshi"])
    assert not kalshi.ok
    [failure] = [f for f in kalshi.failures if f.startswith("market ")]
    assert failure.startswith(f"market {ticker.market.market_id}: not listed on the venue "
                              f"(GET /trade-api/v2/markets/{ticker.market.market_id}: HTTP 404")


async def test_a_tick_the_venue_disagrees_with_fails(venues: Venues) -> None:
    condition = f"0x{1:064x}"
    await venues.polymarket.change_tick(condition, 1_000)  # the venue moved to $0.001
    [polymarket] = await check_configured(venues.config(), ["polymarket"])
    assert not polymarket.ok
    assert polymarket.failures == [  # the book and the market listing both say so
        f"market {condition}: tick configured 0.01, venue says 0.001",
        f"market {condition}: minimum_tick_size configured 0.01, venue says 0.001"]


async def test_venues_with_market_endpoints_are_checked_in_full() -> None:
    polymarket, kalshi = PolymarketWithMarkets(), KalshiWithMarkets()
    async for served in _serve(polymarket, kalshi):
        good = await check_configured(served.config())
        for result in good:
            markets = {c.name: (c.status, c.value) for c in result.checks if c.of_market}
            assert {status for status, _ in markets.values()} == {"ok"}, result.detail
        values = [c.value for c in good[0].checks if c.of_market]
        assert len(values) == 4 and all(
            v.startswith("accepting orders") and "fee_rate 0.04" in v for v in values), values
        condition = f"0x{2:064x}"
        polymarket.closed = frozenset({condition})
        polymarket.fee_rate = "0.05"
        kalshi.status, kalshi.structure = "closed", "deci_cent"
        bad = await check_configured(served.config())
    pm, ks = bad
    assert f"market {condition}: not accepting orders (closed=True accepting_orders=False)" \
        in pm.failures
    assert f"market {condition}: fee_rate configured 0.04, venue says 0.05" in pm.failures
    ticker = TradingUniverse.from_config(load_config(environ={}).market).listed["kalshi"][0]
    ticker_id = ticker.market.market_id
    assert f"market {ticker_id}: not accepting orders (closed)" in ks.failures
    assert f"market {ticker_id}: tick configured 0.01, venue says 0.001" in ks.failures


async def test_a_balance_below_the_minimum_fails(venues: Venues) -> None:
    venues.kalshi.account.funds = 5 * ONE_DOLLAR
    [kalshi] = await check_configured(venues.config(), ["kalshi"],
                                      min_balance_micros=10 * ONE_DOLLAR)
    assert kalshi.auth_ok and not kalshi.ok and kalshi.balance_micros == 5 * ONE_DOLLAR
    assert kalshi.failures == ["balance: spendable $5.00 is below the required $10.00"]
    [enough] = await check_configured(venues.config(), ["kalshi"],
                                      min_balance_micros=5 * ONE_DOLLAR)
    assert enough.ok and statuses(enough)["balance"] == "ok"


async def test_json_and_exit_codes_through_the_cli(venues: Venues, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"venues": venues.sections()}))
    runner = CliRunner()
    ok = await asyncio.to_thread(runner.invoke, app, [
        "check-connectivity", "--json", "--config", str(good)])
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    assert [v["venue"] for v in report] == ["polymarket", "kalshi"]
    for venue in report:
        assert venue["ok"] is True and venue["failures"] == [] and venue["balance"] == "100000"
        assert {"name", "status", "value", "cause"} <= set(venue["checks"][0])
        assert {"checks", "warnings", "cash", "allowance", "min_balance", "clock_skew_ms",
                "protocol", "auth_ok", "reachable", "status"} <= set(venue)
    assert report[0]["allowance"] is not None and report[1]["allowance"] is None

    low = await asyncio.to_thread(runner.invoke, app, [
        "check-connectivity", "--venue", "kalshi", "--min-balance", "100000.01", "--json",
        "--config", str(good)])
    assert low.exit_code == 1, low.output
    [kalshi] = json.loads(low.stdout)
    assert kalshi["min_balance"] == "100000.01" and not kalshi["ok"]
    assert ("kalshi: balance: spendable $100,000.00 is below the required $100,000.01"
            in low.stderr)

    bad = await asyncio.to_thread(runner.invoke, app, [
        "check-connectivity", "--min-balance", "ten dollars", "--config", str(good)])
    assert bad.exit_code == 2 and "--min-balance" in bad.output


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
    results = await check_configured(venues.config(polymarket={"url": url},
                                                    kalshi={"url": url}))
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
