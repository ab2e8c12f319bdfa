"""The fault matrix's fixtures: the real gateways against socket-served emulators (the
harness of tests/emulators), a scheduler timer the test moves by hand, and the money
invariants every fault test ends on, checked against the emulator's own records."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from emulators.conftest import Harness, eventually, open_harness

from arbiter.core.instruments import Venue
from arbiter.core.units import notional, parse_micros
from arbiter.gateways.scheduler import Timer
from arbiter.v1 import execution_pb2

ONE = 1_000_000
ACK, FILL, CANCELED, REJECT = (execution_pb2.REPORT_KIND_ACK, execution_pb2.REPORT_KIND_FILL,
                               execution_pb2.REPORT_KIND_CANCELED, execution_pb2.REPORT_KIND_REJECT)
GTC = execution_pb2.TIME_IN_FORCE_GTC


@dataclass(frozen=True)
class Stream:
    """Where a venue's frames of one kind travel: the transport channel, and text only
    those frames contain (what a `Faults.ws_fault` is aimed with)."""

    channel: str
    marker: str


FILLS = {"polymarket": Stream("user", '"event_type":"trade"'),
         "kalshi": Stream("ws", '"type":"fill"')}
BOOK_DELTAS = {"polymarket": Stream("market", '"event_type":"price_change"'),
               "kalshi": Stream("ws", '"type":"orderbook_delta"')}


@contextlib.asynccontextmanager
async def opened(venue: Venue, *, timer: Timer | None = None) -> AsyncIterator[Harness]:
    """A harness whose gateway is up and whose books already match the venue's."""
    async with open_harness(venue, timer=timer) as harness:
        await eventually(harness.all_books_match)
        yield harness


