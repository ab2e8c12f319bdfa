"""In-process bus for the embedded topology and tests.

Each (topic, group) pair has `partitions` FIFO queues, each drained by its own task, so
ordering holds per key and unrelated keys do not wait on each other — the same shape as a
Kafka consumer group. Messages are passed as objects, not bytes: services must treat them
as immutable. `drained()` lets a deterministic driver wait until every delivery has been
handled (the embedded market steps in lock-step with it).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping

from google.protobuf.message import Message

from arbiter.platform.bus.base import (
    Bus,
    Envelope,
    Subscription,
    partition_for,
)

log = logging.getLogger(__name__)


class MemoryBus(Bus):
    def __init__(self, partitions: int = 4, topic_prefix: str = "", max_attempts: int = 5) -> None:
        super().__init__(topic_prefix, max_attempts)
        self.partitions = partitions
        # physical topic -> one list of per-partition queues for each consumer group
        self._routes: dict[str, list[list[asyncio.Queue]]] = defaultdict(list)
        self._offsets: dict[tuple[str, int], int] = defaultdict(int)
        self._tasks: list[asyncio.Task[None]] = []
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        groups: dict[tuple[str, str], list[Subscription[Message]]] = defaultdict(list)
        for sub in self._subscriptions:
            groups[(self.topic(sub.topic), sub.group)].append(sub)
        for (topic, _group), members in groups.items():
            queues: list[asyncio.Queue] = [asyncio.Queue() for _ in range(self.partitions)]
            # Partitions are shared out among the group's members, as Kafka assigns them.
            for partition, queue in enumerate(queues):
                member = members[partition % len(members)]
                self._tasks.append(asyncio.create_task(self._drain(member, queue)))
            self._routes[topic].append(queues)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def publish(
        self,
        topic: str,
        key: str,
        message: Message,
        headers: Mapping[str, str] | None = None,
        *,
        durable: bool = False,  # in process: a publish cannot fail
    ) -> None:
        physical = self.topic(topic)
        partition = partition_for(key, self.partitions)
        offset = self._offsets[(physical, partition)]
        self._offsets[(physical, partition)] = offset + 1
        all_headers = self.outgoing_headers(f"{physical}/{partition}/{offset}", headers)
        envelope = Envelope(physical, key, message, all_headers, partition, offset)
        for queues in self._routes.get(physical, ()):
            self._pending += 1
            self._idle.clear()
            queues[partition].put_nowait(envelope)

    async def drained(self) -> None:
        """Wait until every published message has been handled by every group."""
        while self._pending:
            await self._idle.wait()
            # A handler may publish more before we get scheduled; loop until truly idle.
            await asyncio.sleep(0)

    async def _drain(self, sub: Subscription[Message], queue: asyncio.Queue) -> None:
        while True:
            envelope = await queue.get()
            try:
                await self._deliver(sub, envelope)
            finally:
                self._pending -= 1
                if not self._pending:
                    self._idle.set()
