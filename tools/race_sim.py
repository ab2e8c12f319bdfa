"""Run the deterministic race simulator over many seeds and report.

    .venv/bin/python tools/race_sim.py --seeds 2000          # seeds 0..1999, one worker per CPU
    .venv/bin/python tools/race_sim.py --seed 1234 --verbose # replay one seed exactly

Prints one JSON line of totals on stdout; every failing seed is printed with its violations
and the command that replays it. Exits 1 if any invariant failed. A progress bar (seeds done,
seeds/s, ETA) goes to stderr when it is a terminal, or always with --progress (plain lines
off a terminal); --no-progress turns it off.
"""

from __future__ import annotations

import argparse
import json
import sys

from arbiter.platform.cli_tools import progress_bar
from arbiter.simulation.sweep import sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000, help="run seeds 0..N-1")
    parser.add_argument("--first", type=int, default=0, help="first seed")
    parser.add_argument("--seed", type=int, help="run exactly this seed")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=0, help="processes (0: one per CPU)")
    parser.add_argument("--execution", choices=("sequential", "parallel"), default="sequential",
                        help="saga.execution of the engine under test")
    parser.add_argument("--verbose", action="store_true", help="print every seed's report")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress on stderr (default: when stderr is a terminal)")
    args = parser.parse_args()
    seeds = [args.seed] if args.seed is not None else list(range(args.first, args.first + args.seeds))
    with progress_bar(len(seeds), "seeds", args.progress) as advance:
        result = sweep(seeds, args.steps, args.workers, args.execution, progress=advance)
    if args.verbose:
        for report in result.reports:
            print(json.dumps(report.__dict__), file=sys.stderr)
    for seed, violations in result.failures.items():
        print(f"seed {seed} FAILED: {violations[:5]}\n"
              f"  replay: .venv/bin/python tools/race_sim.py --seed {seed} --steps {args.steps}"
              f" --execution {args.execution} --verbose", file=sys.stderr)
    print(json.dumps({"seeds": len(seeds), "execution": args.execution,
                      "failed": len(result.failures),
                      "steps_per_seed": args.steps, "seconds": round(result.seconds, 1),
                      "seeds_per_s": round(len(seeds) / result.seconds, 1),
                      "totals": dict(result.totals()), "saga_end_states": dict(result.end_states())}))
    raise SystemExit(1 if result.failures else 0)


if __name__ == "__main__":
    main()
