"""Hot-path benchmark: prints one JSON line.

* book deltas/s on `L2Book` (fixed tick array) and, in the same run, on a plain
  sortedcontainers book fed the identical delta stream, with the ratio;
* detector evaluations/s on its live books after a delta on a pair (the common
  no-opportunity case), and the detector's whole per-delta step (apply the book event
  through `BookFeed`, evaluate the pair);
* tick-to-order-intent latency (µs) on the embedded topology: one venue WebSocket frame
  that opens an arbitrage, through gateway parse -> bus -> detector (its own books) ->
  bus -> saga -> risk check -> leg-1 order intent.

Run with `make bench` (or `.venv/bin/python tools/bench_hotpath.py [--quick]`).

`--baseline TREE` compares with another checkout in the same run: each of `--rounds`
rounds runs this script and TREE's own `tools/bench_hotpath.py` (with TREE's `.venv`), one
fresh process each, alternating which goes first, and prints the median, min and max of
every number for both. A baseline tree of the code before a change:
`git worktree add --detach /tmp/base main && make -C /tmp/base protos`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sortedcontainers import SortedDict

from arbiter.core.book import L2Book
from arbiter.core.books import BookFeed
from arbiter.core.fees import KALSHI_TAKER, polymarket_fee
from arbiter.core.instruments import Market, MarketPair
from arbiter.core.opportunity import PairEvaluator
from arbiter.platform.config import load_config
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.v1 import market_data_pb2

TICK = 10_000


class SortedBook:
    """The baseline: the usual sortedcontainers L2 book (price -> size maps kept sorted)."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()

    def set_bid(self, price: int, qty: int) -> None:
        if qty:
            self.bids[price] = qty
        else:
            self.bids.pop(price, None)

    def set_ask(self, price: int, qty: int) -> None:
        if qty:
            self.asks[price] = qty
        else:
            self.asks.pop(price, None)

    def best(self) -> tuple[int | None, int | None]:
        return (self.bids.peekitem(-1)[0] if self.bids else None,
                self.asks.peekitem(0)[0] if self.asks else None)


def delta_stream(count: int, seed: int = 1) -> list[tuple[bool, int, int]]:
    """Non-crossing level updates around a wandering mid, as a venue feed looks."""
    rng = random.Random(seed)
    mid, out = 50, []
    for _ in range(count):
        if rng.randrange(50) == 0:
            mid = min(80, max(20, mid + rng.choice((-1, 1))))
        is_bid = rng.randrange(2) == 0
        offset = rng.randrange(1, 10)
        price = (mid - offset if is_bid else mid + offset) * TICK
        qty = 0 if rng.randrange(4) == 0 else rng.randrange(1, 100) * 1_000_000
        out.append((is_bid, price, qty))
    return out


def bench_books(count: int) -> dict[str, float]:
    stream = delta_stream(count)
    results = {}
    for name, book in (("fixed_array", L2Book("bench", TICK)), ("sortedcontainers", SortedBook())):
        set_bid, set_ask = book.set_bid, book.set_ask
        start = time.perf_counter()
        for is_bid, price, qty in stream:
            if is_bid:
                set_bid(price, qty)
            else:
                set_ask(price, qty)
        results[name] = count / (time.perf_counter() - start)
    return results


def _quoting_pair(rng: random.Random) -> tuple[L2Book, L2Book]:
    """Two venues quoting two levels around one fair price, as between dislocations."""
    mid = rng.randrange(30, 70) * TICK
    books = []
    for m in (mid, mid + rng.choice((-TICK, 0, TICK))):
        book = L2Book("bench", TICK)
        book.apply_snapshot(((m - TICK, 10_000_000), (m - 2 * TICK, 20_000_000)),
                            ((m + TICK, 10_000_000), (m + 2 * TICK, 20_000_000)), 1)
        books.append(book)
    return books[0], books[1]


def _evaluator() -> PairEvaluator:
    a, b = Market("polymarket", "pm"), Market("kalshi", "ks")
    return PairEvaluator(MarketPair("p", a, b), polymarket_fee("0.04"), KALSHI_TAKER,
                         200_000_000, 50_000, 500_000, 10)


def bench_detector(count: int) -> float:
    """Evaluations/s of one pair on live books (no copy), no opportunity found."""
    evaluator = _evaluator()
    rng = random.Random(2)
    pairs = [_quoting_pair(rng) for _ in range(256)]
    start = time.perf_counter()
    for i in range(count):
        a, b = pairs[i & 255]
        evaluator.evaluate(a, b, i)
    return count / (time.perf_counter() - start)


def bench_detector_step(count: int) -> float:
    """Mean µs of the detector's per-delta work: a one-level `BookDelta` applied by
    `BookFeed` (sequence check included), then the pair evaluated on the live books."""
    a, b = Market("polymarket", "pm"), Market("kalshi", "ks")
    feed = BookFeed([a, b])
    level = market_data_pb2.PriceLevel
    for market in (a, b):
        feed.apply_snapshot(market.key, market_data_pb2.BookSnapshot(
            venue=market.venue, market_id=market.market_id, seq=1,
            bids=[level(price_micros=49 * TICK, qty_micros=10_000_000)],
            asks=[level(price_micros=51 * TICK, qty_micros=10_000_000)]))
    deltas = [market_data_pb2.BookDelta(
        venue=a.venue, market_id=a.market_id, seq=seq,
        bid_changes=[level(price_micros=(45 + seq % 4) * TICK, qty_micros=seq % 7 * 1_000_000)])
        for seq in range(2, count + 2)]
    evaluator, key, book_b = _evaluator(), a.key, feed.books[b.key]
    start = time.perf_counter()
    for i, delta in enumerate(deltas):
        feed.apply_delta(key, delta)
        evaluator.evaluate(feed.books[key], book_b, i)
    return (time.perf_counter() - start) / count * 1e6


