"""Capital per venue: what each venue says the tenant can spend, and what is spoken for.

A venue's balance is read now and then (at start, after our fills, on a schedule); between
two reads our own buys are subtracted as they fill, so a saga can never be funded twice by a
stale read. Every race between a read and a fill errs on the safe side: a fill the read
already counted and we subtract again makes us poorer for a moment, never richer. Sells
credit nothing until the venue's next read says so.

What open sagas may still buy is reserved by the ledger (`Ledger.reserved_funds`), at each
leg's worst cost per contract; `Funds` combines the two with the tenant's minimum free
balance. Pure and synchronous: `RiskState` holds the lock and reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from arbiter.core.instruments import Venue


@dataclass(frozen=True, slots=True)
class FundsView:
    """One venue's capital as risk sees it, micro-dollars."""

    venue: Venue
    spendable: int  # as read, less our buys since the read
    reserved: int  # open sagas' unfilled legs on the venue
    minimum: int  # what must stay free

    @property
    def free(self) -> int:
        """What a new saga may still spend on the venue (negative: overcommitted)."""
        return self.spendable - self.reserved - self.minimum

    @property
    def low(self) -> bool:
        return self.spendable < self.minimum


class Funds:
    def __init__(self, venues: tuple[Venue, ...]) -> None:
        self._read: dict[Venue, int] = {}  # spendable at the last read; absent: never read
        self._spent: dict[Venue, int] = dict.fromkeys(venues, 0)  # our buys since that read

    def known(self, venue: Venue) -> bool:
        return venue in self._read

    def read(self, venue: Venue, spendable: int) -> None:
        """A fresh balance from the venue: it already reflects every fill it has settled."""
        self._read[venue] = spendable
        self._spent[venue] = 0

    def spend(self, venue: Venue, cost: int) -> None:
        """One of our buys filled for `cost` micro-dollars (price and fee)."""
        if venue in self._spent:
            self._spent[venue] += cost

    def spendable(self, venue: Venue) -> int | None:
        """What the venue last said less what we bought since; None before the first read."""
        read = self._read.get(venue)
        return None if read is None else read - self._spent[venue]
