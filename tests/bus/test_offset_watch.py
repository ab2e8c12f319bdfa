"""`OffsetWatch`: offsets that only grow are a broker keeping its log; one that goes back
below what was acked or committed is a broker that lost it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from arbiter.platform.bus.offsets import OffsetWatch

P = ("md.books", 0)
offsets = st.lists(st.integers(0, 10_000), min_size=1, max_size=50)


@given(offsets)
def test_acks_that_never_go_back_are_never_a_loss(steps: list[int]) -> None:
    watch = OffsetWatch()
    assert all(watch.acked(P, offset) is None for offset in sorted(steps))


@given(offsets, st.integers(1, 10_000))
def test_an_ack_below_one_before_is_a_loss_naming_the_highest(steps: list[int],
                                                              drop: int) -> None:
    watch = OffsetWatch()
    for offset in sorted(steps):
        watch.acked(P, offset)
    high = max(steps)
    if drop <= high:
        assert watch.acked(P, high - drop) == high
    assert watch.acked(("md.books", 1), 0) is None  # another partition has its own log


def test_a_commit_the_broker_no_longer_holds_is_a_loss() -> None:
    watch = OffsetWatch()
    assert watch.commit_of(P) is None
    watch.committed(P, 120)
    watch.committed(P, 100)  # a commit never moves back
    assert watch.commit_of(P) == 120
    assert not watch.commit_lost(120) and not watch.commit_lost(0)
    assert watch.commit_lost(None)


def test_forget_starts_every_partition_over() -> None:
    watch = OffsetWatch()
    watch.acked(P, 500)
    watch.committed(P, 400)
    watch.forget()
    assert watch.acked(P, 0) is None and watch.commit_of(P) is None
