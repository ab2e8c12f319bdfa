"""Profit and loss as a trader reads it: realized, unrealized (marked to the book), fees.

The engine holds gross positions per outcome; a netting venue (Kalshi) holds one net side per
market and pays $1 at once for every YES contract that a NO contract cancels. So per market:

- `netted` = min(YES, NO) on a netting venue; elsewhere the complete sets merged back to
  collateral (Polymarket's CTF merge): closed pairs, paid $1 each;
- realized = netted x $1 - the closed contracts' share of cost and fees (rounded up);
- open = what is left, marked (`MARK_RULE`): a complete YES + NO set on a venue that does not
  net (Polymarket) at $1, what merging it returns; otherwise YES at the best YES bid and NO
  at 1 - the best YES ask (what selling it now would fetch), rounded down; no bid: 0;
- unrealized = mark value - the open contracts' cost and fees;
- once the market settles (one YES contract paying `p`, NO 1 - p), everything is realized:
  the netted pairs' $1 plus each side still held at its payout, less all that was spent.

realized + unrealized = cash the venue paid back + mark value - everything spent, which is the
identity a reconciliation checks against the venue's own balance and positions. Integer
micro-units throughout; the rounding is conservative (costs up, marks down).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from arbiter.core.instruments import Outcome, Venue
from arbiter.core.units import ONE_DOLLAR, QTY_SCALE, notional

MARK_RULE = ("complete YES+NO sets at $1 (mergeable); YES at the best YES bid, NO at 1 - the "
             "best YES ask; an empty side: 0")


@dataclass(frozen=True, slots=True)
class Holding:
    """Everything bought of one outcome of one market: contracts, their cost and fees."""

    venue: Venue
    market_id: str
    outcome: Outcome
    qty: int
    cost: int
    fees: int


@dataclass(frozen=True, slots=True)
class Quote:
    """The top of one market's YES book (None: that side is empty)."""

    best_bid: int | None
    best_ask: int | None

    def mark(self, outcome: Outcome) -> int:
        """The price one contract of `outcome` is marked at (`MARK_RULE`)."""
        if outcome is Outcome.YES:
            return self.best_bid or 0
        return 0 if self.best_ask is None else ONE_DOLLAR - self.best_ask


@dataclass(frozen=True, slots=True)
class MarketPnl:
    venue: Venue
    market_id: str
    open: dict[Outcome, int]  # contracts still held, per outcome (one side when netted)
    netted: int  # contracts closed against the other outcome (netted, or merged)
    spent: int  # cost + fees of everything bought
    fees: int
    realized: int
    mark_value: int
    unrealized: int


def _share(amount: int, part: int, whole: int) -> int:
    """`amount` x part / whole, rounded up (a cost allocated to `part` of `whole`)."""
    return -(-amount * part // whole) if whole else 0


def market_pnl(yes: Holding | None, no: Holding | None, quote: Quote,
               netting: bool, settled: int | None = None, merged: int = 0) -> MarketPnl:
    """One market's PnL from the engine's gross holdings of each outcome; `settled`: what
    one YES contract paid at settlement (None while the market is open); `merged`: the
    complete sets merged back to $1 each on a venue that does not net."""
    held = {o: h for o, h in ((Outcome.YES, yes), (Outcome.NO, no)) if h is not None}
    first = next(iter(held.values()))
    qty = {o: held[o].qty if o in held else 0 for o in Outcome}
    spent = {o: held[o].cost + held[o].fees if o in held else 0 for o in Outcome}
    netted = min(qty.values()) if netting else min(merged, *qty.values())
    closed_cost = sum(_share(spent[o], netted, qty[o]) for o in Outcome)
    open_qty = {o: qty[o] - netted for o in Outcome if qty[o] - netted}
    sets = min(open_qty.get(o, 0) for o in Outcome)  # 0 once netted
    mark_value = sets * ONE_DOLLAR // QTY_SCALE + sum(
        (q - sets) * quote.mark(o) // QTY_SCALE for o, q in open_qty.items())
    total = sum(spent.values())
    if settled is not None:  # paid out as the venues pay it: each side's value, rounded up
        pays = {Outcome.YES: settled, Outcome.NO: ONE_DOLLAR - settled}
        paid = netted * ONE_DOLLAR // QTY_SCALE + sum(
            notional(pays[o], q) for o, q in open_qty.items())
        return MarketPnl(first.venue, first.market_id, {}, netted, total,
                         sum(h.fees for h in held.values()), paid - total, 0, 0)
    realized = netted * ONE_DOLLAR // QTY_SCALE - closed_cost
    return MarketPnl(
        first.venue, first.market_id, open_qty, netted, total,
        sum(h.fees for h in held.values()), realized, mark_value,
        mark_value - (total - closed_cost))


def portfolio_pnl(holdings: Iterable[Holding], quotes: Mapping[tuple[Venue, str], Quote],
                  netting: frozenset[Venue],
                  settled: Mapping[tuple[Venue, str], int] | None = None,
                  merged: Mapping[tuple[Venue, str], int] | None = None) -> list[MarketPnl]:
    """Every held market's PnL, sorted by venue and market; a market without a quote is
    marked as an empty book (open contracts at 0); `settled`: the settled markets' YES
    payouts; `merged`: complete sets merged per market."""
    by_market: dict[tuple[Venue, str], dict[Outcome, Holding]] = {}
    for holding in holdings:
        if holding.qty:
            sides = by_market.setdefault((holding.venue, holding.market_id), {})
            if holding.outcome in sides:
                raise ValueError(f"{holding.venue}:{holding.market_id} "
                                 f"{holding.outcome.name} is held twice")
            sides[holding.outcome] = holding
    return [market_pnl(sides.get(Outcome.YES), sides.get(Outcome.NO),
                       quotes.get(key, Quote(None, None)), key[0] in netting,
                       (settled or {}).get(key), (merged or {}).get(key, 0))
            for key, sides in sorted(by_market.items())]
