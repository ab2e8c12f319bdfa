"""The deterministic race simulator: many seeds, invariants after each, and proof that the
invariant checks catch a real bug class."""

from __future__ import annotations

import logging

import pytest

from arbiter.core.instruments import Outcome
from arbiter.core.units import ONE_DOLLAR
from arbiter.gateways.base import VenueGateway
from arbiter.simulation.chaos import Faults
from arbiter.simulation.harness import RaceSimulator
from arbiter.simulation.sweep import sweep
from arbiter.topology.lifecycle import Lifecycle
from arbiter.v1 import common_pb2, risk_pb2
from arbiter.venues.kalshi.gateway import KalshiGateway
from arbiter.venues.polymarket.gateway import PolymarketGateway

SEEDS = range(2000)  # "thousands of seeds in CI": ~2.5 min over both cores
STEPS = 30


@pytest.fixture(autouse=True)
def _quiet() -> None:
    logging.disable(logging.CRITICAL)  # held sagas alert by design under injected faults
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_invariants_hold_for_every_seed() -> None:
    result = sweep(SEEDS, STEPS)
    failures = {seed: v[:3] for seed, v in result.failures.items()}
    assert not failures, f"replay with tools/race_sim.py --seed N --steps {STEPS}: {failures}"
    totals = result.totals()
    print(f"\nrace simulator: {len(SEEDS)} seeds in {result.seconds:.0f} s, {dict(totals)}")
    # the faults really were exercised, in proportion to the seeds
    assert totals["crashes"] > len(SEEDS) and totals["timeout_after"] > len(SEEDS) // 3
    assert totals["dropped"] > 4 * len(SEEDS) and totals["sagas"] > 10 * len(SEEDS)


PARALLEL_SEEDS = range(150)  # a smaller sweep of the same faults for parallel execution


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_invariants_hold_for_every_seed_with_parallel_legs() -> None:
    result = sweep(PARALLEL_SEEDS, STEPS, execution="parallel")
    failures = {seed: v[:3] for seed, v in result.failures.items()}
    assert not failures, (f"replay with tools/race_sim.py --seed N --steps {STEPS} "
                          f"--execution parallel: {failures}")
    states = result.end_states()
    # both legs really went out together and were hedged whichever one fell short
    assert states["COMPLETED"] > len(PARALLEL_SEEDS) and states["COMPENSATED"] > 0
    assert result.totals()["crashes"] > len(PARALLEL_SEEDS) // 2


def test_a_sweep_is_the_same_whatever_the_number_of_workers() -> None:
    seeds = range(300, 306)
    assert sweep(seeds, STEPS, workers=2).reports == sweep(seeds, STEPS, workers=1).reports


async def test_a_seed_replays_exactly() -> None:
    first = await RaceSimulator(7, STEPS).run()
    second = await RaceSimulator(7, STEPS).run()
    assert first == second


async def test_without_faults_nothing_is_lost_or_compensated() -> None:
    report = await RaceSimulator(3, 60, Faults(0, 0, 0, 0, 0, 0, 0), crash_per_mille=0).run()
    assert report.violations == []
    assert report.terminal_states.get("COMPLETED", 0) > 0
    assert report.crashes == 0


async def test_the_checks_catch_a_gateway_that_assumes_a_timed_out_order_was_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def assume_lost(self: VenueGateway, market, request):
        return await self.rejected(request, "assumed lost")  # the bug: no lookup

    for gateway in (PolymarketGateway, KalshiGateway):
        monkeypatch.setattr(gateway, "_reconcile", assume_lost)
    caught = []
    for seed in range(15):
        report = await RaceSimulator(seed, STEPS).run()
        caught += report.violations
    assert any("!= venue" in v for v in caught), caught


async def test_the_checks_catch_a_settlement_booked_again_after_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every run ends with both pairs resolving (one voided on a venue) and the engine
    reading the settlements, maybe across a crash. Booked as the engine first did (sell
    what the saga log says was bought, whatever risk holds), a restarted engine books the
    payout a second time against a risk seeded from the venue: the checks see it."""

    async def book_from_the_log(self: Lifecycle, venue: str, market_id: str,
                                payout: int) -> None:
        for outcome, pays in ((Outcome.YES, payout), (Outcome.NO, ONE_DOLLAR - payout)):
            qty = self.saga.positions.get((venue, market_id, outcome), 0)
            if qty:
                await self.risk.RecordFill(risk_pb2.FillRecord(
                    tenant=self.tenant, venue=venue, market_id=market_id,
                    outcome=common_pb2.Outcome.ValueType(outcome), qty_micros=-qty,
                    price_micros=pays, trade_id=f"settlement:{market_id}:{outcome.name}"))
        self.settled[(venue, market_id)] = payout

    monkeypatch.setattr(Lifecycle, "_book", book_from_the_log)
    caught = [v for seed in range(12) for v in (await RaceSimulator(seed, STEPS).run()).violations]
    assert any("risk still holds settled positions" in v for v in caught), caught


async def test_the_checks_catch_a_settlement_booked_at_the_wrong_payout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book = Lifecycle._book

    async def inverted(self: Lifecycle, venue: str, market_id: str, payout: int) -> None:
        await book(self, venue, market_id, ONE_DOLLAR - payout)

    monkeypatch.setattr(Lifecycle, "_book", inverted)
    report = await RaceSimulator(5, STEPS).run()
    assert any("the venue paid" in v for v in report.violations), report.violations


async def test_the_checks_catch_an_engine_that_ignores_the_wallets_merges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The paper wallet merges complete sets back to collateral; an engine that never reads
    the merges holds sets the venue no longer has, and the checks see it."""

    async def ignore(self: Lifecycle) -> list:
        return []

    monkeypatch.setattr(Lifecycle, "poll_merges", ignore)
    monkeypatch.setattr(Lifecycle, "_count_merge", lambda *_: None)
    caught = [v for seed in (9, 10, 29) for v in (await RaceSimulator(seed, STEPS).run()).violations]
    assert any(v.startswith("before resolution:") and "!= venue" in v for v in caught), caught
