"""Nonce allocators: sequential (optimistic, rollback, refresh) and time-based (monotonic, drift)."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.gateways.nonces import (
    NonceDriftError,
    NonceError,
    NonceNotSeeded,
    NonceWindowExhausted,
    SequentialNonceAllocator,
    TimeNonceAllocator,
)

KEY = ("account-7", 3)


def seeded(first: int, skip_window: int = 64) -> SequentialNonceAllocator:
    alloc = SequentialNonceAllocator(skip_window)
    alloc.seed(KEY, first)
    return alloc


def test_sequential_seeds_from_venue_and_counts_up() -> None:
    alloc = seeded(100, skip_window=10)
    assert [alloc.allocate(KEY) for _ in range(3)] == [100, 101, 102]
    with pytest.raises(NonceNotSeeded, match="no nonce read from the venue"):
        alloc.allocate(("account-7", 4))
    alloc.seed(("account-7", 4), 100)
    assert alloc.allocate(("account-7", 4)) == 100  # independent stream per (account, key)
    assert alloc.seeded(KEY) and not alloc.seeded(("account-7", 5))


def test_rollback_only_latest() -> None:
    alloc = seeded(0)
    first, second = alloc.allocate(KEY), alloc.allocate(KEY)
    with pytest.raises(NonceError, match="only roll back the latest unconfirmed nonce 1, not 0"):
        alloc.rollback(KEY, first)
    alloc.rollback(KEY, second)
    assert alloc.allocate(KEY) == second
    alloc.confirm(KEY, second)
    with pytest.raises(NonceError, match="latest unconfirmed"):
        alloc.rollback(KEY, second)
    with pytest.raises(NonceError, match="never allocated"):
        alloc.confirm(KEY, 99)


def test_skip_window_and_refresh() -> None:
    alloc = seeded(0, skip_window=3)
    assert [alloc.allocate(KEY) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(NonceWindowExhausted, match="3 nonces unconfirmed"):
        alloc.allocate(KEY)
    alloc.confirm(KEY, 1)
    assert alloc.allocate(KEY) == 3
    alloc.seed(KEY, 50)  # e.g. after an invalid-nonce reply
    assert alloc.unconfirmed(KEY) == 0
    assert alloc.allocate(KEY) == 50


def test_late_confirmation_after_a_reseed_moves_past_it() -> None:
    """A request sent before a re-seed that the venue took afterwards: its nonce is used."""
    alloc = seeded(10)
    sent = [alloc.allocate(KEY) for _ in range(3)]  # 10, 11, 12 in flight
    alloc.seed(KEY, 11)  # the venue had seen 10 only when it was read
    alloc.confirm(KEY, sent[2])  # 12 lands later
    assert alloc.allocate(KEY) == 13
    with pytest.raises(NonceError, match="never allocated"):
        alloc.confirm(KEY, 14)
    with pytest.raises(NonceError, match="negative"):
        alloc.seed(KEY, -1)


def test_sequential_threads_no_duplicate_no_gap() -> None:
    alloc = seeded(1_000, skip_window=10**6)
    with ThreadPoolExecutor(max_workers=16) as pool:
        nonces = list(pool.map(lambda _: alloc.allocate(KEY), range(20_000)))
    assert sorted(nonces) == list(range(1_000, 21_000))


@given(st.lists(st.sampled_from(["alloc", "rollback", "confirm"]), max_size=60))
def test_sequential_model(ops: list[str]) -> None:
    """Against a model: outstanding nonces always form the contiguous range [base, next)."""
    alloc = seeded(0, skip_window=1_000)
    issued: list[int] = []
    for op in ops:
        if op == "alloc":
            nonce = alloc.allocate(KEY)
            assert nonce == len(issued)
            issued.append(nonce)
        elif op == "rollback" and issued:
            try:
                alloc.rollback(KEY, issued[-1])
                issued.pop()
            except NonceError:
                pass  # the latest one was already confirmed
        elif op == "confirm" and issued:
            alloc.confirm(KEY, issued[-1])


class FakeClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_time_nonces_follow_server_clock() -> None:
    clock = FakeClock(1_000_000)
    alloc = TimeNonceAllocator(lambda: 1_000_500, clock_ms=clock, warn_ms=1_000, max_ms=5_000)
    assert alloc.sync() == 500
    assert alloc.allocate() == 1_000_500
    assert alloc.allocate() == 1_000_501  # same millisecond: last + 1
    clock.now += 10
    assert alloc.allocate() == 1_000_510


def test_time_drift_warning_and_error(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(0)
    server = [2_000]
    alloc = TimeNonceAllocator(lambda: server[0], clock_ms=clock, warn_ms=1_000, max_ms=5_000)
    with caplog.at_level(logging.WARNING, logger="arbiter.gateways.nonces"):
        alloc.sync()
    assert "local clock offset from the venue 2000 ms" in caplog.text
    server[0] = 9_000
    with pytest.raises(NonceDriftError, match="offset from the venue 9000 ms exceeds the limit"):
        alloc.sync()
    assert alloc.offset_ms == 2_000  # a failed sync keeps the previous offset
    # A burst far above 1000/s runs ahead of the clock until the hard limit stops it.
    for _ in range(5_001):
        alloc.allocate()
    with pytest.raises(NonceDriftError, match="nonce lead over the venue clock 5001 ms"):
        alloc.allocate()


def test_time_threads_strictly_increasing() -> None:
    alloc = TimeNonceAllocator(lambda: 0, max_ms=10**9, warn_ms=10**9)
    per_thread: dict[int, list[int]] = {}

    def worker(i: int) -> None:
        per_thread[i] = [alloc.allocate() for _ in range(2_000)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [n for seq in per_thread.values() for n in seq]
    assert len(set(everything)) == len(everything)
    assert all(seq == sorted(seq) and len(set(seq)) == len(seq) for seq in per_thread.values())
