"""Seeing that a Kafka broker lost its log, from the offsets a process already handles.

Two witnesses that hold while a broker keeps its data: it acks a producer's sends on a
partition at increasing offsets, and it keeps a consumer group's commit. A broker restarted
empty breaks both, for every process at its first send or its next look at a commit,
whoever recreated the topics. Weaker witnesses were tried against tansu and refused: its
high watermark can trail records it has delivered, and the commit it answers can trail the
group's last acknowledged one by a batch, so neither proves a loss. This is pure bookkeeping, so the rule is tested on its own; `KafkaBus` acts on it.
"""

from __future__ import annotations

Partition = tuple[str, int]
"""(topic, partition)."""


class OffsetWatch:
    """The highest offset acked to this producer and the offset committed by this
    consumer, per partition; each check says whether the partition went backwards."""

    def __init__(self) -> None:
        self._acked: dict[Partition, int] = {}
        self._committed: dict[Partition, int] = {}

    def acked(self, partition: Partition, offset: int) -> int | None:
        """Record a send acked at `offset`; the higher offset acked before, if this one is
        below it (the log restarted), else None."""
        before = self._acked.get(partition, -1)
        self._acked[partition] = max(before, offset)
        return before if offset < before else None

    def commit_of(self, partition: Partition) -> int | None:
        """The offset this consumer last committed on `partition`, if any."""
        return self._committed.get(partition)

    @staticmethod
    def commit_lost(broker: int | None) -> bool:
        """Whether the broker's answer for a partition this consumer committed on (None: it
        holds no commit) says it lost the group's offsets."""
        return broker is None

    def committed(self, partition: Partition, next_offset: int) -> None:
        self._committed[partition] = max(self._committed.get(partition, 0), next_offset)

    def forget(self) -> None:
        """Start over: the broker's log begins anew."""
        self._acked.clear()
        self._committed.clear()
