"""Broker faults under the multi-process plane: its own tansu broker is killed mid-run and
restarted empty at the same address. Risk latches on the outage and again for the lost
data, every gateway process re-snapshots its books and the saga process looks its open
orders up, the books come back live, the positions risk holds equal what the venues
report, and SIGTERM still ends every process within seconds."""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from arbiter.core.instruments import Outcome
from arbiter.platform.bus.tansu import TansuBroker

from .conftest import eventually
from .plane import VENUES, Plane, start_plane

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]


def _sample(text: str, name: str, labels: str = "") -> float:
    """One sample of a scraped metric (`labels` as rendered, e.g. 'what="books"'), 0 if absent."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _positions(plane: Plane) -> tuple[dict, dict]:
    """(risk's positions, the venues'), in the venues' terms: on a venue that nets YES
    against NO (Kalshi) one signed quantity per market, elsewhere one per outcome."""
    snapshots = {venue: await plane.venue_positions(venue) for venue in VENUES}

    def add(held: dict, venue: str, market_id: str, outcome: int, qty: int) -> None:
        if snapshots[venue].netted:
            held[(venue, market_id)] += qty if outcome == Outcome.YES else -qty
        else:
            held[(venue, market_id, outcome)] += qty

    ours: dict[tuple, int] = defaultdict(int)
    async with plane.control() as control:
        for held in (await control.positions()).positions:
            add(ours, held.venue, held.market_id, held.outcome, held.qty_micros)
    theirs: dict[tuple, int] = defaultdict(int)
    for venue, snapshot in snapshots.items():
        for position in snapshot.positions:
            add(theirs, venue, position.market_id, position.outcome, position.qty_micros)
    return ({k: q for k, q in ours.items() if q}, {k: q for k, q in theirs.items() if q})


async def test_a_killed_then_empty_broker_is_survived_by_every_process(
    processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    broker = TansuBroker()
    await broker.start()
    restarted: TansuBroker | None = None
    plane: Plane | None = None
    try:
        plane = await start_plane(broker.bootstrap, processes, tmp_path,
                                  bus={"max_outage_s": 3})
        async with plane.control() as control:
            async def traded() -> bool:
                return (await control.status()).sagas_by_state.get("COMPLETED", 0) >= 2

            await eventually(traded, 90, "completed sagas")
            before = await _positions(plane)

            async def triggers(prefix: str) -> list[str]:
                return [t for t in (await control.status()).hard_stop_triggers
                        if t.startswith(prefix)]

            await broker.stop()
            broker_trip = await eventually(lambda: triggers("broker:"), 30, "a broker latch")
            assert "unreachable" in broker_trip[0]
            restarted = TansuBroker(port=broker.port)  # same address, nothing in it
            await restarted.start()
            lost = await eventually(lambda: triggers("reconciliation:"), 40,
                                    "a reconciliation latch for the lost data")
            assert "lost topics" in lost[0]

        async def rebuilt() -> bool:
            gateways = [await plane.metrics(f"gateway-{v}") for v in VENUES]
            saga = await plane.metrics("saga")
            return (all(_sample(t, "arbiter_bus_rebuilds_total", 'what="books"') >= 1
                        for t in gateways)
                    and _sample(saga, "arbiter_bus_rebuilds_total", 'what="orders"') >= 1)

        await eventually(rebuilt, 40, "books and open orders rebuilt from the venues")

        async def books_live() -> bool:
            text = await plane.metrics("orderbook")
            return all(f'arbiter_books_stale{{venue="{v}"}} 0.0' in text for v in VENUES)

        await eventually(books_live, 40, "the order books live again")

        last: list[tuple[dict, dict]] = []

        async def converged() -> bool:
            last[:] = [await _positions(plane)]
            return last[0][0] == last[0][1]

        try:  # a fill report whose send failed meanwhile is sent again (durable), not lost
            await eventually(converged, 40, "risk's positions equal to the venues'")
        except AssertionError:
            ours, theirs = last[0]
            diff = {k: (ours.get(k), theirs.get(k)) for k in ours.keys() | theirs.keys()
                    if ours.get(k) != theirs.get(k)}
            raise AssertionError(f"risk and the venues disagree on {diff}; before the broker "
                                 f"was killed (risk's, the venues'): {before}") from None
        assert all(process.poll() is None for process in processes), "a process died"
    except AssertionError:
        if plane is not None:
            await plane.dump()
        raise
    finally:
        stopping = time.monotonic()
        for process in processes:
            process.terminate()
        exits = [process.wait(timeout=30) for process in processes]
        took = time.monotonic() - stopping
        if restarted is not None:
            await restarted.stop()
        await broker.stop()
    assert took < 20, f"SIGTERM took {took:.1f}s to end every process"
    assert exits, exits
