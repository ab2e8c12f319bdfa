"""Saga and risk benchmark: prints one JSON line.

Part 1, risk checks per second (approved checks through the whole gate chain, limits set
so none binds):
* in process: `RiskState.check` called directly, one thread;
* over gRPC: a grpc.aio risk server in its own process on loopback, a grpc.aio client
  keeping `in_flight` CheckRisk calls outstanding; also p50/p99 per-call latency.

Part 2, sagas per second end to end on the embedded topology (`EmbeddedMesh`, in-memory
bus, lock-step): risk limits lifted to the top of the `pro` tier, a synthetic market with
many pairs so dislocations are frequent; N market steps; sagas started/completed per second
of wall time and per market step, and orders/s. Wall time includes everything a step does:
the synthetic market re-quoting, gateway parsing, books, detector, saga, risk, emulated
matching and the SQLite saga log.

Run with `.venv/bin/python tools/bench_saga.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
from typing import Any

import grpc

from arbiter.core.instruments import Outcome
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import RiskConfig, load_config
from arbiter.platform.tenancy import TIERS
from arbiter.risk.gates import LegIntent
from arbiter.risk.service import RiskServicer, limits_from_config
from arbiter.risk.state import RiskState
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.v1 import common_pb2, opportunity_pb2, risk_pb2, risk_pb2_grpc

TENANT = "bench"
UNBOUND = RiskConfig(max_position_per_market="1000000000", max_position_total="1000000000",
                     max_exposure_usd="1000000000", max_open_sagas=1_000_000_000,
                     orders_per_second=1_000_000_000, order_burst=1_000_000_000)
VENUES = ("polymarket", "kalshi")
LEGS = (LegIntent(VENUES[0], "pm", Outcome.YES, 1_000_000, 400_000),
        LegIntent(VENUES[1], "ks", Outcome.NO, 1_000_000, 500_000))


def _ready_state() -> RiskState:
    state = RiskState(limits_from_config(UNBOUND), SystemClock(), VENUES)
    for venue in VENUES:
        state.mark_venue_ready(venue, "bench")
    return state


def risk_checks_in_process(n: int) -> dict[str, float]:
    state = _ready_state()
    start = time.perf_counter()
    for i in range(n):
        if not state.check(f"s{i}", f"p{i}", LEGS).approved:
            raise RuntimeError("a benchmark check was rejected")
    elapsed = time.perf_counter() - start
    return {"risk_checks_per_s_in_process": round(n / elapsed),
            "risk_check_in_process_us": round(elapsed / n * 1e6, 2)}


def _request(i: int) -> risk_pb2.RiskCheckRequest:
    legs = [opportunity_pb2.Leg(venue=leg.venue, market_id=leg.market_id, outcome=leg.outcome,
                                limit_price_micros=leg.price, qty_micros=leg.qty) for leg in LEGS]
    return risk_pb2.RiskCheckRequest(
        tenant=common_pb2.TenantContext(tenant_id=TENANT), saga_id=f"s{i}",
        opportunity=opportunity_pb2.Opportunity(pair_id=f"p{i}", yes_leg=legs[0],
                                                no_leg=legs[1]))


async def _serve() -> None:
    """The server process: prints its port, serves until stdin closes."""
    server = grpc.aio.server()
    risk_pb2_grpc.add_RiskServicer_to_server(RiskServicer(_ready_state(), UNBOUND, TENANT), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(None)


async def _drive(port: int, n: int, in_flight: int) -> dict[str, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = risk_pb2_grpc.RiskStub(channel)
        for i in range(200):  # warm-up: connection, server-side caches
            await stub.CheckRisk(_request(-1 - i))
        latencies: list[float] = []
        counter = iter(range(n))

        async def worker() -> None:
            for i in counter:
                sent = time.perf_counter()
                if not (await stub.CheckRisk(_request(i))).approved:
                    raise RuntimeError("a benchmark check was rejected")
                latencies.append(time.perf_counter() - sent)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return {"risk_checks_per_s_grpc": round(n / elapsed), "grpc_in_flight": in_flight,
            "grpc_p50_ms": round(cuts[49] * 1e3, 3), "grpc_p99_ms": round(cuts[98] * 1e3, 3)}


def risk_checks_grpc(n: int, in_flight: int) -> dict[str, float]:
    server = subprocess.Popen([sys.executable, __file__, "--serve-risk"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        return asyncio.run(_drive(port, n, in_flight))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)


def _bench_pairs(count: int) -> list[dict[str, Any]]:
    """`count` independent pairs; the synthetic market dislocates each about one step in 40,
    so more pairs means more dislocations (and sagas) per market step."""
    return [
        {"pair_id": f"bench-{i}",
         "a": {"venue": "polymarket", "condition_id": f"0x{i + 1:064x}",
               "yes_token": str(10**20 + 2 * i), "no_token": str(10**20 + 2 * i + 1)},
         "b": {"venue": "kalshi", "ticker": f"KXBENCH{i}"},
         "inverted": i % 4 == 3}
        for i in range(count)
    ]


def _embedded_overrides(pairs: int, seed: int) -> dict[str, Any]:
    """Every `risk.*` limit out of the way; those the tenant tier caps at the `pro` caps."""
    caps = TIERS["pro"].caps
    return {
        "tenant.tier": "pro", "market.seed": seed, "market.pairs": _bench_pairs(pairs),
        "risk.max_position_per_market": "100000000", "risk.max_position_total": "100000000",
        "risk.max_exposure_usd": str(caps.max_exposure_micros // 1_000_000),
        "risk.max_open_sagas": caps.max_open_sagas,
        "risk.orders_per_second": caps.orders_per_second, "risk.order_burst": 1_000_000,
        "risk.max_consecutive_losses": 1_000_000, "risk.max_cumulative_loss_usd": "100000000",
        "risk.max_daily_loss_usd": "100000000", "risk.max_slippage_streak": 1_000_000,
        "risk.max_failed_unwinds": 1_000_000, "risk.max_rejections_per_hour": 1_000_000,
    }


async def _run_embedded(steps: int, pairs: int, seed: int) -> dict[str, Any]:
    mesh = await EmbeddedMesh.build(load_config(environ={},
                                                overrides=_embedded_overrides(pairs, seed)))
    await mesh.start()
    for _ in range(10):  # warm-up: books filled, first quotes published
        await mesh.step()
    before = mesh.saga.stats()
    rejected_before = dict(mesh.risk.rejections)
    start = time.perf_counter()
    for _ in range(steps):
        await mesh.step()
    elapsed = time.perf_counter() - start
    after = mesh.saga.stats()
    rejections = {gate: n - rejected_before.get(gate, 0)
                  for gate, n in sorted(mesh.risk.rejections.items())
                  if n > rejected_before.get(gate, 0)}
    in_flight = mesh.saga.in_flight
    await mesh.stop()
    started = after.started - before.started
    completed = after.completed - before.completed
    orders = after.orders_sent - before.orders_sent
    return {
        "embedded_steps": steps, "embedded_pairs": pairs, "embedded_seconds": round(elapsed, 2),
        "embedded_steps_per_s": round(steps / elapsed, 1),
        "sagas_started": started, "sagas_completed": completed,
        "sagas_compensated": after.compensated - before.compensated,
        "sagas_held": after.held - before.held,
        "sagas_leg1_failed": after.leg1_failed - before.leg1_failed,
        "sagas_risk_rejected": after.risk_rejected - before.risk_rejected,
        "sagas_in_flight_at_end": in_flight,
        "sagas_started_per_s": round(started / elapsed, 1),
        "sagas_completed_per_s": round(completed / elapsed, 1),
        "sagas_started_per_step": round(started / steps, 3),
        "sagas_completed_per_step": round(completed / steps, 3),
        "orders_per_s": round(orders / elapsed, 1),
        "embedded_risk_rejections": rejections,
    }


def sagas_per_second_embedded(steps: int = 300, pairs: int = 32, seed: int = 7) -> dict[str, Any]:
    """Sagas per second end to end on the embedded topology (see the module docstring)."""
    return asyncio.run(_run_embedded(steps, pairs, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--steps", type=int, default=300, help="embedded market steps")
    parser.add_argument("--pairs", type=int, default=32, help="embedded market pairs")
    parser.add_argument("--serve-risk", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_risk:
        asyncio.run(_serve())
        return
    logging.disable(logging.ERROR)  # compensated/held sagas alert by design
    scale = 10 if args.quick else 1
    result: dict[str, Any] = {}
    result.update(risk_checks_in_process(200_000 // scale))
    result.update(risk_checks_grpc(20_000 // scale, args.in_flight))
    result.update(sagas_per_second_embedded(args.steps // scale, args.pairs))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
