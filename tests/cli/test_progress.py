"""Progress of long commands (the race-simulator sweep): on stderr, only on a terminal or when
asked, never in the JSON on stdout, and without changing a single result."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter.platform.cli_tools import progress_bar
from arbiter.simulation.sweep import chunks, sweep

ROOT = Path(__file__).resolve().parents[2]
SEEDS = range(12)  # seeds 9 and 11 trade within 10 steps
STEPS = 10


@pytest.fixture(autouse=True)
def _logging_back_on() -> Iterator[None]:
    yield
    logging.disable(logging.NOTSET)  # an in-process sweep silences logging, as workers do


def test_a_sweep_gives_the_same_results_with_progress_on_and_off() -> None:
    off = sweep(SEEDS, STEPS, workers=2)
    calls: list[int] = []
    on = sweep(SEEDS, STEPS, workers=2, progress=calls.append)
    assert on.reports == off.reports
    assert on.totals() == off.totals() and on.totals()["sagas"] > 0
    assert sum(calls) == len(SEEDS)
    assert len(calls) == len(chunks(SEEDS, 2)) > 2  # reported chunk by chunk, not at the end
    one: list[int] = []
    in_process = sweep(SEEDS, STEPS, workers=1, progress=one.append)
    assert in_process.reports == off.reports and one == [1] * len(SEEDS)


def test_chunks_cover_every_seed_once_in_order() -> None:
    seeds = list(range(3, 1000))
    parts = chunks(seeds, 4)
    assert [s for part in parts for s in part] == seeds
    assert len(parts) >= 4 * 8 and max(map(len, parts)) <= 25


def _race_sim(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, str(ROOT / "tools" / "race_sim.py"), "--seeds", "4",
                           "--steps", "5", "--workers", "2", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_race_sim_progress_goes_to_stderr_and_stdout_stays_one_json_line() -> None:
    run = _race_sim("--progress")
    assert run.returncode == 0, run.stderr
    [line] = run.stdout.splitlines()
    assert json.loads(line)["seeds"] == 4
    assert "seeds 4/4 (100%)" in run.stderr and "seeds/s, ETA" in run.stderr
    assert "\x1b" not in run.stderr  # not a terminal: plain lines


def test_race_sim_shows_no_progress_off_a_terminal_unless_asked() -> None:
    run = _race_sim()
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["seeds"] == 4
    assert "seeds 4/4" not in run.stderr and "ETA" not in run.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only() -> None:
    pipe = io.StringIO()
    with progress_bar(3, "seeds", stream=pipe) as advance:
        advance(3)
    assert pipe.getvalue() == ""
    terminal = _Terminal()
    with progress_bar(3, "seeds", stream=terminal) as advance:
        advance(1)
        advance(2)
    assert "3/3" in terminal.getvalue() and "seeds/s, ETA" in terminal.getvalue()
    off = _Terminal()
    with progress_bar(3, "seeds", enabled=False, stream=off) as advance:
        advance(3)
    assert off.getvalue() == ""
