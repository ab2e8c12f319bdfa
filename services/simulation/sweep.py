"""Many seeds of the race simulator, spread over worker processes.

Seeds are independent and each is deterministic, so a sweep splits them across processes
and merges the reports back in seed order: the result is the same whatever the number of
workers. Workers are spawned, not forked, because the parent (a test session) may hold gRPC
and event-loop threads that a fork would copy mid-flight.

Seeds go to the workers in small chunks, taken from a queue as each worker frees up: the load
stays balanced, and the parent learns of every finished chunk (`progress`) as it happens.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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


CHUNKS_PER_WORKER = 8  # enough for a smooth progress bar and balance, few enough to be cheap
MAX_CHUNK = 25


def chunks(seeds: Sequence[int], workers: int) -> list[list[int]]:
    """Consecutive runs of seeds, about `CHUNKS_PER_WORKER` per worker."""
    size = max(1, min(MAX_CHUNK, math.ceil(len(seeds) / (workers * CHUNKS_PER_WORKER))))
    return [list(seeds[i:i + size]) for i in range(0, len(seeds), size)]


def sweep(seeds: Sequence[int], steps: int, workers: int = 0,
          execution: str = "sequential",
          progress: Callable[[int], None] | None = None) -> SweepResult:
    """Run every seed for `steps` steps with `saga.execution`; `workers` 0 means one per
    CPU. `progress(n)` is called in this process each time `n` more seeds are done; it sees
    nothing of the results, which are the same with or without it."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(seeds)))
    start = time.perf_counter()
    if workers == 1:
        reports = _run_chunk(list(seeds), steps, execution, progress)
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending = [pool.submit(_run_chunk, chunk, steps, execution)
                       for chunk in chunks(seeds, workers)]
            reports = []
            for future in as_completed(pending):
                done = future.result()
                reports.extend(done)
                if progress is not None:
                    progress(len(done))
        reports.sort(key=lambda r: r.seed)
    return SweepResult(reports, time.perf_counter() - start)


def _run_chunk(seeds: list[int], steps: int, execution: str,
               progress: Callable[[int], None] | None = None) -> list[RunReport]:
    logging.disable(logging.CRITICAL)  # held sagas alert by design under injected faults
    return asyncio.run(_run_seeds(seeds, steps, execution, progress))


async def _run_seeds(seeds: list[int], steps: int, execution: str,
                     progress: Callable[[int], None] | None) -> list[RunReport]:
    reports = []
    for seed in seeds:
        reports.append(await RaceSimulator(seed, steps, execution=execution).run())
        if progress is not None:
            progress(1)
    return reports
