"""The saga state machine under arbitrary fill outcomes (hypothesis)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from arbiter.core.instruments import Outcome
from arbiter.core.units import ONE_DOLLAR
from arbiter.saga.machine import (
    HedgeStep,
    HedgeStrategy,
    LegPlan,
    LegRole,
    PlaceOrder,
    Policy,
    Saga,
    State,
)

LOT = 1_000_000
LEG1 = LegPlan(1, "pm", Outcome.YES, 420_000, 10_000, Outcome.YES)
LEG2 = LegPlan(2, "ks", Outcome.NO, 540_000, 10_000, Outcome.NO)
RETRY, UNWIND = HedgeStep(HedgeStrategy.RETRY), HedgeStep(HedgeStrategy.UNWIND)
LADDERS = st.lists(st.sampled_from([RETRY, UNWIND, *(HedgeStep(HedgeStrategy.CHASE, t)
                                                   for t in range(1, 4))]), max_size=6)


def _new(policy: Policy = Policy()) -> Saga:
    return Saga("t:s1", "pair", LEG1, LEG2, policy)


def _run(saga: Saga, qty: int, fill_fractions: list[int]) -> list[PlaceOrder]:
    """Fill each order by the next fraction (in %) of its size, rounded down to lots."""
    sent: list[PlaceOrder] = []
    pending = saga.approve(qty)
    fractions = iter(fill_fractions)
    while pending:
        command = pending.pop(0)
        sent.append(command)
        lots = command.qty // LOT * next(fractions, 100) // 100
        if lots:
            assert saga.on_fill(command.client_order_id, f"T{len(sent)}",
                                command.limit_price, lots * LOT, 1_000)
        saga.on_order_done(command.client_order_id)
        pending += saga.progress()
        assert len(sent) < 20, "saga did not terminate"
    return sent


@settings(max_examples=300, deadline=None)
@given(
    lots=st.integers(1, 50),
    fractions=st.lists(st.integers(0, 100), max_size=8),
    ladder=LADDERS,
)
def test_every_run_terminates_in_a_consistent_state(
    lots: int, fractions: list[int], ladder: list[HedgeStep]
) -> None:
    saga = _new(Policy(tuple(ladder)))
    sent = _run(saga, lots * LOT, fractions)

    assert saga.terminal
    assert len({c.client_order_id for c in sent}) == len(sent)
    assert sent[0].qty == lots * LOT
    leg1_filled = saga.filled(LegRole.FIRST)
    if leg1_filled:
        assert sent[1].qty == leg1_filled  # leg 2 sized to leg 1's actual fill
    else:
        assert saga.state is State.LEG1_FAILED and len(sent) == 1
    for record in saga.orders.values():
        assert 0 <= record.filled <= record.command.qty
    if saga.state in (State.COMPLETED, State.COMPENSATED):
        assert saga.unhedged == 0
    if saga.state is State.HELD:
        assert saga.unhedged > 0
    if saga.state is State.COMPLETED:
        assert len(sent) == 2
    compensation = [saga.orders[c.client_order_id] for c in sent[2:]]
    assert [o.strategy for o in compensation] == [s.strategy for s in ladder[:len(compensation)]]
    for order, step in zip(compensation, ladder, strict=False):
        assert order.role is step.strategy.role
        if order.role is LegRole.SECOND:
            assert order.command.limit_price == min(LEG2.limit_price + step.ticks * LEG2.tick,
                                                    max(LEG2.limit_price,
                                                        saga.break_even()))


def test_full_fills_complete_with_two_orders_and_lock_in_the_edge() -> None:
    saga = _new()
    sent = _run(saga, 10 * LOT, [100, 100])
    assert [c.client_order_id for c in sent] == ["t:s1:leg1:1", "t:s1:leg2:1"]
    assert saga.state is State.COMPLETED
    # 10 x ($1 - 0.42 - 0.54) less 2 x $0.001 fees
    assert saga.realized_pnl() == 10 * (1_000_000 - 420_000 - 540_000) - 2_000


def test_short_leg2_is_retried_then_chased_one_tick_at_a_time() -> None:
    chases = (HedgeStep(HedgeStrategy.CHASE, 1), HedgeStep(HedgeStrategy.CHASE, 2))
    saga = _new(Policy((RETRY, *chases)))
    sent = _run(saga, 10 * LOT, [100, 0, 0, 0, 0])
    leg2 = [c for c in sent if saga.orders[c.client_order_id].role is LegRole.SECOND]
    assert [c.limit_price for c in leg2] == [540_000, 540_000, 550_000, 560_000]
    assert saga.state is State.HELD
    assert saga.unhedged == 10 * LOT


def test_unwind_buys_the_complement_on_leg1_venue_when_leg2_cannot_fill() -> None:
    saga = _new(Policy((UNWIND,)))
    sent = _run(saga, 4 * LOT, [100, 50, 100])
    unwind = sent[-1]
    assert unwind.client_order_id == "t:s1:unwind:1"
    assert (unwind.venue, unwind.market_id, unwind.outcome) == (1, "pm", Outcome.NO)
    assert unwind.qty == 2 * LOT
    assert saga.state is State.COMPENSATED
    assert saga.unhedged == 0


def test_a_repeated_fill_is_counted_once() -> None:
    saga = _new()
    (leg1,) = saga.approve(5 * LOT)
    assert saga.on_fill(leg1.client_order_id, "T1", 420_000, 5 * LOT, 0)
    assert not saga.on_fill(leg1.client_order_id, "T1", 420_000, 5 * LOT, 0)
    assert not saga.on_fill("someone-else", "T2", 420_000, LOT, 0)
    assert saga.filled(LegRole.FIRST) == 5 * LOT


def test_a_late_done_for_a_finished_order_is_ignored() -> None:
    saga = _new()
    sent = _run(saga, 3 * LOT, [100, 100])
    saga.on_order_done(sent[0].client_order_id, 0)
    assert saga.progress() == []
    assert saga.state is State.COMPLETED


def test_a_fill_delayed_behind_the_cancel_still_counts_before_leg2_is_sized() -> None:
    saga = _new()
    (leg1,) = saga.approve(10 * LOT)
    saga.on_fill(leg1.client_order_id, "T1", 420_000, 4 * LOT, 0)
    saga.on_order_done(leg1.client_order_id, canceled=3 * LOT)  # venue: 7 filled, 3 dead
    assert saga.progress() == []  # 3 filled contracts are still on their way
    saga.on_fill(leg1.client_order_id, "T2", 420_000, 3 * LOT, 0)
    (leg2,) = saga.progress()
    assert leg2.qty == 7 * LOT
    assert saga.state is State.LEG2_SUBMITTED


def test_the_default_ladder_is_retry_then_two_chases_then_unwind() -> None:
    saga = _new()
    sent = _run(saga, 10 * LOT, [100, 0, 0, 0, 0, 100])
    records = [saga.orders[c.client_order_id] for c in sent]
    assert [(r.role, r.strategy) for r in records] == [
        (LegRole.FIRST, None), (LegRole.SECOND, None), (LegRole.SECOND, HedgeStrategy.RETRY),
        (LegRole.SECOND, HedgeStrategy.CHASE), (LegRole.SECOND, HedgeStrategy.CHASE),
        (LegRole.UNWIND, HedgeStrategy.UNWIND)]
    # the client order ids are what the venues saw before roles were data
    assert [c.client_order_id for c in sent] == [
        "t:s1:leg1:1", "t:s1:leg2:1", "t:s1:leg2:2", "t:s1:leg2:3", "t:s1:leg2:4",
        "t:s1:unwind:1"]
    assert [c.limit_price for c in sent[1:5]] == [540_000, 540_000, 550_000, 560_000]
    assert saga.state is State.COMPENSATED


def test_a_chase_never_pays_past_break_even() -> None:
    saga = _new(Policy((HedgeStep(HedgeStrategy.CHASE, 100), UNWIND)))
    sent = _run(saga, 10 * LOT, [100, 0, 0, 100])
    chase = sent[2]
    # $1 less leg 1's 0.42 and its $0.001 fee on 10 contracts, down to the tick: at 0.58
    # the pair would cost $1.0001 a unit
    assert chase.limit_price == saga.break_even() == 570_000


@settings(max_examples=300, deadline=None)
@given(
    tick=st.sampled_from([100, 1_000, 10_000]),
    leg1_fills=st.lists(st.tuples(st.integers(1, 100), st.integers(1, 3_000_000),
                                  st.integers(0, 30_000)), min_size=1, max_size=4),
    leg2_percent=st.integers(0, 99),
    chases=st.lists(st.integers(1, 60), min_size=1, max_size=4),
    slack=st.sampled_from([0, 0, 1, 3, 60]),
)
# an average of $0.4100005 (2 contracts at 0.41, a hundred micro-units at 0.42): read as
# $0.41 it would allow a chase to 0.59, where the pair costs more than $1
@example(tick=10_000, leg1_fills=[(2, 2_000_000, 0), (1, 100, 0)], leg2_percent=0, chases=[5],
         slack=0)
# 0.42 and a cent of fee on one contract: a chase to 0.58 would ignore the fee and lose it
@example(tick=10_000, leg1_fills=[(1, 1_000_000, 10_000)], leg2_percent=0, chases=[50],
         slack=60)
def test_no_chase_price_exceeds_the_break_even_of_what_leg_1_paid(
    tick: int, leg1_fills: list[tuple[int, int, int]], leg2_percent: int, chases: list[int],
    slack: int,
) -> None:
    """Leg 1 filled in pieces at or below its limit (fine quantities, so its average price
    has a fraction of a micro-dollar) and paid fees (up to 3 cents a contract, so the pair
    still has an edge); leg 2 goes out with up to `slack` ticks over its detected price and
    fills short; leg 2 and every chase are priced at most at the break-even computed here
    exactly, so the hedged pair never costs more than $1 with leg 1's fees."""
    leg1 = LegPlan(1, "pm", Outcome.YES, 420_000, tick, Outcome.YES)
    leg2 = LegPlan(2, "ks", Outcome.NO, 540_000, tick, Outcome.NO)
    saga = Saga("t:s1", "pair", leg1, leg2,
                Policy(tuple(HedgeStep(HedgeStrategy.CHASE, t) for t in chases),
                       leg2_slack_ticks=slack))
    prices = [420_000 - (k - 1) * tick for k, _, _ in leg1_fills]  # at or below the limit
    filled = sum(q for _, q, _ in leg1_fills)
    [first] = saga.approve(filled)
    fees = [rate * qty // ONE_DOLLAR for _, qty, rate in leg1_fills]
    for n, (price, (_, qty, _), fee) in enumerate(zip(prices, leg1_fills, fees, strict=True)):
        saga.on_fill(first.client_order_id, f"L1-{n}", price, qty, fee)
    saga.on_order_done(first.client_order_id)
    paid = sum(Fraction(p * q, ONE_DOLLAR) + fee
               for p, (_, q, _), fee in zip(prices, leg1_fills, fees, strict=True))
    average = paid * ONE_DOLLAR / filled
    break_even = (ONE_DOLLAR - average) // tick * tick
    [second] = saga.progress()
    assert second.qty == filled
    assert second.limit_price == min(leg2.limit_price + slack * tick, saga.break_even())
    assert leg2.limit_price <= second.limit_price <= max(leg2.limit_price, break_even)
    if part := filled * leg2_percent // 100:
        saga.on_fill(second.client_order_id, "L2", second.limit_price, part, 0)
    saga.on_order_done(second.client_order_id)
    chased = []
    while pending := saga.progress():
        [order] = pending
        chased.append(order.limit_price)
        saga.on_order_done(order.client_order_id)
    assert len(chased) == len(chases)
    assert all(leg2.limit_price <= price <= break_even for price in chased), (chased, break_even)
    # and the cap is reached, not merely respected, once the chase runs far enough (up to
    # a tick: costs are whole micro-dollars, rounded up, so the average may read high)
    if filled >= ONE_DOLLAR:
        worst = leg2.limit_price + max(chases) * tick
        assert max(chased) >= min(worst, break_even - tick)


# -- parallel execution -------------------------------------------------------------
PARALLEL = Policy(parallel=True)


@settings(max_examples=300, deadline=None)
@given(
    lots=st.integers(1, 50),
    fractions=st.lists(st.integers(0, 100), max_size=8),
    ladder=LADDERS,
)
def test_parallel_runs_end_consistent_and_hedge_only_the_short_leg(
    lots: int, fractions: list[int], ladder: list[HedgeStep]
) -> None:
    saga = _new(Policy(tuple(ladder), parallel=True))
    sent = _run(saga, lots * LOT, fractions)

    assert saga.terminal
    assert len({c.client_order_id for c in sent}) == len(sent)
    assert [(c.market_id, c.qty) for c in sent[:2]] == [("pm", lots * LOT), ("ks", lots * LOT)]
    for record in saga.orders.values():
        assert 0 <= record.filled <= record.command.qty
    if saga.state is State.LEG1_FAILED:
        assert len(sent) == 2 and saga.units(Outcome.YES) == saga.units(Outcome.NO) == 0
    if saga.state in (State.COMPLETED, State.COMPENSATED):
        assert saga.unhedged == 0
    if saga.state is State.HELD:
        assert saga.unhedged > 0
    if saga.state in (State.COMPLETED, State.LEG1_FAILED):
        assert len(sent) == 2
    compensation = [saga.orders[c.client_order_id] for c in sent[2:]]
    assert [o.strategy for o in compensation] == [s.strategy for s in ladder[:len(compensation)]]
    first, second = (saga.orders[c.client_order_id].filled for c in sent[:2])
    leg1_long = first >= second
    long, short = (LEG1, LEG2) if leg1_long else (LEG2, LEG1)
    for order in compensation:
        command = order.command
        if order.strategy is HedgeStrategy.UNWIND:
            assert (command.venue, command.market_id, command.outcome) == (
                long.venue, long.market_id, long.outcome.other)
        else:
            assert (command.venue, command.market_id, command.outcome) == (
                short.venue, short.market_id, short.outcome)
            assert short.limit_price <= command.limit_price <= max(
                short.limit_price, ONE_DOLLAR - long.limit_price)  # fills here at the limit


@settings(max_examples=200, deadline=None)
@given(lots=st.integers(1, 50), fractions=st.lists(st.integers(0, 100), max_size=7))
def test_when_leg_1_fills_whole_parallel_compensates_exactly_as_sequential(
    lots: int, fractions: list[int]
) -> None:
    """Leg 2 short of a full leg 1 is the sequential case: the same orders follow."""
    sequential, parallel = _new(), _new(PARALLEL)
    seq = _run(sequential, lots * LOT, [100, *fractions])
    par = _run(parallel, lots * LOT, [100, *fractions])
    assert par == seq
    assert (parallel.state, parallel.realized_pnl()) == (sequential.state,
                                                         sequential.realized_pnl())


def test_parallel_sends_both_legs_at_the_approved_size() -> None:
    saga = _new(PARALLEL)
    first, second = saga.approve(6 * LOT)
    assert (first.client_order_id, second.client_order_id) == ("t:s1:leg1:1", "t:s1:leg2:1")
    assert first.qty == second.qty == 6 * LOT
    assert saga.state is State.LEG2_SUBMITTED
    saga.on_fill(first.client_order_id, "T1", 420_000, 6 * LOT, 0)
    saga.on_order_done(first.client_order_id)
    assert saga.progress() == []  # leg 2 is still open
    saga.on_fill(second.client_order_id, "T2", 540_000, 6 * LOT, 0)
    saga.on_order_done(second.client_order_id)
    assert saga.progress() == [] and saga.state is State.COMPLETED


def test_parallel_with_neither_leg_filled_is_a_leg_1_failure_with_nothing_to_hedge() -> None:
    saga = _new(PARALLEL)
    sent = _run(saga, 5 * LOT, [0, 0])
    assert len(sent) == 2 and saga.state is State.LEG1_FAILED
    assert saga.detail == "neither leg filled"


def test_a_short_leg_1_is_resent_chased_to_break_even_then_leg_2_unwound() -> None:
    saga = _new(Policy((RETRY, HedgeStep(HedgeStrategy.CHASE, 100), UNWIND), parallel=True))
    sent = _run(saga, 10 * LOT, [40, 100, 0, 0, 100])
    records = [saga.orders[c.client_order_id] for c in sent]
    assert [(r.role, r.strategy) for r in records] == [
        (LegRole.FIRST, None), (LegRole.SECOND, None), (LegRole.FIRST, HedgeStrategy.RETRY),
        (LegRole.FIRST, HedgeStrategy.CHASE), (LegRole.UNWIND, HedgeStrategy.UNWIND)]
    assert [c.client_order_id for c in sent[2:]] == ["t:s1:leg1:2", "t:s1:leg1:3",
                                                     "t:s1:unwind:1"]
    assert [c.qty for c in sent[2:]] == [6 * LOT] * 3
    # $1 less leg 2's 0.54 and its fee, down to the tick
    assert sent[3].limit_price == saga.break_even(LegRole.FIRST) == 450_000
    unwind = sent[4]
    assert (unwind.venue, unwind.market_id, unwind.outcome) == (2, "ks", Outcome.YES)
    assert saga.state is State.COMPENSATED and saga.unhedged == 0
