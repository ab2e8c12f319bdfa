"""The embedded mesh free-running: the market steps on the wall clock while the engine works
concurrently, over venue links with latency, and still ends flat and in agreement with the
venues."""

from __future__ import annotations

from arbiter.platform.clock import ManualClock, SystemClock
from arbiter.platform.config import load_config
from arbiter.saga.machine import State
from arbiter.simulation.harness import position_mismatches, saga_violations
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.topology.runner import RunLimits, drive

SLOW_VENUES = {"market.clock": "free", "market.place_latency_ms": 20,
               "market.place_jitter_ms": 10, "market.cancel_latency_ms": 20,
               "market.read_latency_ms": 10, "market.push_latency_ms": 5,
               "market.push_jitter_ms": 5}


async def test_free_running_trades_and_ends_flat_agreeing_with_the_venues() -> None:
    config = load_config(environ={}, overrides={"market.seed": 7, **SLOW_VENUES})
    mesh = await EmbeddedMesh.build(config)
    assert isinstance(mesh.clock, SystemClock) and not mesh.lockstep
    await mesh.start()
    try:
        await drive(mesh, RunLimits(duration_s=2.5))
        await mesh.stop_trading("test over")
        stats = mesh.saga.stats()
        assert stats.started > 0 and stats.completed > 0
        assert mesh.saga.in_flight == 0
        assert saga_violations(mesh) == []
        assert sum(s.unhedged for s in mesh.saga.sagas.values()) == 0
        assert not any(s.state is State.HELD for s in mesh.saga.sagas.values())
        assert await position_mismatches(mesh) == []
        # the market stepped on the wall clock, not once per processed step: ~50 steps
        assert 25 <= mesh.steps <= 60
    finally:
        await mesh.stop()


async def test_lockstep_stays_the_default_on_simulated_time() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    assert isinstance(mesh.clock, ManualClock) and mesh.lockstep
    await mesh.stop()
