"""Capital end to end: with one venue nearly empty, the embedded mesh sizes every saga to
what that venue can pay, never sends a leg 1 its leg 2 could not fund, and the venue's own
balance never goes below the tenant's minimum."""

from __future__ import annotations

from dataclasses import dataclass

from arbiter.core.units import ONE_DOLLAR, notional
from arbiter.platform.config import load_config
from arbiter.risk.gates import Decision, Gate, LegIntent
from arbiter.topology.embedded import EmbeddedMesh, EmulatedVenues

KALSHI_FUNDS = 40 * ONE_DOLLAR
MINIMUM = 5 * ONE_DOLLAR


@dataclass
class Checked:
    asked: int
    decision: Decision
    free_before: dict[str, int]
    cost: dict[str, int]  # the approved quantity's worst cost per venue


async def test_a_poor_venue_sizes_every_saga_and_is_never_overdrawn() -> None:
    config = load_config(environ={}, overrides={
        "market.seed": 7, "risk.min_free_balance_usd": "5", "detector.max_qty": "200"})
    venues = EmulatedVenues.create(config, epoch_ms=1_700_000_000_000)
    venues["kalshi"].account.funds = KALSHI_FUNDS
    mesh = await EmbeddedMesh.build(config, venues=venues)
    state = mesh.risk.state
    checked: list[Checked] = []
    check = state.check

    def watched(saga_id: str, pair_id: str, legs: tuple[LegIntent, ...],
                lot: int = 1) -> Decision:
        free = {v: state.funds_view(v).free for v in ("polymarket", "kalshi")}
        decision = check(saga_id, pair_id, legs, lot)
        assert decision.qty % lot == 0  # whole lots, or the venues refuse the legs
        cost = {v: sum(notional(leg.unit_cost, decision.qty) for leg in legs if leg.venue == v)
                for v in free}
        checked.append(Checked(min(leg.qty for leg in legs), decision, free, cost))
        return decision

    state.check = watched  # type: ignore[method-assign]
    await mesh.start()
    lowest = KALSHI_FUNDS
    for _ in range(400):
        await mesh.step()
        lowest = min(lowest, venues["kalshi"].account.balance)
    summary = mesh.summary()
    await mesh.stop()

    approved = [c for c in checked if c.decision.approved]
    assert approved and summary["fills"] > 0
    for c in approved:  # both legs' cost fitted each venue's free cash before leg 1
        for venue, cost in c.cost.items():
            assert cost <= c.free_before[venue], (venue, c)
    assert any(c.decision.qty < c.asked for c in approved)  # sized down to the poor venue
    assert summary["risk_rejections"].get(Gate.CAPITAL, 0) > 0  # once spent, refused
    assert lowest >= MINIMUM - ONE_DOLLAR  # fees rounding aside, the minimum stayed free
    assert not state.latch.latched  # sized in whole lots: the venues took every leg