async def bench_tick_to_intent(samples: int) -> list[int]:
    # Limits out of the way: every sample should reach the order intent.
    config = load_config(environ={}, overrides={
        "tenant.tier": "pro",
        "risk.max_position_per_market": "100000000", "risk.max_position_total": "100000000",
        "risk.max_exposure_usd": "2000000", "risk.max_open_sagas": 64,
        "risk.orders_per_second": 200, "risk.order_burst": 100000,
        "risk.max_consecutive_losses": 1000, "risk.max_cumulative_loss_usd": "100000000",
        "risk.max_daily_loss_usd": "100000000", "risk.max_slippage_streak": 1000,
        "risk.max_failed_unwinds": 1000, "risk.max_rejections_per_hour": 100000})
    mesh = await EmbeddedMesh.build(config)
    await mesh.start()
    for _ in range(20):
        await mesh.step()
    pair = mesh.universe.pairs[0]
    venue = mesh.venue(pair.a.venue)
    kalshi_bid = mesh.orderbook.books[pair.b.key].best_bid_price()
    assert kalshi_bid is not None
    latencies = []
    for i in range(samples):
        # One frame on leg A's venue: an offer well under leg B's bid, i.e. YES+NO < $1.
        cheap = kalshi_bid - 8 * TICK
        venue.quote(pair.a.market_id, f"bench{i}", [], [(cheap, 5_000_000)])
        before = len(mesh.saga.intent_latencies)
        await venue.publish()
        await mesh.settle()
        if len(mesh.saga.intent_latencies) > before:
            latencies.append(mesh.saga.intent_latencies[before])
        venue.engines[pair.a.market_id].cancel_owner(f"bench{i}")
        await mesh.step()  # liquidity providers re-quote what the saga took
        kalshi_bid = mesh.orderbook.books[pair.b.key].best_bid_price() or kalshi_bid
    await mesh.stop()
    return latencies


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def measure(quick: bool) -> dict[str, float | int | None]:
    scale = 10 if quick else 1
    books = bench_books(1_000_000 // scale)
    evaluations = bench_detector(200_000 // scale)
    step_us = bench_detector_step(200_000 // scale)
    latencies = asyncio.run(bench_tick_to_intent(2_000 // scale))
    return {
        "book_deltas_per_s": round(books["fixed_array"]),
        "baseline_sortedcontainers_deltas_per_s": round(books["sortedcontainers"]),
        "book_speedup_vs_sortedcontainers": round(books["fixed_array"] / books["sortedcontainers"], 2),
        "detector_evaluations_per_s": round(evaluations),
        "detector_delta_step_us": round(step_us, 3),
        "tick_to_intent_samples": len(latencies),
        "tick_to_intent_p50_us": percentile(latencies, 0.50) if latencies else None,
        "tick_to_intent_p99_us": percentile(latencies, 0.99) if latencies else None,
        "tick_to_intent_mean_us": round(statistics.fmean(latencies), 1) if latencies else None,
    }


def _run(python: Path, script: Path, quick: bool) -> dict[str, float]:
    """One measurement in a fresh process; its last stdout line is the JSON."""
    done = subprocess.run([str(python), str(script), *(["--quick"] if quick else [])],
                          check=True, capture_output=True, text=True, cwd=script.parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spread(runs: list[dict[str, float]]) -> dict[str, object]:
    """Median, min and max of each number over the runs, and the runs themselves."""
    out: dict[str, object] = {}
    for name in runs[0]:
        values = [run[name] for run in runs if run.get(name) is not None]
        if values:
            out[name] = {"median": statistics.median(values), "min": min(values),
                         "max": max(values)}
    out["runs"] = runs
    return out


def compare(baseline: Path, rounds: int, quick: bool) -> dict[str, object]:
    """This tree and `baseline` measured alternately, `rounds` times each."""
    ours = (Path(sys.executable), Path(__file__).resolve())
    theirs = (baseline / ".venv" / "bin" / "python", baseline / "tools" / "bench_hotpath.py")
    results: dict[str, list[dict[str, float]]] = {"new": [], "baseline": []}
    for r in range(rounds):
        order = [("new", ours), ("baseline", theirs)]
        for name, (python, script) in order if r % 2 == 0 else reversed(order):
            results[name].append(_run(python, script, quick))
    return {"rounds": rounds, "baseline_tree": str(baseline),
            **{name: _spread(runs) for name, runs in results.items()}}


def main() -> None:
    logging.disable(logging.ERROR)  # sagas the bench starves of liquidity alert by design
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (CI smoke)")
    parser.add_argument("--baseline", type=Path, metavar="TREE",
                        help="another checkout (with its .venv) to measure alternately")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each with --baseline")
    args = parser.parse_args()
    if args.baseline is None:
        print(json.dumps(measure(args.quick)))
        return
    if args.rounds < 1 or not (args.baseline / "tools" / "bench_hotpath.py").is_file():
        parser.error(f"--baseline {args.baseline} has no tools/bench_hotpath.py, or "
                     f"--rounds {args.rounds} < 1")
    print(json.dumps(compare(args.baseline.resolve(), args.rounds, args.quick)))


if __name__ == "__main__":
    main()
