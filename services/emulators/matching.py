"""Price-time priority matching engine for one market's YES-referenced book.

Venue front-ends translate their wire orders into bids/asks on this book (buying NO at q is
an ask at 1 - q) and translate trades back. Integer micro-units throughout; trade and order
ids come from counters so that a seeded run is reproducible.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class BookSide(enum.IntEnum):
    BID = 1
    ASK = 2


class Tif(enum.Enum):
    GTC = "GTC"
    IOC = "IOC"  # fill what crosses now, cancel the rest (Polymarket FAK)
    FOK = "FOK"


@dataclass(slots=True)
class RestingOrder:
    order_id: str
    owner: str
    side: BookSide
    price: int
    qty: int  # remaining
    client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: str
    taker_order_id: str
    maker_order_id: str
    taker_owner: str
    maker_owner: str
    taker_side: BookSide
    price: int
    qty: int


@dataclass(slots=True)
class SubmitResult:
    order_id: str
    trades: list[Trade] = field(default_factory=list)
    resting: int = 0
    canceled: int = 0
    rejected: str = ""
    would_cross: bool = False  # a post-only order refused because it would take liquidity

    @property
    def filled(self) -> int:
        return sum(t.qty for t in self.trades)


class MatchingEngine:
    def __init__(self, market_id: str, tick: int) -> None:
        self.market_id = market_id
        self.tick = tick
        self._levels: dict[BookSide, dict[int, deque[RestingOrder]]] = {
            BookSide.BID: {},
            BookSide.ASK: {},
        }
        self.orders: dict[str, RestingOrder] = {}
        self._changed: set[tuple[BookSide, int]] = set()
        self._order_seq = 0
        self._trade_seq = 0
        self.last_price = 0  # of the last trade, 0 before any (the ticker channel's)
        self.volume = 0  # contracts traded, all owners

    def _next_order_id(self) -> str:
        self._order_seq += 1
        return f"{self.market_id}-O{self._order_seq}"

    def level_total(self, side: BookSide, price: int) -> int:
        return sum(o.qty for o in self._levels[side].get(price, ()))

    def _crossing_prices(self, side: BookSide, price: int) -> list[int]:
        if side is BookSide.BID:
            return sorted(p for p in self._levels[BookSide.ASK] if p <= price)
        return sorted((p for p in self._levels[BookSide.BID] if p >= price), reverse=True)

    def submit(
        self,
        owner: str,
        side: BookSide,
        price: int,
        qty: int,
        tif: Tif = Tif.GTC,
        client_order_id: str = "",
        post_only: bool = False,
        order_id: str = "",
    ) -> SubmitResult:
        """Match an incoming order; rest (GTC) or cancel (IOC/FOK) what is left. A post-only
        order that would match is refused whole: it may only add liquidity. `order_id`
        re-enters an order the venue already numbered (an amend that loses its place)."""
        order_id = order_id or self._next_order_id()
        if qty <= 0:
            return SubmitResult(order_id, rejected=f"size {qty} must be positive")
        if price % self.tick or not 0 < price < 1_000_000:
            return SubmitResult(order_id, rejected=f"price {price} breaks the {self.tick} tick")
        opposite = BookSide.ASK if side is BookSide.BID else BookSide.BID
        crossing = self._crossing_prices(side, price)
        if post_only and crossing:
            return SubmitResult(order_id, rejected="post-only order crosses the book",
                                would_cross=True)
        if tif is Tif.FOK:
            available = sum(self.level_total(opposite, p) for p in crossing)
            if available < qty:
                return SubmitResult(order_id, canceled=qty)
        result = SubmitResult(order_id)
        left = qty
        for level_price in crossing:
            queue = self._levels[opposite][level_price]
            while queue and left:
                maker = queue[0]
                part = min(maker.qty, left)
                self._trade_seq += 1
                result.trades.append(
                    Trade(
                        trade_id=f"{self.market_id}-T{self._trade_seq}",
                        taker_order_id=order_id,
                        maker_order_id=maker.order_id,
                        taker_owner=owner,
                        maker_owner=maker.owner,
                        taker_side=side,
                        price=level_price,
                        qty=part,
                    )
                )
                maker.qty -= part
                left -= part
                self.last_price, self.volume = level_price, self.volume + part
                if not maker.qty:
                    queue.popleft()
                    del self.orders[maker.order_id]
            self._changed.add((opposite, level_price))
            if not queue:
                del self._levels[opposite][level_price]
            if not left:
                break
        if left and tif is Tif.GTC:
            resting = RestingOrder(order_id, owner, side, price, left, client_order_id)
            self._levels[side].setdefault(price, deque()).append(resting)
            self.orders[order_id] = resting
            self._changed.add((side, price))
            result.resting = left
        else:
            result.canceled = left
        return result

    def cancel(self, order_id: str) -> RestingOrder | None:
        """Remove a resting order; None if it is unknown or already done."""
        order = self.orders.pop(order_id, None)
        if order is None:
            return None
        queue = self._levels[order.side][order.price]
        queue.remove(order)
        if not queue:
            del self._levels[order.side][order.price]
        self._changed.add((order.side, order.price))
        return order

    def reduce(self, order_id: str, qty: int) -> RestingOrder | None:
        """Shrink a resting order to `qty` (0 < qty <= its remaining) where it stands in the
        queue: a decrease keeps time priority. None if it is unknown or already done."""
        order = self.orders.get(order_id)
        if order is None:
            return None
        if not 0 < qty <= order.qty:
            raise ValueError(f"order {order_id}: {qty} is not a reduction of {order.qty}")
        order.qty = qty
        self._changed.add((order.side, order.price))
        return order

    def queue_ahead(self, order_id: str) -> int:
        """Quantity resting before a resting order at its price: what must trade before it
        fills (price-time priority). KeyError names an order that is not resting."""
        order = self.orders[order_id]
        ahead = 0
        for other in self._levels[order.side][order.price]:
            if other is order:
                return ahead
            ahead += other.qty
        raise KeyError(order_id)

    def cancel_owner(self, owner: str) -> int:
        """Cancel every resting order of `owner` (a liquidity provider re-quoting)."""
        ids = [oid for oid, o in self.orders.items() if o.owner == owner]
        for oid in ids:
            self.cancel(oid)
        return len(ids)

    def take_changes(self) -> list[tuple[BookSide, int, int]]:
        """Levels touched since the last call with their new totals, in a stable order."""
        changes = [(side, price, self.level_total(side, price)) for side, price in self._changed]
        self._changed.clear()
        return sorted(changes)

    def snapshot(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids best first, asks best first) as (price, total)."""
        bids = sorted(self._levels[BookSide.BID], reverse=True)
        asks = sorted(self._levels[BookSide.ASK])
        return (
            [(p, self.level_total(BookSide.BID, p)) for p in bids],
            [(p, self.level_total(BookSide.ASK, p)) for p in asks],
        )
