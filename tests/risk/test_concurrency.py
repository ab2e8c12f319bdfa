"""Check-and-consume is one atomic step: many threads or tasks on one state never overspend
the order budget or the saga slots.

The budget and the ledger are swapped for versions that give the GIL away between reading
and writing, so code without the state's lock really does interleave there (and these
tests fail, as they did when the lock was taken out).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.risk import state as risk_state
from arbiter.risk.budget import TokenBucket
from arbiter.risk.gates import Gate
from arbiter.risk.ledger import Ledger
from arbiter.risk.state import RiskState

from .helpers import legs, state


class YieldingBucket(TokenBucket):
    @property
    def _level(self) -> int:
        level = self.__dict__["level"]
        time.sleep(0)  # between reading the level and spending it
        return level

    @_level.setter
    def _level(self, value: int) -> None:
        self.__dict__["level"] = value


class YieldingLedger(Ledger):
    def reserve(self, *args, **kwargs) -> None:
        time.sleep(0)  # between the slot/position checks and the reservation
        super().reserve(*args, **kwargs)


@pytest.fixture(autouse=True)
def _yielding(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(risk_state, "TokenBucket", YieldingBucket)
    monkeypatch.setattr(risk_state, "Ledger", YieldingLedger)
    yield


def _hammer(risk: RiskState, callers: int, per_caller: int) -> list[str]:
    barrier = threading.Barrier(callers)
    gates: list[str] = []

    def run(worker: int) -> None:
        barrier.wait()
        for n in range(per_caller):
            saga = f"w{worker}-{n}"
            gates.append(risk.check(saga, saga, legs()).gate or "approved")

    threads = [threading.Thread(target=run, args=(w,)) for w in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return gates


@settings(max_examples=15, deadline=None)
@given(callers=st.integers(2, 12), sagas_that_fit=st.integers(1, 40))
def test_threads_never_overspend_the_order_budget(callers: int, sagas_that_fit: int) -> None:
    risk = state(orders_per_second=1, order_burst=2 * sagas_that_fit)
    gates = _hammer(risk, callers, per_caller=8)
    approved = min(sagas_that_fit, callers * 8)
    assert gates.count("approved") == approved
    assert gates.count(Gate.ORDER_RATE) == callers * 8 - approved
    assert risk.ledger.open_sagas == approved


def test_threads_never_take_more_saga_slots_than_exist() -> None:
    risk = state(max_open_sagas=7)
    gates = _hammer(risk, callers=8, per_caller=10)
    assert gates.count("approved") == 7 and risk.ledger.open_sagas == 7
    assert gates.count(Gate.MAX_OPEN_SAGAS) == 73


async def test_tasks_on_threads_fit_exactly_the_position_limit() -> None:
    risk = state(max_position_per_market="100")  # legs() are 10 each

    async def one(n: int) -> int:
        return (await asyncio.to_thread(risk.check, f"s{n}", f"p{n}", legs())).qty

    qtys = await asyncio.gather(*(one(n) for n in range(40)))
    assert sum(qtys) == 100 * 1_000_000
    assert risk.ledger.committed(legs()[0].key) == 100 * 1_000_000
