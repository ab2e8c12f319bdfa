"""The embedded mesh end to end: emulated venues -> gateways -> books -> detector -> saga."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.platform.config import load_config
from arbiter.topology.embedded import EmbeddedMesh

REQUIRED = ("book_updates", "opportunities", "sagas_started", "sagas_completed",
            "sagas_compensated", "orders_sent", "fills", "locked_in_pnl_usd", "realized_pnl_usd",
            "unrealized_pnl_usd", "mark_value_usd", "fees_paid_usd", "pnl_by_venue",
            "pnl_by_pair", "open_positions")


async def _run(seed: int, steps: int) -> tuple[dict, EmbeddedMesh]:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"market.seed": seed}))
    await mesh.start()
    for _ in range(steps):
        await mesh.step()
    summary = mesh.summary()
    await mesh.stop()
    return summary, mesh


async def test_same_seed_same_numbers_and_different_seed_differs() -> None:
    first, _ = await _run(11, 120)
    second, _ = await _run(11, 120)
    other, _ = await _run(12, 120)
    assert first == second
    assert first != other


async def test_default_seed_finds_and_completes_sagas() -> None:
    summary, mesh = await _run(7, 200)
    for key in REQUIRED:
        assert key in summary
    assert summary["opportunities"] > 0
    assert summary["sagas_completed"] > 0
    assert summary["fills"] >= 2 * summary["sagas_completed"]
    assert summary["sagas_in_flight"] == 0
    assert mesh.venue("polymarket").engines and mesh.venue("kalshi").engines


async def test_realized_plus_unrealized_is_each_venues_balance_change_plus_marked_positions(
) -> None:
    """The venues' own balances and positions (read over their APIs) against the engine's
    PnL from its fills: equal to the micro-dollar, per venue, with Kalshi netting YES
    against NO along the way (so some PnL is realized before any market resolves)."""
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"market.seed": 7}))
    await mesh.start()
    for _ in range(300):
        await mesh.step()
    assert mesh.portfolio is not None
    summary, report = mesh.summary(), await mesh.portfolio.reconcile()
    await mesh.stop()
    assert summary["sagas_completed"] > 0
    assert set(report) == {"kalshi", "polymarket"}
    for venue, numbers in report.items():
        assert Decimal(numbers["difference_usd"]) == 0, (venue, numbers)
        assert Decimal(numbers["cash_change_usd"]) < 0  # it bought something
        assert Decimal(numbers["engine_pnl_usd"]) == (
            Decimal(summary["pnl_by_venue"][venue]["realized_pnl_usd"])
            + Decimal(summary["pnl_by_venue"][venue]["unrealized_pnl_usd"]))
        for kind in ("realized", "unrealized"):  # the metrics say what the summary does
            gauge = REGISTRY.get_sample_value(f"arbiter_{kind}_pnl_dollars", {
                "tenant": mesh.config.tenant.id, "venue": venue})
            assert gauge == pytest.approx(float(summary["pnl_by_venue"][venue][f"{kind}_pnl_usd"]))
    assert Decimal(summary["pnl_by_venue"]["kalshi"]["realized_pnl_usd"]) != 0
    assert Decimal(summary["pnl_by_venue"]["polymarket"]["realized_pnl_usd"]) == 0
    assert sum(Decimal(p["realized_pnl_usd"]) + Decimal(p["unrealized_pnl_usd"])
               for p in summary["pnl_by_pair"].values()) == (
        Decimal(summary["realized_pnl_usd"]) + Decimal(summary["unrealized_pnl_usd"]))


async def test_engine_positions_equal_what_the_venues_report() -> None:
    _, mesh = await _run(3, 200)
    engine = mesh.saga.positions
    for pair in mesh.universe.pairs:
        pm = pair.a
        for outcome, token in ((1, pm.yes_token), (2, pm.no_token)):
            held = engine.get(("polymarket", pm.market_id, _outcome(outcome)), 0)
            assert held == mesh.venue("polymarket").account.positions.get(token, 0)
        ks = pair.b
        net = (engine.get(("kalshi", ks.market_id, _outcome(1)), 0)
               - engine.get(("kalshi", ks.market_id, _outcome(2)), 0))
        assert net == mesh.venue("kalshi").account.positions.get(ks.market_id, 0)


async def test_completed_sagas_are_fully_hedged_and_profitable_in_total() -> None:
    _, mesh = await _run(5, 200)
    terminal = [s for s in mesh.saga.sagas.values() if s.terminal]
    assert terminal
    for saga in terminal:
        if saga.state.name in ("COMPLETED", "COMPENSATED"):
            assert saga.unhedged == 0
    completed = [s for s in terminal if s.state.name == "COMPLETED"]
    assert sum(s.realized_pnl() for s in completed) > 0


def _outcome(value: int):
    from arbiter.core.instruments import Outcome

    return Outcome(value)


def test_cli_run_headless_writes_the_summary(tmp_path) -> None:
    target = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app, ["run", "--duration", "1", "--headless", "--seed", "9", "--summary-json", str(target)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(target.read_text())
    assert summary["seed"] == 9
    assert summary["steps"] == 20
    assert set(REQUIRED) <= set(summary)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "0"], "0.0 is not a number of seconds"),
        (["--bus", "rabbit"], "'rabbit' is not one of 'memory', 'kafka'"),
        (["--seed", "x"], "Invalid value"),
    ],
)
def test_cli_run_rejects_bad_input_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", "--headless", *args])
    assert result.exit_code == 2
    assert message in " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())


async def test_dry_run_signs_and_counts_every_order_and_sends_none() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"venues.dry_run": True}))
    await mesh.start()
    for _ in range(120):
        await mesh.step()
    summary = mesh.summary()
    held = await mesh.venue_positions()
    await mesh.stop()
    assert summary["orders_sent"] > 0
    assert summary["dry_run_orders_not_sent"] == summary["orders_sent"]
    assert summary["fills"] == 0
    assert held == {"polymarket": {}, "kalshi": {}}
    assert mesh.venue("polymarket").orders == {} and mesh.venue("kalshi").orders == {}
