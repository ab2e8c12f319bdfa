"""Markets that resolve, end to end: the synthetic market resolves each pair on both venues,
the gateways read the settlements from the venues' APIs, and the engine books them."""

from __future__ import annotations

from decimal import Decimal

from arbiter.core.instruments import Outcome
from arbiter.core.units import CENT, ONE_DOLLAR, to_decimal
from arbiter.gateways.service import OrderEntryServicer
from arbiter.platform.config import RiskConfig, load_config
from arbiter.platform.rpc import LocalStub
from arbiter.risk.service import RiskServicer, limits_from_config
from arbiter.risk.state import RiskState
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.topology.settlement_booking import SettlementBooker

LIFETIME = 400  # steps: the four default pairs resolve at 100, 200, 300 and 400


async def _mesh(**overrides: object) -> EmbeddedMesh:
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={
        "market.seed": 7, **overrides}))
    await mesh.start()
    return mesh


async def test_settled_markets_pay_out_free_their_capital_and_realize_the_locked_in_profit(
) -> None:
    """With a position limit that stops trading well before the first resolution, trading
    resumes once a pair settles (the limit's room comes back); when every pair has settled
    nothing is held, nothing is at risk, realized PnL is exactly the sagas' locked-in
    profit, and each venue's balance moved by exactly the engine's PnL."""
    mesh = await _mesh(**{"market.lifetime_steps": LIFETIME, "market.relist": False,
                         "risk.max_position_total": 600, "risk.max_position_per_market": 600})
    started_by: dict[int, int] = {}
    for step in range(1, LIFETIME + 1):
        await mesh.step()
        if step in (90, 100, LIFETIME - 1):
            started_by[step] = mesh.saga.stats().started
    limited = mesh.risk.rejections.get("max_position_total", 0)
    await mesh.stop_trading("test")
    assert mesh.portfolio is not None and mesh.lifecycle is not None
    summary, report = mesh.summary(), await mesh.portfolio.reconcile()
    venue_held = await mesh.venue_positions()
    ledger = mesh.risk.state.ledger
    await mesh.stop()

    assert limited > 0, "the limit never bound: the test shows nothing"
    assert started_by[LIFETIME - 1] > started_by[100] >= started_by[90]
    assert len(summary["markets_settled"]) == 8 and not summary["settlement_disagreements"]
    assert summary["open_positions"] == {} and venue_held == {"kalshi": {}, "polymarket": {}}
    assert (ledger.at_risk, ledger.committed_total, ledger.positions()) == (0, 0, {})
    assert summary["sagas_completed"] > 0 and summary["sagas_held"] == 0
    assert summary["realized_pnl_usd"] == summary["locked_in_pnl_usd"]
    assert Decimal(summary["unrealized_pnl_usd"]) == Decimal(summary["mark_value_usd"]) == 0
    for venue, numbers in report.items():
        assert Decimal(numbers["marked_positions_usd"]) == 0, venue  # nothing left held
        assert Decimal(numbers["difference_usd"]) == 0, (venue, numbers)
    assert sum(Decimal(n["cash_change_usd"]) for n in report.values()) == Decimal(
        summary["realized_pnl_usd"])


async def test_venues_that_settle_one_event_differently_are_reported_with_the_hedges_cost(
) -> None:
    """Polymarket resolves YES while Kalshi settles the same event at a fair 50c (its answer
    to an event it cannot resolve): the pair is reported, with what each hedged unit paid
    instead of $1 and what its sagas made against what they locked in, and the money still
    reconciles with both venues."""
    mesh = await _mesh()
    for _ in range(150):
        await mesh.step()
    await mesh.stop_trading("test")
    assert mesh.portfolio is not None
    await mesh.market.resolve("fed-cut-dec", ONE_DOLLAR, 50 * CENT)
    await mesh.read_settlements()
    summary, report = mesh.summary(), await mesh.portfolio.reconcile()
    await mesh.stop()

    [found] = summary["settlement_disagreements"]
    assert (found["pair"], found["a_yes_paid_usd"], found["b_yes_paid_usd"],
            found["b_yes_should_pay_usd"]) == ("fed-cut-dec", "1.000000", "0.500000",
                                               "1.000000")
    assert found["hedged_unit_paid_usd"] == {"yes_on_a": "1.500000", "no_on_a": "0.500000"}
    pair = summary["pnl_by_pair"]["fed-cut-dec"]
    assert Decimal(found["pnl_usd"]) == Decimal(pair["realized_pnl_usd"])
    assert Decimal(found["pnl_usd"]) != Decimal(found["locked_in_usd"])
    assert Decimal(pair["unrealized_pnl_usd"]) == 0
    for venue, numbers in report.items():
        assert Decimal(numbers["difference_usd"]) == 0, (venue, numbers)


