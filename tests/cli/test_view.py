"""The live view's header says whether the engine trades, and if not, why: HardStop, missing
readiness, or the limit that refuses every new saga (the default demo's silent stall)."""

from __future__ import annotations

from rich.console import Console

from arbiter.cli.view import header, render
from arbiter.platform.config import load_config
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.v1 import common_pb2, risk_pb2


def _text(mesh: EmbeddedMesh, elapsed_s: float = 0.0) -> str:
    return header(mesh, elapsed_s).plain


async def test_the_header_names_mode_seed_bus_and_why_trading_stopped() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={
        "market.seed": 5, "risk.max_position_per_market": "30",
        "risk.max_position_total": "30"}))
    assert "not ready:" in _text(mesh)  # nothing reconciled yet
    await mesh.start()
    line = _text(mesh, 83.4)
    assert line.startswith("PAPER seed 5 · bus memory (lock-step) · 01:23 elapsed")
    assert line.endswith("trading")
    for _ in range(400):
        await mesh.step()
        if "limit reached" in _text(mesh):
            break
    assert "limit reached: max_position" in _text(mesh)
    await mesh.risk.HardStop(risk_pb2.HardStopRequest(
        tenant=common_pb2.TenantContext(tenant_id=mesh.config.tenant.id), reason="drill",
        actor="test"), None)
    assert "HardStop: " in _text(mesh) and "drill" in _text(mesh)
    console = Console(width=160, record=True)
    console.print(render(mesh, 1.0))
    assert "HardStop" in console.export_text()
    await mesh.stop()


async def test_the_header_counts_settled_markets_and_says_when_nothing_is_left() -> None:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={
        "market.seed": 5, "market.lifetime_steps": 40, "market.relist": False}))
    await mesh.start()
    for _ in range(20):
        await mesh.step()
    assert "4/8 markets settled · trading" in _text(mesh)
    for _ in range(20):
        await mesh.step()
    assert _text(mesh).endswith("8/8 markets settled · every market has resolved: nothing "
                                "left to trade")
    console = Console(width=200, record=True)
    console.print(render(mesh, 1.0))
    assert "realized $" in console.export_text()
    await mesh.stop()
