"""Hot-path benchmark: prints one JSON line.

* book deltas/s on `L2Book` (fixed tick array) and, in the same run, on a plain
  sortedcontainers book fed the identical delta stream, with the ratio;
* detector evaluations/s after a delta on a pair (the common no-opportunity case);
* tick-to-order-intent latency (µs) on the embedded topology: one venue WebSocket frame
  that opens an arbitrage, through gateway parse -> bus -> order book -> bus -> detector ->
  bus -> saga -> risk check -> leg-1 order intent.

Run with `make bench` (or `.venv/bin/python tools/bench_hotpath.py [--quick]`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import time

from sortedcontainers import SortedDict

from arbiter.core.book import L2Book
from arbiter.core.fees import KALSHI_TAKER, polymarket_fee
from arbiter.core.instruments import Market, MarketPair
from arbiter.core.opportunity import BookTop, PairEvaluator
from arbiter.platform.config import load_config
from arbiter.topology.embedded import EmbeddedMesh

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


def bench_detector(count: int) -> float:
    a = Market("polymarket", "pm")
    b = Market("kalshi", "ks")
    evaluator = PairEvaluator(MarketPair("p", a, b), polymarket_fee("0.04"), KALSHI_TAKER,
                              200_000_000, 50_000, 500_000)
    rng = random.Random(2)
    # Both venues quote around one fair price, as they do between dislocations.
    pairs = []
    for _ in range(256):
        mid = rng.randrange(30, 70) * TICK
        tops = [BookTop(((m - TICK, 10_000_000), (m - 2 * TICK, 20_000_000)),
                        ((m + TICK, 10_000_000), (m + 2 * TICK, 20_000_000)))
                for m in (mid, mid + rng.choice((-TICK, 0, TICK)))]
        pairs.append(tops)
    start = time.perf_counter()
    for i in range(count):
        a, b = pairs[i & 255]
        evaluator.evaluate(a, b, i)
    return count / (time.perf_counter() - start)


async def bench_tick_to_intent(samples: int) -> list[int]:
    # Limits out of the way: every sample should reach the order intent.
    config = load_config(environ={}, overrides={
        "tenant.tier": "pro",
        "risk.max_position_per_market": "100000000", "risk.max_position_total": "100000000",
        "risk.max_exposure_usd": "2000000", "risk.max_open_sagas": 64,
        "risk.orders_per_second": 200, "risk.order_burst": 100000,
        "risk.max_consecutive_losses": 100000, "risk.max_cumulative_loss_usd": "100000000",
        "risk.max_daily_loss_usd": "100000000", "risk.max_slippage_streak": 100000,
        "risk.max_failed_unwinds": 100000, "risk.max_rejections_per_hour": 100000})
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


def main() -> None:
    logging.disable(logging.ERROR)  # sagas the bench starves of liquidity alert by design
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (CI smoke)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    books = bench_books(1_000_000 // scale)
    evaluations = bench_detector(200_000 // scale)
    latencies = asyncio.run(bench_tick_to_intent(2_000 // scale))
    print(json.dumps({
        "book_deltas_per_s": round(books["fixed_array"]),
        "baseline_sortedcontainers_deltas_per_s": round(books["sortedcontainers"]),
        "book_speedup_vs_sortedcontainers": round(books["fixed_array"] / books["sortedcontainers"], 2),
        "detector_evaluations_per_s": round(evaluations),
        "tick_to_intent_samples": len(latencies),
        "tick_to_intent_p50_us": percentile(latencies, 0.50) if latencies else None,
        "tick_to_intent_p99_us": percentile(latencies, 0.99) if latencies else None,
        "tick_to_intent_mean_us": round(statistics.fmean(latencies), 1) if latencies else None,
    }))


if __name__ == "__main__":
    main()
