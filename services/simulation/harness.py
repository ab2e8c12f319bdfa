"""Drive the real engine against faulty emulated venues, crash it, restart it, and check
the financial invariants at the end. One seed, one exact replay.

An "engine" is everything that dies with the process: bus, gateways, order book, detector,
risk and saga service. The venues (emulators + synthetic market) and the saga log outlive
it, as they would across a real crash.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.instruments import Outcome, Venue
from arbiter.emulators.link import InProcessLink
from arbiter.platform.clock import ManualClock
from arbiter.platform.config import DEFAULT_PAIRS, ArbiterConfig, load_config
from arbiter.saga.log import SqliteSagaLog
from arbiter.saga.machine import LegRole, State
from arbiter.simulation.chaos import ChaosLink, Faults
from arbiter.topology.builders import venue_credentials
from arbiter.topology.embedded import EmbeddedMesh, EmulatedVenues


class InvariantViolation(AssertionError):
    """A financial invariant failed; the message names the seed that replays it."""


@dataclass
class RunReport:
    seed: int
    steps: int
    crashes: int
    sagas: int
    terminal_states: dict[str, int]
    fills: int
    faults: dict[str, int]
    violations: list[str] = field(default_factory=list)


def sim_config(seed: int) -> ArbiterConfig:
    """Two pairs (one of them inverted) and loose limits: many sagas in a short run."""
    return load_config(environ={}, overrides={
        "market.seed": seed,
        "tenant.tier": "standard",
        "market.pairs": [DEFAULT_PAIRS[0], DEFAULT_PAIRS[-1]],
        "risk.max_position_per_market": "100000",
        "risk.max_open_sagas": 8,
        "saga.leg_timeout_ms": 150,
    })


class RaceSimulator:
    def __init__(self, seed: int, steps: int = 40, faults: Faults = Faults(),
                 crash_per_mille: int = 60) -> None:
        self.seed = seed
        self.steps = steps
        self.crash_per_mille = crash_per_mille
        self.rng = random.Random(seed)
        self.config = sim_config(seed)
        self.clock = ManualClock()
        self.venues = EmulatedVenues.create(self.config)
        self.links = {venue: ChaosLink(emulator, self.rng, faults)
                      for venue, emulator in self.venues.venues.items()}
        self.journal = SqliteSagaLog(":memory:", self.config.tenant.id)
        self.credentials: dict[Venue, Any] = {}
        self.crashes = 0

    async def _engine(self) -> EmbeddedMesh:
        """Everything a crash destroys, rebuilt around the surviving venues, saga log and
        credentials (onboarded once, over a link without faults)."""
        if not self.credentials:
            self.credentials = {
                venue: await venue_credentials(self.config, venue, InProcessLink(emulator),
                                               None)
                for venue, emulator in self.venues.venues.items()}
        return await EmbeddedMesh.build(self.config, clock=self.clock, venues=self.venues,
                                        links=dict(self.links), journal=self.journal,
                                        credentials=self.credentials)

    async def run(self) -> RunReport:
        engine = await self._engine()
        await engine.start()
        for _ in range(self.steps):
            self.clock.advance(self.config.market.step_ms * 1000)
            await self.venues.market.step()
            if self.rng.randrange(1000) < self.crash_per_mille:
                engine = await self._crash_mid_step(engine)
            else:
                await self._settle(engine)
        engine = await self._quiesce(engine)
        report = self._report(engine)
        report.violations = await self.check(engine)
        await engine.stop()
        return report

    async def _settle(self, engine: EmbeddedMesh) -> None:
        """Let the network and the engine run until nothing moves."""
        for _ in range(200):
            await engine.bus.drained()
            released = sum([await link.release() for link in self.links.values()])
            looked = await engine.saga.reconcile_stale(self.config.saga.leg_timeout_ms * 1000)
            if not released and not looked and not any(l.holding for l in self.links.values()):
                await engine.bus.drained()
                return
            self.clock.advance(50_000)

    async def _crash_mid_step(self, engine: EmbeddedMesh) -> EmbeddedMesh:
        """Kill the engine after a random number of scheduling points, then restart it."""
        for _ in range(self.rng.randrange(1, 60)):
            await asyncio.sleep(0)
        self.crashes += 1
        await engine.stop()
        for link in self.links.values():
            link.sever()
        fresh = await self._engine()
        await fresh.start()
        await self._settle(fresh)
        return fresh

    async def _quiesce(self, engine: EmbeddedMesh) -> EmbeddedMesh:
        """End of run: deliver everything, look up every overdue order, finish every saga."""
        for _ in range(50):
            for link in self.links.values():
                await link.release(everything=True)
            await self._settle(engine)
            self.clock.advance(self.config.saga.leg_timeout_ms * 1000)
            if not engine.saga.in_flight:
                break
            await engine.saga.reconcile_stale(0)
        await engine.bus.drained()
        return engine

    # -- invariants ------------------------------------------------------------------
    async def check(self, engine: EmbeddedMesh) -> list[str]:
        problems = saga_violations(engine)
        for venue, link in self.links.items():
            for key, count in link.accepted.items():
                if count > 1:
                    problems.append(f"{venue} accepted {count} orders for intent {key}")
        return problems + await position_mismatches(engine)

    def _report(self, engine: EmbeddedMesh) -> RunReport:
        states: dict[str, int] = defaultdict(int)
        for saga in engine.saga.sagas.values():
            states[saga.state.name] += 1
        faults: dict[str, int] = defaultdict(int)
        for link in self.links.values():
            for name, count in link.injected.items():
                faults[name] += count
        return RunReport(self.seed, self.steps, self.crashes, len(engine.saga.sagas),
                         dict(sorted(states.items())), engine.saga.fills, dict(faults))


def saga_violations(engine: EmbeddedMesh) -> list[str]:
    """Every saga over and hedged as its end state says, no order over- or under-counted."""
    problems: list[str] = []
    for saga in engine.saga.sagas.values():
        for coid, record in saga.orders.items():
            if record.filled > record.command.qty:
                problems.append(f"{coid}: filled {record.filled} > size {record.command.qty}")
            if record.closed and record.filled + record.canceled != record.command.qty:
                problems.append(f"{coid}: filled {record.filled} + canceled "
                                f"{record.canceled} != size {record.command.qty}")
        if not saga.terminal:
            problems.append(f"{saga.saga_id} still in flight in {saga.state.name}")
        elif saga.state in (State.COMPLETED, State.COMPENSATED) and saga.unhedged:
            problems.append(f"{saga.saga_id} ended {saga.state.name} with "
                            f"{saga.unhedged} unhedged")
        elif saga.state is State.LEG1_FAILED and saga.filled(LegRole.FIRST):
            problems.append(f"{saga.saga_id} LEG1_FAILED but leg 1 filled")
    return problems


async def position_mismatches(engine: EmbeddedMesh) -> list[str]:
    """Where the engine's positions differ from what each venue's own API says we hold (one
    net side per market where the venue nets YES against NO)."""
    mine = engine.saga.positions
    problems = []
    for venue, gateway in sorted(engine.gateways.items()):
        snapshot = await gateway.positions()
        theirs: dict[tuple[str, Outcome], int] = defaultdict(int)
        for p in snapshot.positions:
            theirs[(p.market_id, Outcome(p.outcome))] += p.qty_micros
        for market in engine.universe.markets(venue):
            held = {o: mine.get((venue, market.market_id, o), 0) for o in Outcome}
            told = {o: theirs.get((market.market_id, o), 0) for o in Outcome}
            if snapshot.netted:
                held = {Outcome.YES: held[Outcome.YES] - held[Outcome.NO]}
                told = {Outcome.YES: told[Outcome.YES] - told[Outcome.NO]}
            for outcome, qty in held.items():
                if qty != told[outcome]:
                    problems.append(f"{venue} {market.market_id} {outcome.name}: engine "
                                    f"{qty} != venue {told[outcome]}")
    return problems
