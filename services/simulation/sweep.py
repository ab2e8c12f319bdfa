"""Many seeds of the race simulator, spread over worker processes.

Seeds are independent and each is deterministic, so a sweep splits them across processes
and merges the reports back in seed order: the result is the same whatever the number of
workers. Workers are spawned, not forked, because the parent (a test session) may hold gRPC
and event-loop threads that a fork would copy mid-flight.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from arbiter.simulation.harness import RaceSimulator, RunReport


@dataclass(frozen=True)
class SweepResult:
    reports: list[RunReport]
    seconds: float

    @property
    def failures(self) -> dict[int, list[str]]:
        """Each failing seed and its violations: `tools/race_sim.py --seed N` replays it."""
        return {r.seed: r.violations for r in self.reports if r.violations}

    def totals(self) -> Counter[str]:
        """Faults injected, crashes, sagas and fills summed over every seed."""
        totals: Counter[str] = Counter()
        for report in self.reports:
            totals.update(report.faults)
            totals.update(crashes=report.crashes, sagas=report.sagas, fills=report.fills)
        return totals

    def end_states(self) -> Counter[str]:
        states: Counter[str] = Counter()
        for report in self.reports:
            states.update(report.terminal_states)
        return states


def sweep(seeds: Sequence[int], steps: int, workers: int = 0,
          execution: str = "sequential") -> SweepResult:
    """Run every seed for `steps` steps with `saga.execution`; `workers` 0 means one per
    CPU."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(seeds)))
    start = time.perf_counter()
    if workers == 1:
        reports = _run_chunk(list(seeds), steps, execution)
    else:
        chunks = [list(seeds[i::workers]) for i in range(workers)]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            done = pool.map(_run_chunk, chunks, [steps] * workers, [execution] * workers)
            reports = sorted((r for chunk in done for r in chunk), key=lambda r: r.seed)
    return SweepResult(reports, time.perf_counter() - start)


def _run_chunk(seeds: list[int], steps: int, execution: str) -> list[RunReport]:
    logging.disable(logging.CRITICAL)  # held sagas alert by design under injected faults
    return asyncio.run(_run_seeds(seeds, steps, execution))


async def _run_seeds(seeds: list[int], steps: int, execution: str) -> list[RunReport]:
    return [await RaceSimulator(seed, steps, execution=execution).run() for seed in seeds]
