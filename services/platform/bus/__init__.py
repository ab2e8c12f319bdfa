"""The message bus port: streams between services, keyed so one instrument or saga stays
ordered. Two implementations behave the same to services (tests/bus holds their shared
contract tests): `MemoryBus` for the embedded topology and `KafkaBus` over aiokafka.

Semantics both honour:
* `publish(topic, key, message)`: messages with the same key are delivered in order.
* `subscribe(topic, group, handler)`: every group receives every message; within a group
  each message is handled by one consumer.
* At-least-once: a handler that raises gets the message again (up to `max_attempts`, then
  it is logged and skipped), so handlers must be idempotent — `Deduplicator` helps.
"""

from __future__ import annotations

from arbiter.platform.bus.base import (
    Bus,
    BusUnavailable,
    Deduplicator,
    Envelope,
    Handler,
    Subscription,
    partition_for,
)
from arbiter.platform.bus.kafka import KafkaBus, ensure_topics
from arbiter.platform.bus.memory import MemoryBus
from arbiter.platform.bus.tansu import TansuBroker

__all__ = [
    "Bus",
    "BusUnavailable",
    "Deduplicator",
    "Envelope",
    "Handler",
    "KafkaBus",
    "MemoryBus",
    "Subscription",
    "TansuBroker",
    "ensure_topics",
    "partition_for",
]
