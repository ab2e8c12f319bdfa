"""The embedded mesh trades Polymarket x NonceX: detector, risk, saga and the summary take
a venue from the test tree with no edit of their own."""

from __future__ import annotations

from venue_plugin.noncex.demo import demo_pairs

from arbiter.core.instruments import Outcome
from arbiter.platform.config import load_config
from arbiter.topology.embedded import EmbeddedMesh


async def test_polymarket_by_noncex_finds_and_completes_sagas() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={
        "market.seed": 7, "market.pairs": demo_pairs()}))
    await mesh.start()
    try:
        for _ in range(200):
            await mesh.step()
        summary = mesh.summary()
        held = await mesh.venue_positions()
    finally:
        await mesh.stop()
    assert set(mesh.gateways) == {"polymarket", "noncex"}
    assert summary["opportunities"] > 0 and summary["sagas_completed"] > 0
    assert summary["fills"] >= 2 * summary["sagas_completed"]
    assert summary["sagas_in_flight"] == 0
    noncex = mesh.venue("noncex")
    orders = noncex.orders.values()  # type: ignore[attr-defined]
    assert orders and len({o.body.nonce for o in orders}) == len(orders)
    engine = mesh.saga.positions
    for pair in mesh.universe.pairs:
        for outcome in (Outcome.YES, Outcome.NO):
            venue_says = noncex.account.positions.get(
                f"{pair.b.market_id}:{outcome.name.lower()}", 0)
            assert engine.get(("noncex", pair.b.market_id, outcome), 0) == venue_says
    assert any(key.startswith("KX") for key in held["noncex"])