@pytest.fixture(params=["polymarket", "kalshi"], ids=["polymarket", "kalshi"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with opened(request.param) as harness:
        yield harness


@pytest.fixture
async def polymarket() -> AsyncIterator[Harness]:
    async with opened("polymarket") as harness:
        yield harness


class SteppedTimer(Timer):
    """Scheduler time that moves only when the test says so: a request held by back-off
    stays held, whatever the machine's speed, until `advance`."""

    def __init__(self) -> None:
        self.t = 1_000.0
        self._sleepers: list[asyncio.Future[None]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        wake = self.t + seconds
        while self.t < wake:
            future = asyncio.get_running_loop().create_future()
            self._sleepers.append(future)
            await future

    def advance(self, seconds: float) -> None:
        self.t += seconds
        sleepers, self._sleepers = self._sleepers, []
        for future in sleepers:
            if not future.done():
                future.set_result(None)


# -- the money invariants ------------------------------------------------------------------
@dataclass(frozen=True)
class VenueOrder:
    """One of our orders as the emulator holds it."""

    size: int
    filled: int
    resting: bool


def venue_orders(harness: Harness) -> dict[str, VenueOrder]:
    """Our orders at the venue by venue order id, from the emulator's own records."""
    orders = harness.emulator.orders  # type: ignore[attr-defined]
    if harness.venue == "polymarket":
        return {i: VenueOrder(o.size, o.matched, o.status == "LIVE") for i, o in orders.items()}
    return {i: VenueOrder(o.initial, o.filled, o.status == "resting") for i, o in orders.items()}


@dataclass(frozen=True)
class VenueFill:
    """One fill of ours as the emulator made it: quantity and price in the bought token's
    (Polymarket) or the bought side's (Kalshi) own terms."""

    qty: int
    price: int


def venue_fills(harness: Harness) -> dict[tuple[str, str], VenueFill]:
    """Every fill of ours the venue made, keyed as the gateways name them (order id, trade
    id; a maker fill's trade id is suffixed with its order id). Kalshi's price is its own
    `no_price_dollars` for a NO fill, not 1 - the YES price worked out here."""
    fills: dict[tuple[str, str], VenueFill] = {}
    if harness.venue == "polymarket":
        ours = harness.emulator.orders  # type: ignore[attr-defined]
        for trade_id, trade in harness.emulator.trades.items():  # type: ignore[attr-defined]
            if trade["taker_order_id"] in ours:
                fills[(trade["taker_order_id"], trade_id)] = VenueFill(
                    parse_micros(trade["size"]), parse_micros(trade["price"]))
            for maker in trade["maker_orders"]:
                if maker["order_id"] in ours:
                    fills[(maker["order_id"], f"{trade_id}:{maker['order_id']}")] = VenueFill(
                        parse_micros(maker["matched_amount"]), parse_micros(maker["price"]))
        return fills
    for fill in harness.emulator.fills:  # type: ignore[attr-defined]
        trade_id = fill["trade_id"] if fill["is_taker"] else f"{fill['trade_id']}:{fill['order_id']}"
        price = fill["yes_price_dollars" if fill["outcome_side"] == "yes" else "no_price_dollars"]
        fills[(fill["order_id"], trade_id)] = VenueFill(parse_micros(fill["count_fp"]),
                                                        parse_micros(price))
    return fills


def cash_violations(harness: Harness) -> list[str]:
    """The fees the gateway reported, and the cost plus fees of its fills, equal what the
    emulator's account was charged: these tests only buy, so every micro-dollar the account
    moved is a fill's cost or fee. Per order where the venue says (Kalshi), in total where
    it only keeps the account (Polymarket charges each order's fee once, on its taker
    fills)."""
    fills = [r for r in harness.reports if r.kind == FILL]
    fees = sum(r.fee_micros for r in fills)
    spent = sum(notional(r.price_micros, r.qty_micros) + r.fee_micros for r in fills)
    account = harness.emulator.account  # type: ignore[attr-defined]
    problems = []
    if (spent, fees) != (-account.cash, account.fees):
        problems.append(f"reported spend {spent} with fees {fees} != venue's "
                        f"{-account.cash} with fees {account.fees}")
    if harness.venue == "kalshi":
        for order_id, order in harness.emulator.orders.items():  # type: ignore[attr-defined]
            reported = sum(r.fee_micros for r in fills if r.venue_order_id == order_id)
            if reported != order.taker_fees + order.maker_fees:
                problems.append(f"order {order_id}: fees reported {reported} != venue's "
                                f"{order.taker_fees + order.maker_fees}")
    return problems


def money_violations(harness: Harness) -> list[str]:
    """What breaks "no order lost or duplicated, every fill counted exactly once at the
    venue's price and fee, every order's quantity accounted for", comparing the gateway's
    reports with the venue."""
    problems: list[str] = []
    reports = harness.reports
    acked: dict[str, set[str]] = {}  # client order id -> venue order ids it was ACKed as
    owners: dict[str, set[str]] = {}  # venue order id -> client order ids
    for r in reports:
        if r.kind == ACK:
            acked.setdefault(r.client_order_id, set()).add(r.venue_order_id)
            owners.setdefault(r.venue_order_id, set()).add(r.client_order_id)
    rejected = {r.client_order_id for r in reports if r.kind == REJECT}
    problems += [f"{c} is both ACKed and rejected" for c in rejected & set(acked)]
    problems += [f"intent {c} has {len(ids)} venue orders" for c, ids in acked.items()
                 if len(ids) > 1]
    problems += [f"venue order {o} is ACKed for {sorted(cs)}" for o, cs in owners.items()
                 if len(cs) > 1]
    orders = venue_orders(harness)
    problems += [f"venue order {o} is unknown to the gateway (lost)"
                 for o in sorted(set(orders) - set(owners))]
    problems += [f"ACKed order {o} is not at the venue" for o in sorted(set(owners) - set(orders))]
    counted = Counter((r.venue_order_id, r.trade_id) for r in reports if r.kind == FILL)
    problems += [f"fill {key} counted {n} times" for key, n in counted.items() if n > 1]
    reported = {(r.venue_order_id, r.trade_id): VenueFill(r.qty_micros, r.price_micros)
                for r in reports if r.kind == FILL}
    made = venue_fills(harness)
    if reported != made:
        problems.append(f"fills reported {sorted(reported.items())} != made {sorted(made.items())}")
    problems += cash_violations(harness)
    for order_id, order in orders.items():
        if sum(f.qty for (o, _), f in made.items() if o == order_id) != order.filled:
            problems.append(f"emulator: order {order_id} fills do not add up to {order.filled}")
        closed = [r.qty_micros for r in reports
                  if r.kind == CANCELED and r.venue_order_id == order_id]
        if order.resting and closed:
            problems.append(f"resting order {order_id} reported closed")
        elif len(closed) > 1:
            problems.append(f"order {order_id} closed {len(closed)} times")
        elif closed and closed[0] != order.size - order.filled:
            problems.append(f"order {order_id} closed {closed[0]}, venue left "
                            f"{order.size - order.filled} unfilled")
        elif not order.resting and not closed and order.filled < order.size:
            problems.append(f"order {order_id}: {order.size - order.filled} unfilled never closed")
    return problems


async def assert_money_invariants(harness: Harness, timeout: float = 5.0) -> None:
    """Wait for stream reports to land, then insist every invariant holds."""
    try:
        await eventually(lambda: not money_violations(harness), timeout=timeout)
    except AssertionError:
        pass
    assert money_violations(harness) == []


def coids(harness: Harness, kind: int) -> list[str]:
    return [r.client_order_id for r in harness.reports if r.kind == kind]


def resting_bid(harness: Harness, coid: str, below: int = 5) -> execution_pb2.OrderRequest:
    """A GTC bid `below` cents under the book's lowest bid: it rests, nobody hits it."""
    bids, _ = harness.engine(harness.market_ids[0]).snapshot()
    request = harness.ioc_buy_yes(coid, max(10_000, bids[-1][0] - below * 10_000), ONE)
    request.tif = GTC
    return request


def sweep(harness: Harness, coid: str, levels: int, extra: int = ONE
          ) -> execution_pb2.OrderRequest:
    """An IOC buy through the best `levels` asks, for their size plus `extra`: one trade
    (and one fill frame) per level, then `extra` left over and canceled."""
    _, asks = harness.engine(harness.market_ids[0]).snapshot()
    taken = asks[:levels]
    return harness.ioc_buy_yes(coid, taken[-1][0], sum(q for _, q in taken) + extra)


def inside_bid(harness: Harness, coid: str, qty: int) -> execution_pb2.OrderRequest:
    """A GTC bid one cent above the best bid, inside the spread: it rests at the top, so
    the next seller hits it first (a maker fill)."""
    bids, _ = harness.engine(harness.market_ids[0]).snapshot()
    request = harness.ioc_buy_yes(coid, bids[0][0] + 10_000, qty)
    request.tif = GTC
    return request


def after_last_order_post(harness: Harness) -> list[tuple[str, str]]:
    """The REST requests the venue saw after the last order post (e.g. lookups)."""
    requests = list(harness.server.requests)
    order_paths = harness.server.surface.order_paths
    last = max(i for i, (method, path) in enumerate(requests)
               if method == "POST" and path in order_paths)
    return requests[last + 1:]


def fills_of(harness: Harness, coid: str) -> list[execution_pb2.ExecutionReport]:
    return [r for r in harness.reports if r.client_order_id == coid and r.kind == FILL]


def kinds_of(harness: Harness, coid: str) -> list[int]:
    return [r.kind for r in harness.reports if r.client_order_id == coid]