async def test_a_second_read_of_the_same_settlements_books_nothing() -> None:
    mesh = await _mesh(**{"market.lifetime_steps": LIFETIME})
    for _ in range(100):
        await mesh.step()
    assert mesh.lifecycle is not None
    settled = dict(mesh.lifecycle.settled)
    held_cost = mesh.risk.state.ledger.held_cost
    assert len(settled) == 2  # the first pair, on both venues
    assert await mesh.lifecycle.poll() == []
    assert (mesh.lifecycle.settled, mesh.risk.state.ledger.held_cost) == (settled, held_cost)
    await mesh.stop()


async def test_merged_sets_come_back_as_cash_and_the_engine_books_them_once() -> None:
    """With the paper wallet merging complete sets (an unwind buys the other side on leg
    1's own market), the engine reads the merges from the Data API's activity feed: the
    sets it holds shrink to what the venue says, risk's positions and held cost with them,
    PnL still reconciles, and a restarted engine counts the old merges without booking
    them to a risk seeded from the venue again."""
    mesh = await _mesh(**{"market.auto_merge": True, "market.lifetime_steps": 0})
    for _ in range(300):
        await mesh.step()
    await mesh.stop_trading("test")
    assert mesh.portfolio is not None
    summary, report = mesh.summary(), await mesh.portfolio.reconcile()
    venue_held = await mesh.venue_positions()
    ledger = mesh.risk.state.ledger
    risk_held = {f"{m}:{o.name}": str(to_decimal(q)) for (v, m, o), q in ledger.positions().items()
                 if v == "polymarket" and q}
    merged = dict(mesh.portfolio.merged)
    venues = mesh.venues
    await mesh.stop()

    assert Decimal(summary["complete_sets_merged"]) > 0
    assert summary["open_positions"]["polymarket"] == venue_held["polymarket"] == risk_held
    for venue, numbers in report.items():
        assert Decimal(numbers["difference_usd"]) == 0, (venue, numbers)

    again = await EmbeddedMesh.build(mesh.config, venues=venues, journal=mesh.saga.journal)
    await again.start()
    assert again.portfolio is not None and again.portfolio.merged == merged
    assert (await again.venue_positions())["polymarket"] == venue_held["polymarket"]
    assert again.summary()["open_positions"]["polymarket"] == venue_held["polymarket"]
    await again.read_settlements()  # the same merges again: nothing new to book
    assert {f"{m}:{o.name}": str(to_decimal(q))
            for (v, m, o), q in again.risk.state.ledger.positions().items()
            if v == "polymarket" and q} == risk_held
    await again.stop()


async def test_the_distributed_saga_books_the_venues_settlements_with_risk_once() -> None:
    """The distributed saga's booker, on the real gateways (their order-entry servicers over
    the emulated venues' settlement APIs) and a risk of its own: every market the embedded
    engine saw settle is booked, what risk held in one is closed, and a second read books
    nothing again."""
    mesh = await _mesh(**{"market.lifetime_steps": LIFETIME, "market.relist": False})
    tenant = mesh.plane.tenant
    risk_state = RiskState(limits_from_config(RiskConfig()), mesh.plane.clock,
                           tuple(mesh.gateways))
    risk = RiskServicer(risk_state, RiskConfig(), tenant.tenant_id)
    booker = SettlementBooker(tenant, LocalStub(risk), {
        venue: LocalStub(OrderEntryServicer(gateway, tenant.tenant_id))
        for venue, gateway in mesh.gateways.items()})
    try:
        assert await booker.book_new() == []  # nothing has settled yet
        first = mesh.plane.universe.pairs[0].a
        risk_state.record_fill("t-held", first.venue, first.market_id, Outcome.YES,
                               7 * 1_000_000, 40 * CENT)
        for _ in range(LIFETIME // 4 + 1):  # the first pair resolves at step 100
            await mesh.step()
        booked = await booker.book_new()
        assert mesh.lifecycle is not None
        assert {(v, m): p for v, m, p in booked} == mesh.lifecycle.settled
        assert (first.venue, first.market_id) in booker.booked
        assert risk_state.ledger.positions() == {}  # paid out and closed
        assert await booker.book_new() == []
    finally:
        await mesh.stop()
