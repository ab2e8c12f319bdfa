"""Lock-step against free-running: what the engine earns when the market moves under it.

Runs one seed of the embedded mesh (default config: four pairs, default risk limits) in
each mode and prints one JSON object:

* `lockstep` — every market step fully processed before the next, simulated time (the
  baseline, measured in the same invocation): `--seconds` worth of market steps;
* `free_sequential` / `free_parallel` — the market stepping on the wall clock for
  `--seconds` while the engine runs concurrently, over venue links with the given latency
  and seeded jitter, with `saga.execution` sequential or parallel.

Per run: sagas started, completed, compensated, held, leg-1 failures, completion rate,
realized PnL, compensation cost (profit planned at detection for leg 1's fills less what
the compensated sagas locked in), fees, the mean edge per contract at detection, at leg-1
ack and at leg-2 ack (see `arbiter.saga.timeline`), and p50/p95 of each stage in ms.
`--set KEY=VALUE` (repeatable) applies a config override to every run, to compare an
engine setting before and after in one invocation.

    .venv/bin/python tools/bench_freerun.py                 # seed 7, 20 s each, ~45 s
    .venv/bin/python tools/bench_freerun.py --seconds 5 --set detector.ttl_ms=100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from decimal import Decimal
from typing import Any

import yaml

from arbiter.core.units import to_decimal
from arbiter.platform.config import load_config
from arbiter.saga.timeline import summarize
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.topology.runner import RunLimits, drive

RUNS = {"lockstep": ("lockstep", "sequential"), "free_sequential": ("free", "sequential"),
        "free_parallel": ("free", "parallel")}


def _usd(micros: int | None) -> str | None:
    return None if micros is None else str(to_decimal(micros))


async def run(mode: str, execution: str, seed: int, seconds: float,
              overrides: dict[str, Any]) -> dict[str, Any]:
    config = load_config(environ={}, overrides={
        **overrides, "market.seed": seed, "market.clock": mode, "saga.execution": execution})
    mesh = await EmbeddedMesh.build(config)
    await mesh.start()
    try:
        if mode == "lockstep":
            for _ in range(round(seconds * 1000 / config.market.step_ms)):
                await mesh.step()
        else:
            await drive(mesh, RunLimits(duration_s=seconds))
        latch = mesh.risk.state.hard_stop()  # before the stop's own latch
        await mesh.stop_trading("bench over")
        stats = mesh.saga.stats()
        timing = summarize(mesh.saga.timelines.values())
        fees = sum(o.fees for s in mesh.saga.sagas.values() for o in s.orders.values())
        result: dict[str, Any] = {
            "steps": mesh.steps, "sagas": stats.started, "completed": stats.completed,
            "compensated": stats.compensated, "held": stats.held,
            "leg1_failed": stats.leg1_failed,
            "completion_rate": round(stats.completed / stats.started, 3) if stats.started else None,
            "pnl_usd": _usd(stats.realized_pnl),
            "compensation_cost_usd": _usd(timing.pop("compensation_cost_micros")),  # type: ignore[arg-type]
            "fees_usd": _usd(fees),
            "in_flight_at_stop": mesh.saga.in_flight,
            "risk_rejections": dict(sorted(mesh.risk.rejections.items())),
            "hard_stop": latch.reason if latch.latched else None,
        }
        for stage in ("detection", "leg1_ack", "leg2_ack"):
            result[f"edge_at_{stage}_usd"] = _usd(timing.pop(f"edge_at_{stage}_micros"))  # type: ignore[arg-type]
        result.update(timing)
        return result
    finally:
        await mesh.stop()


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=20.0, help="per run")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"any of {', '.join(RUNS)}")
    parser.add_argument("--place-ms", type=int, default=30, help="order round trip")
    parser.add_argument("--cancel-ms", type=int, default=30, help="cancel round trip")
    parser.add_argument("--read-ms", type=int, default=30, help="other REST round trips")
    parser.add_argument("--jitter-ms", type=int, default=20, help="on every REST call")
    parser.add_argument("--push-ms", type=int, default=10, help="WebSocket frame, one way")
    parser.add_argument("--push-jitter-ms", type=int, default=10)
    parser.add_argument("--set", type=_override, action="append", default=[],
                        metavar="KEY=VALUE", help="config override for every run")
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # compensated sagas alert by design
    latency = {"market.place_latency_ms": args.place_ms, "market.cancel_latency_ms":
               args.cancel_ms, "market.read_latency_ms": args.read_ms,
               "market.push_latency_ms": args.push_ms,
               "market.push_jitter_ms": args.push_jitter_ms,
               **{f"market.{endpoint}_jitter_ms": args.jitter_ms
                  for endpoint in ("place", "cancel", "read")}}
    overrides = dict(args.set)
    report: dict[str, Any] = {"seed": args.seed, "seconds": args.seconds,
                              "latency_ms": {k.removeprefix("market."): v
                                             for k, v in latency.items()},
                              "overrides": overrides}
    for name in args.runs.split(","):
        mode, execution = RUNS[name]
        extra = latency if mode == "free" else {}
        report[name] = asyncio.run(run(mode, execution, args.seed, args.seconds,
                                       {**overrides, **extra}))
    base = report.get("lockstep")
    if base is not None:
        for name in RUNS:
            if name != "lockstep" and name in report:
                report[name]["pnl_vs_lockstep_usd"] = str(
                    Decimal(report[name]["pnl_usd"]) - Decimal(base["pnl_usd"]))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
