"""Bus interface types shared by the in-memory and Kafka implementations."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from google.protobuf.message import Message

from arbiter.platform.telemetry import metrics, tracing

M = TypeVar("M", bound=Message)

log = logging.getLogger(__name__)

HEADER_MESSAGE_ID = "arbiter-msg-id"
HEADER_TENANT = "arbiter-tenant"
# Wall time (µs) of publishing: the consumer's hop latency starts here.
HEADER_PUBLISHED = "arbiter-published-micros"


class BusUnavailable(ConnectionError):
    """The bus cannot be reached at start (no broker at the bootstrap address); the message
    names the address and the client's reason."""


@dataclass(frozen=True, slots=True)
class Envelope(Generic[M]):
    """A delivered message: decoded value plus its routing metadata."""

    topic: str
    key: str
    value: M
    headers: Mapping[str, str] = field(default_factory=dict)
    partition: int = 0
    offset: int = 0

    @property
    def message_id(self) -> str:
        return self.headers.get(HEADER_MESSAGE_ID, f"{self.topic}/{self.partition}/{self.offset}")

    @property
    def published_micros(self) -> int:
        """When the producer published it (wall µs), 0 if unknown."""
        return int(self.headers.get(HEADER_PUBLISHED, 0))


Handler = Callable[[Envelope[M]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subscription(Generic[M]):
    topic: str
    group: str
    message_type: type[M]
    handler: Handler[M]


def service_of(group: str) -> str:
    """Consumer groups are named `<service>` or `<service>-<tenant>`."""
    return group.split("-", 1)[0]


def partition_for(key: str, partitions: int) -> int:
    """Stable key -> partition mapping (same key, same partition, same order)."""
    return zlib.crc32(key.encode()) % partitions


class Bus(abc.ABC):
    """Publish/subscribe with keyed ordering, consumer groups and at-least-once delivery."""

    def __init__(self, topic_prefix: str = "", max_attempts: int = 5) -> None:
        self.topic_prefix = topic_prefix
        self.max_attempts = max_attempts
        self._subscriptions: list[Subscription[Message]] = []
        self._sequence = 0

    def topic(self, name: str) -> str:
        """The physical topic name (tenants get their own prefix for execution streams)."""
        return f"{self.topic_prefix}{name}"

    def subscribe(
        self, topic: str, group: str, message_type: type[M], handler: Handler[M]
    ) -> None:
        """Register a handler; must be called before `start`."""
        self._subscriptions.append(Subscription(topic, group, message_type, handler))  # type: ignore[arg-type]

    def next_message_id(self, origin: str) -> str:
        """A unique, deterministic id for de-duplication on the consumer side."""
        self._sequence += 1
        return f"{origin}-{self._sequence}"

    def outgoing_headers(
        self, message_id: str, headers: Mapping[str, str] | None
    ) -> dict[str, str]:
        """The headers a published message carries: id, publish time, trace context."""
        out = {HEADER_MESSAGE_ID: message_id, HEADER_PUBLISHED: str(time.time_ns() // 1000)}
        if headers:
            out.update(headers)
        tracing.inject(out)
        return out

    async def _deliver(self, sub: Subscription[Message], envelope: Envelope[Message]) -> None:
        """Handle one message; traced, it runs in a consumer span whose parent is the
        publisher's trace context (the check keeps the untraced path allocation-free)."""
        if not tracing.enabled():
            await self._attempt(sub, envelope)
            return
        with tracing.consumer_span(
            f"{sub.group} process {sub.topic}", service_of(sub.group), envelope.headers,
            {"messaging.destination.name": envelope.topic,
             "messaging.consumer.group.name": sub.group},
        ):
            await self._attempt(sub, envelope)

    async def _attempt(self, sub: Subscription[Message], envelope: Envelope[Message]) -> None:
        """At-least-once: retry a failing handler in place, then log and skip the message."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                await sub.handler(envelope)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "handler of group %s failed on %s (attempt %d/%d)",
                    sub.group, envelope.message_id, attempt, self.max_attempts,
                )
        metrics.BUS_DROPPED.labels(group=sub.group).inc()
        log.error("giving up on %s for group %s", envelope.message_id, sub.group)

    @abc.abstractmethod
    async def drained(self) -> None:
        """Wait until every message published so far has been handled by every group."""

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def publish(
        self,
        topic: str,
        key: str,
        message: Message,
        headers: Mapping[str, str] | None = None,
        *,
        durable: bool = False,
    ) -> None:
        """Publish under `key` (one key's messages stay in order). `durable`: the message
        has no other source to be rebuilt from (an execution report), so a bus whose sends
        can fail sends it again until the broker takes it."""


class Deduplicator:
    """Remembers the last `capacity` message ids so a redelivery is handled once."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, message_id: str) -> bool:
        """True the first time an id is seen; False for every repeat."""
        if message_id in self._seen:
            self._seen.move_to_end(message_id)
            return False
        self._seen[message_id] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
