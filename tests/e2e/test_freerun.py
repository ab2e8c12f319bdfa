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
        _timelines_follow_the_legs(mesh)
        # the market stepped on the wall clock, not once per processed step: ~50 steps
        assert 25 <= mesh.steps <= 60
    finally:
        await mesh.stop()


async def test_lockstep_stays_the_default_on_simulated_time() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    assert isinstance(mesh.clock, ManualClock) and mesh.lockstep
    await mesh.stop()


def _timelines_follow_the_legs(mesh: EmbeddedMesh) -> None:
    """Every saga taken has its stages in order, the latency in its spans, re-priced edges
    where its legs filled and a compensation cost where it compensated."""
    started = [s for s in mesh.saga.sagas.values()
               if s.state not in (State.CREATED, State.RISK_REJECTED)]
    assert {s.saga_id for s in started} == set(mesh.saga.timelines)
    for saga in started:
        line = mesh.saga.timelines[saga.saga_id]
        assert line.leg1_sent is not None and line.leg1_ack is not None
        assert line.detected <= line.leg1_sent <= line.leg1_ack
        assert line.leg1_ack - line.leg1_sent >= 20_000  # the placement's round trip, µs
        if saga.state is State.COMPLETED:
            assert line.leg2_sent is not None and line.leg2_ack is not None
            assert line.leg1_ack <= line.leg2_sent <= line.leg2_ack
            assert line.edge_at_leg1_ack is not None and line.edge_at_leg2_ack is not None
        assert (line.compensation_cost is not None) == (saga.state is State.COMPENSATED)
