"""PnL: realized + unrealized is what a venue's own books say, fill by fill.

The reference here is an independent replay of how each venue books a buy: a netting venue
keeps one signed position per market and pays $1 for each contract a buy of the other side
cancels; a venue that does not net keeps both tokens. The engine's `portfolio_pnl` only sees
the gross totals per outcome.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.instruments import Outcome
from arbiter.core.pnl import Holding, Quote, market_pnl, portfolio_pnl
from arbiter.core.units import CENT, ONE_DOLLAR, QTY_SCALE, notional

prices = st.integers(1, 99).map(lambda c: c * CENT)
quantities = st.integers(1, 500).map(lambda n: n * QTY_SCALE // 100)  # 0.01 .. 5 contracts
fills = st.lists(st.tuples(st.sampled_from(Outcome), prices, quantities, st.integers(0, 20_000)),
                 min_size=1, max_size=30)
quotes = st.builds(Quote, st.one_of(st.none(), prices), st.one_of(st.none(), prices))


def holdings_of(venue: str, fills: list[tuple[Outcome, int, int, int]]) -> list[Holding]:
    totals: dict[Outcome, list[int]] = defaultdict(lambda: [0, 0, 0])
    for outcome, price, qty, fee in fills:
        totals[outcome][0] += qty
        totals[outcome][1] += notional(price, qty)
        totals[outcome][2] += fee
    return [Holding(venue, "M", o, *t) for o, t in totals.items()]


def venue_replay(fills: list[tuple[Outcome, int, int, int]], netting: bool,
                 quote: Quote) -> tuple[int, int]:
    """(cash change, mark of what the venue says we hold) as the venue books the fills."""
    cash = 0
    signed = 0  # netting: YES > 0, NO < 0
    tokens = {Outcome.YES: 0, Outcome.NO: 0}
    for outcome, price, qty, fee in fills:
        cash -= notional(price, qty) + fee
        if netting:
            step = qty if outcome is Outcome.YES else -qty
            if signed * step < 0:
                cash += min(qty, abs(signed)) * ONE_DOLLAR // QTY_SCALE
            signed += step
        else:
            tokens[outcome] += qty
    if netting:
        side = Outcome.YES if signed > 0 else Outcome.NO
        return cash, abs(signed) * quote.mark(side) // QTY_SCALE
    sets = min(tokens.values())
    return cash, sets * ONE_DOLLAR // QTY_SCALE + sum(
        (q - sets) * quote.mark(o) // QTY_SCALE for o, q in tokens.items())


@given(fills, quotes, st.booleans())
def test_realized_plus_unrealized_is_the_venues_cash_change_plus_its_marked_position(
        fills: list[tuple[Outcome, int, int, int]], quote: Quote, netting: bool) -> None:
    [pnl] = portfolio_pnl(holdings_of("v", fills), {("v", "M"): quote},
                          frozenset({"v"}) if netting else frozenset())
    cash, marked = venue_replay(fills, netting, quote)
    assert pnl.realized + pnl.unrealized == cash + marked
    assert pnl.mark_value == marked


@given(fills, quotes)
def test_only_a_netting_venue_realizes_before_settlement(
        fills: list[tuple[Outcome, int, int, int]], quote: Quote) -> None:
    [pnl] = portfolio_pnl(holdings_of("v", fills), {("v", "M"): quote}, frozenset())
    assert pnl.realized == 0 and pnl.netted == 0
    assert pnl.unrealized == pnl.mark_value - pnl.spent


@given(fills, quotes, st.booleans())
def test_marks_and_allocated_costs_round_against_us(
        fills: list[tuple[Outcome, int, int, int]], quote: Quote, netting: bool) -> None:
    """Against exact fractions: the mark never exceeds the open contracts' value, and the
    realized part never exceeds $1 per netted pair less their exact share of the spend."""
    holdings = {h.outcome: h for h in holdings_of("v", fills)}
    pnl = market_pnl(holdings.get(Outcome.YES), holdings.get(Outcome.NO), quote, netting)
    sets = min(pnl.open.values()) if len(pnl.open) == 2 else 0  # merged: $1 a set
    exact_mark = Fraction(sets * ONE_DOLLAR, QTY_SCALE) + sum(
        Fraction((q - sets) * quote.mark(o), QTY_SCALE) for o, q in pnl.open.items())
    assert exact_mark - len(Outcome) < pnl.mark_value <= exact_mark
    exact_closed = sum(Fraction((h.cost + h.fees) * pnl.netted, h.qty) for h in holdings.values())
    assert pnl.realized <= Fraction(pnl.netted * ONE_DOLLAR, QTY_SCALE) - exact_closed


def test_a_netted_pair_realizes_its_dollar_and_the_rest_is_marked_to_the_book() -> None:
    """3 YES at 40c and 1 NO at 55c on Kalshi: 1 pair closes for $1 against 40c + 55c; the 2
    YES left are marked at the 42c bid against their 80c cost."""
    yes = Holding("kalshi", "M", Outcome.YES, 3 * QTY_SCALE, 3 * 40 * CENT, 0)
    no = Holding("kalshi", "M", Outcome.NO, QTY_SCALE, 55 * CENT, 0)
    pnl = market_pnl(yes, no, Quote(42 * CENT, 45 * CENT), netting=True)
    assert (pnl.netted, pnl.open) == (QTY_SCALE, {Outcome.YES: 2 * QTY_SCALE})
    assert pnl.realized == ONE_DOLLAR - 40 * CENT - 55 * CENT
    assert (pnl.mark_value, pnl.unrealized) == (84 * CENT, 84 * CENT - 80 * CENT)


def test_a_complete_set_on_polymarket_is_marked_at_what_merging_returns() -> None:
    yes = Holding("polymarket", "M", Outcome.YES, QTY_SCALE, 40 * CENT, 0)
    no = Holding("polymarket", "M", Outcome.NO, QTY_SCALE, 55 * CENT, 0)
    pnl = market_pnl(yes, no, Quote(None, None), netting=False)
    assert (pnl.realized, pnl.mark_value, pnl.unrealized) == (0, ONE_DOLLAR, 5 * CENT)


@given(fills, st.integers(0, 100).map(lambda c: c * CENT), st.booleans())
def test_at_settlement_everything_is_realized_and_equals_the_venues_cash(
        fills: list[tuple[Outcome, int, int, int]], payout: int, netting: bool) -> None:
    """The venue pays each contract it still holds its side's value (YES `payout`, NO the
    rest of $1) on top of the fills' cash; the engine's realized PnL is that, from its
    gross totals alone, and nothing is left open or marked."""
    cash, _ = venue_replay(fills, netting, Quote(None, None))
    signed = sum(q if o is Outcome.YES else -q for o, _, q, _ in fills)
    if netting:
        side = Outcome.YES if signed > 0 else Outcome.NO
        cash += notional(payout if side is Outcome.YES else ONE_DOLLAR - payout, abs(signed))
    else:
        for outcome, pays in ((Outcome.YES, payout), (Outcome.NO, ONE_DOLLAR - payout)):
            cash += notional(pays, sum(q for o, _, q, _ in fills if o is outcome))
    [pnl] = portfolio_pnl(holdings_of("v", fills), {}, frozenset({"v"}) if netting
                          else frozenset(), {("v", "M"): payout})
    assert (pnl.realized, pnl.unrealized, pnl.mark_value, pnl.open) == (cash, 0, 0, {})


@given(fills, quotes, st.integers(0, 600).map(lambda n: n * QTY_SCALE // 100))
def test_merged_sets_realize_their_dollar_as_the_wallet_books_the_merge(
        fills: list[tuple[Outcome, int, int, int]], quote: Quote, merge: int) -> None:
    """A wallet that does not net merges up to `merge` complete sets back to $1 each (what
    it can: its complete sets): the engine told of the merge realizes it, and realized +
    unrealized is still the wallet's cash change plus its marked tokens."""
    tokens = {o: sum(q for f, _, q, _ in fills if f is o) for o in Outcome}
    merged = min(merge, *tokens.values())
    cash = -sum(notional(p, q) + fee for _, p, q, fee in fills) + merged * ONE_DOLLAR // QTY_SCALE
    left = {o: q - merged for o, q in tokens.items()}
    sets = min(left.values())
    marked = sets * ONE_DOLLAR // QTY_SCALE + sum((q - sets) * quote.mark(o) // QTY_SCALE
                                                  for o, q in left.items())
    [pnl] = portfolio_pnl(holdings_of("polymarket", fills), {("polymarket", "M"): quote},
                          frozenset(), merged={("polymarket", "M"): merged})
    assert pnl.netted == merged and pnl.open == {o: q for o, q in left.items() if q}
    assert pnl.realized + pnl.unrealized == cash + marked and pnl.mark_value == marked
