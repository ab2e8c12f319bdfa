"""The order tracker is the last gate before the saga for every venue: whatever a venue
sends, the reports it emits describe an order that could exist — fills at a price in (0, 1),
positive quantities, fees in range, never more than the order's size, and a dead remainder
that with the fills makes exactly the order's size."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.fees import FeeModel
from arbiter.core.units import CENT, ONE_DOLLAR
from arbiter.gateways.orders import ImplausibleFill, OrderTracker, VenueFill
from arbiter.v1 import execution_pb2

FEES = FeeModel("test", Fraction(7, 100))
QTY = 10_000_000


def _request(qty: int = QTY) -> execution_pb2.OrderRequest:
    return execution_pb2.OrderRequest(client_order_id="c1", market_id="m", venue="test",
                                      qty_micros=qty, limit_price_micros=500_000)


@pytest.mark.parametrize(("price", "qty", "fee", "what"), [
    (0, 1_000_000, None, "price"),
    (ONE_DOLLAR, 1_000_000, None, "price"),
    (-5, 1_000_000, None, "price"),
    (500_000, 0, None, "quantity"),
    (500_000, -1, None, "quantity"),
    (500_000, 1_000_000, -1, "fee"),
])
def test_a_fill_no_exchange_could_make_is_refused(price: int, qty: int, fee: int | None,
                                                   what: str) -> None:
    with pytest.raises(ImplausibleFill, match=what):
        VenueFill("o1", "t1", price, qty, fee)


def test_a_fill_beyond_the_orders_size_is_refused_and_the_order_stays_whole() -> None:
    tracker = OrderTracker()
    tracker.register(_request(), "o1", FEES)
    assert tracker.on_fill(VenueFill("o1", "t1", 400_000, 6_000_000)) is not None
    with pytest.raises(ImplausibleFill, match="beyond its 10000000"):
        tracker.on_fill(VenueFill("o1", "t2", 400_000, 6_000_000))
    # the refused trade is not remembered as seen, and a fitting fill still books
    assert tracker.on_fill(VenueFill("o1", "t3", 400_000, 4_000_000)) is not None
    dead = tracker.close("o1", "canceled")
    assert dead is not None and dead.qty_micros == 0


def test_an_order_may_pay_its_whole_fee_on_one_fill_but_not_beyond_its_payout() -> None:
    tracker = OrderTracker()
    tracker.register(_request(), "o1", FEES)
    assert tracker.on_fill(VenueFill("o1", "t1", 500_000, 1_000_000, fee=200_000)) is not None
    with pytest.raises(ImplausibleFill, match="beyond 10010000"):
        tracker.on_fill(VenueFill("o1", "t2", 500_000, 1_000_000, fee=10 * ONE_DOLLAR))


def test_a_venue_count_beyond_the_size_never_makes_a_negative_remainder() -> None:
    tracker = OrderTracker()
    tracker.register(_request(), "o1", FEES)
    dead = tracker.close("o1", "canceled", venue_filled=QTY * 3)
    assert dead is not None and dead.qty_micros == 0


def test_fills_of_unknown_orders_are_held_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("arbiter.gateways.orders.MAX_EARLY_ORDERS", 3)
    tracker = OrderTracker()
    for n in range(5):
        tracker.on_fill(VenueFill(f"o{n}", f"t{n}", 500_000, 1_000_000))
    assert tracker.register(_request(), "o0", FEES) == []  # the oldest were let go
    assert [f.trade_id for f in tracker.register(_request(), "o4", FEES)] == ["t4"]


fills = st.lists(
    st.tuples(st.integers(-2, 3),  # which trade id (repeats are venue replays)
              st.integers(-ONE_DOLLAR, 2 * ONE_DOLLAR),
              st.integers(-QTY, 2 * QTY),
              st.one_of(st.none(), st.integers(-CENT, 20 * ONE_DOLLAR))),
    max_size=30)


@given(fills, st.booleans(), st.one_of(st.none(), st.integers(-QTY, 3 * QTY)))
def test_whatever_the_venue_sends_the_reports_describe_a_possible_order(
        sent: list[tuple[int, int, int, int | None]], early: bool, venue_filled: int | None,
) -> None:
    tracker = OrderTracker()
    reports: list[execution_pb2.ExecutionReport] = []

    def feed(items: list[VenueFill]) -> None:
        for fill in items:
            try:
                report = tracker.on_fill(fill)
            except ImplausibleFill:
                continue
            if report is not None:
                reports.append(report)

    made = []
    for trade, price, qty, fee in sent:
        try:
            made.append(VenueFill("o1", f"t{trade}", price, qty, fee))
        except ImplausibleFill:
            continue
    if early:  # everything raced ahead of the REST reply
        feed(made)
        feed(tracker.register(_request(), "o1", FEES))
    else:
        tracker.register(_request(), "o1", FEES)
        feed(made)
    dead = tracker.close("o1", "canceled", venue_filled)
    assert dead is not None
    filled = sum(r.qty_micros for r in reports)
    assert all(0 < r.price_micros < ONE_DOLLAR and r.qty_micros > 0 for r in reports)
    assert all(r.fee_micros >= 0 for r in reports)
    assert sum(r.fee_micros for r in reports) <= QTY + CENT
    assert len({r.trade_id for r in reports}) == len(reports)
    assert filled <= QTY
    assert 0 <= dead.qty_micros <= QTY - filled


@given(parts=st.lists(st.tuples(st.integers(1, 99), st.integers(1, 2_500_000)),
                      min_size=1, max_size=8),
       repeats=st.lists(st.integers(0, 7), max_size=4),
       rate=st.sampled_from([Fraction(7, 100), Fraction(2, 100), Fraction(1, 1000)]))
def test_fees_over_any_split_of_an_order_sum_to_the_fee_of_the_whole(
        parts: list[tuple[int, int]], repeats: list[int], rate: Fraction) -> None:
    """A venue rounds its fee once per order: the increments reported per fill add up to the
    fee of all the order's fills together, however they were split or repeated, never to the
    sum of each fill's rounded fee (which overcharges by up to a cent a fill)."""
    fees = FeeModel("test", rate)
    qty = sum(q for _, q in parts)
    tracker = OrderTracker()
    tracker.register(_request(qty), "o1", fees)
    fills = [VenueFill("o1", f"t{n}", cents * 10_000, q) for n, (cents, q) in enumerate(parts)]
    sent = fills + [fills[i] for i in repeats if i < len(fills)]  # a replayed frame
    reported = [r for r in map(tracker.on_fill, sent) if r is not None]
    assert len(reported) == len(fills)
    whole = fees.fee([(f.price, f.qty) for f in fills])
    assert sum(r.fee_micros for r in reported) == whole
    # and each prefix of the order carries exactly the fee of that prefix
    running = 0
    for n, r in enumerate(reported, 1):
        running += r.fee_micros
        assert running == fees.fee([(f.price, f.qty) for f in fills[:n]])
