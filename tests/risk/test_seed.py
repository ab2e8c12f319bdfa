"""Restart reconciliation: the venue's positions replace what the saga log implied."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.instruments import Outcome
from arbiter.core.units import ONE_DOLLAR, notional
from arbiter.risk.ledger import Ledger

MARKETS = ("m1", "m2", "m3")
positions = st.dictionaries(st.tuples(st.sampled_from(MARKETS), st.sampled_from(list(Outcome))),
                            st.integers(0, 50_000_000), max_size=6)
fills = st.lists(st.tuples(st.sampled_from((1, 2)), st.sampled_from(MARKETS),
                           st.sampled_from(list(Outcome)), st.integers(1, 20_000_000),
                           st.integers(1, 999_999)), max_size=12)


def _ledger(history: list[tuple[int, str, Outcome, int, int]]) -> Ledger:
    ledger = Ledger()
    for n, (venue, market, outcome, qty, price) in enumerate(history):
        ledger.fill(f"t{n}", "", (venue, market, outcome), qty, price)
    return ledger


@given(fills, positions, st.booleans())
def test_after_seeding_risk_holds_exactly_what_the_venue_says(
    history: list[tuple[int, str, Outcome, int, int]],
    truth: dict[tuple[str, Outcome], int], netted: bool,
) -> None:
    if netted:  # a netting venue reports one side per market, never both
        truth = {k: q for k, q in truth.items()
                 if k[1] is Outcome.YES or (k[0], Outcome.YES) not in truth}
    ledger = _ledger(history)
    other_venue = {k: v for k, v in ledger.positions().items() if k[0] == 2}
    cost_before = ledger.held_cost
    changed = ledger.seed(1, truth, netted)

    held = {(m, o): q for (v, m, o), q in ledger.positions().items() if v == 1}
    assert held == {k: q for k, q in truth.items() if q}
    assert {k: v for k, v in ledger.positions().items() if k[0] == 2} == other_venue
    assert ledger.total_held == sum(abs(q) for q in ledger.positions().values())
    assert ledger.held_cost >= 0
    unknown = sum(max(0, after - max(before, 0)) for _, before, after in changed)
    assert ledger.held_cost <= cost_before + notional(ONE_DOLLAR, unknown)
    assert ledger.seed(1, truth, netted) == []  # seeding is idempotent


def test_unknown_contracts_are_costed_at_a_dollar_and_reported() -> None:
    ledger = _ledger([(1, "m1", Outcome.YES, 2_000_000, 400_000)])
    changed = ledger.seed(1, {("m1", Outcome.YES): 5_000_000})
    assert changed == [((1, "m1", Outcome.YES), 2_000_000, 5_000_000)]
    assert ledger.held_cost == notional(400_000, 2_000_000) + notional(ONE_DOLLAR, 3_000_000)


def test_a_netting_venue_reports_only_markets_whose_net_differs() -> None:
    """Kalshi turns 3 YES + 5 NO into 2 NO: the same exposure, not a discrepancy; the
    position itself still becomes the venue's."""
    ledger = _ledger([(1, "m1", Outcome.YES, 3_000_000, 400_000),
                      (1, "m1", Outcome.NO, 5_000_000, 500_000)])
    assert ledger.seed(1, {("m1", Outcome.NO): 2_000_000}, netted=True) == []
    assert ledger.positions() == {(1, "m1", Outcome.NO): 2_000_000}
    assert ledger.held_cost == notional(500_000, 2_000_000)
    assert ledger.seed(1, {("m1", Outcome.NO): 1_000_000}, netted=True) == [
        ((1, "m1", Outcome.NO), 2_000_000, 1_000_000)]
