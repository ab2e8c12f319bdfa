"""Kalshi prices every fill in YES terms (`yes_price_dollars`, facts B5.4): a NO order's
fill must reach the saga at 1 - that price, or every NO leg's cost, break-even and PnL are
wrong by the distance from 0.50."""

from __future__ import annotations

import asyncio

from emulators.venue_clients import open_session
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.instruments import Outcome
from arbiter.core.units import ONE_DOLLAR, parse_micros
from arbiter.emulators.wire import dollars, size_text
from arbiter.venues.kalshi.gateway import _fill

from .venues import FILL, IOC, ONE, open_venue

YES_PRICES = st.integers(1, 9_999).map(lambda p: p * 100)  # the 4-decimal dollar grid


@settings(max_examples=200, deadline=None)
@given(yes_price=YES_PRICES, side=st.sampled_from(["yes", "no"]), lots=st.integers(1, 10_000),
       fee=st.integers(0, 10_000), taker=st.booleans(), legacy=st.booleans())
def test_a_published_fill_is_priced_in_the_bought_sides_terms(
    yes_price: int, side: str, lots: int, fee: int, taker: bool, legacy: bool
) -> None:
    """The fill channel's message as published (B5.4), or a legacy one naming only `side`."""
    msg = {"trade_id": "T-1", "order_id": "O-1", "market_ticker": "KX-1", "exchange_index": 0,
           "is_taker": taker, "side": side, "yes_price_dollars": dollars(yes_price, 4),
           "count_fp": size_text(lots * 10_000, 2), "fee_cost": dollars(fee * 100, 4),
           "action": "buy", "post_position_fp": "1.00", "ts_ms": 0}
    if not legacy:
        msg |= {"purchased_side": side, "outcome_side": side,
                "book_side": "bid" if side == "yes" else "ask"}
    fill = _fill(msg)
    assert fill.price == (yes_price if side == "yes" else ONE_DOLLAR - yes_price)
    assert (fill.qty, fill.fee) == (lots * 10_000, fee * 100)


@settings(max_examples=25, deadline=None)
@given(yes_cents=st.integers(2, 98), better=st.integers(0, 3), lots=st.integers(1, 5))
def test_a_no_order_fills_at_one_minus_the_trades_yes_price(
    yes_cents: int, better: int, lots: int
) -> None:
    asyncio.run(_no_order_fills(yes_cents * 10_000, better, lots))


async def _no_order_fills(yes_price: int, better: int, lots: int) -> None:
    """A NO order against a YES bid at `yes_price` (the NO limit `better` cents above what it
    pays): the gateway's fill, from the stream and from the REST lookup, carries 1 - the
    YES price of the emulator's own fill message and agrees with its `no_price_dollars`."""
    setup = await open_venue("kalshi")
    engine = setup.emulator.engines[setup.market_id]
    for order_id in list(engine.orders):
        engine.cancel(order_id)
    setup.emulator.quote(setup.market_id, "lp-test", bids=[(yes_price, 10 * ONE)], asks=[])
    wire = await open_session(setup.emulator, "ws", {"id": 1, "cmd": "subscribe",
                                                     "params": {"channels": ["fill"]}})
    no_limit = min(ONE_DOLLAR - yes_price + better * 10_000, 990_000)
    request = setup.request(no_limit, lots * ONE, IOC, outcome=Outcome.NO)

    ack = await setup.gateway.place(request)
    await setup.settle()

    [sent] = [f["msg"] for f in wire.events("fill")]
    [booked] = [f for f in setup.emulator.fills if f["order_id"] == ack.venue_order_id]
    no_price = ONE_DOLLAR - parse_micros(sent["yes_price_dollars"])
    assert no_price == parse_micros(booked["no_price_dollars"]) == ONE_DOLLAR - yes_price
    [streamed] = setup.of(request.client_order_id, FILL)
    assert (streamed.price_micros, streamed.qty_micros) == (no_price, lots * ONE)
    [looked_up] = [_fill(f) for f in await setup.gateway.fills(order_id=ack.venue_order_id)]
    assert looked_up.price == no_price
