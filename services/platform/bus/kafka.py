"""Kafka bus over aiokafka: MemoryBus semantics for the distributed topology.

Consumer fetch wait (`fetch_max_wait_ms`, default 10 ms)
---------------------------------------------------------
A Kafka consumer long-polls: each fetch asks the broker to hold its reply until data
arrives or `fetch_max_wait_ms` passes. Real Kafka replies as soon as data arrives, so there
the setting only bounds idle polling and can be raised (100-500 ms) to cut empty fetches
without costing latency. The tansu broker we run in tests and local runs (no Docker here)
replies only when the wait expires, so on tansu one-hop latency tracks the setting:
aiokafka's 500 ms default gives ~250 ms per hop, 10 ms gives p50 ~9 ms / p99 ~21 ms. Below
~2 ms a tansu consumer can stall until the next message arrives, and every idle consumer
sends hundreds of fetches a second. Keep it at 5-10 ms on tansu and state it in config.

Group join time: tansu holds a consumer group's first join for about half of
`session_timeout_ms` (~5 s at the 10 s default, ~1 s at 2 s). Real Kafka rejects session
timeouts under 6 s by default, so the default stays 10 s; tests and local tansu runs pass
2 s. `start()` returns only once every consumer has its partitions, so nothing published
after it is missed; new groups also start from the earliest offset.

Broker faults: a probe asks the broker for its metadata every `probe_interval_s`. While it
fails the bus is down (`arbiter_bus_connected` 0); down longer than `max_outage_s`, `on_outage` is
called once per outage (the topology latches the HardStop). A broker that answers again
without topics this process uses has lost its data (restarted empty): the topics are
created again, the `on_data_loss` handlers are called (the topology latches for a
reconciliation, gateways ask their venues for fresh books, the saga looks its open orders
up) and `arbiter_bus_data_loss_total` counts it. Each service in the process adds its own
handlers with `watch`. Topics may be recreated by another process first, so a process also
sees the loss in its own offsets (`offsets.OffsetWatch`): a send acked below an offset acked
before, or a fetch below the group's commit. aiokafka logs every failed connection attempt,
hundreds a second while a broker is gone: those lines are rate limited per message.

Delivery: values are protobuf bytes, keys UTF-8 (the default murmur2 partitioner keeps a key
on one partition, hence in order), headers carry `arbiter-msg-id`, the publish time and the
W3C `traceparent`. Each consumer handles its partitions concurrently, each partition in
order; a failing handler is retried in place up to `max_attempts`, then logged and skipped,
and offsets are committed after each partition's batch is handled (at-least-once: a crash
or rebalance mid-batch redelivers). Consumer lag is exported per group after each batch.

Durable sends: most messages need no retry of their own (a consumer's input is redelivered
until its sends are acked; book events are rebuilt from the venues). A message published
with `durable=True` has no such source: a gateway's execution report is the venue's only
word on a fill. One whose send fails is sent again, with back-off, under its original
message id (a copy that did land is dropped by the consumers' de-duplication), and every
durable message published while earlier ones wait queues behind them, so a saga's reports
keep their order. Resends wait for the probe to see the broker back with every topic this
process uses (made again first if it lost them). `arbiter_bus_resends_total` counts the retries,
`arbiter_bus_durable_pending_messages` what waits; what still waits when the bus stops (after
`stop_grace`) is logged as lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError, KafkaError, TopicAlreadyExistsError, for_code
from google.protobuf.message import DecodeError, Message

from arbiter.platform.bus.base import Bus, BusUnavailable, Envelope, Subscription
from arbiter.platform.bus.offsets import OffsetWatch
from arbiter.platform.telemetry import metrics

log = logging.getLogger(__name__)

RESEND_BACKOFF_S = (0.05, 0.2, 0.5, 1.0, 2.0)
"""Waits between a durable message's send attempts; the last repeats until it is acked."""

OutageHandler = Callable[[str], Awaitable[None]]
"""Told why the broker is out of reach (an outage) or what it lost (a data loss)."""


class RateLimitedLog(logging.Filter):
    """Lets one record per message template through every `window_s`, saying how many
    like it were held back: a dead broker must not bury every other log line."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # template -> (last passed, held back)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not self._limited(record):
            return True
        key = str(record.msg)
        now = self._clock()
        passed, held = self._seen.get(key, (-self.window_s, 0))
        if now - passed < self.window_s:
            self._seen[key] = (passed, held + 1)
            return False
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} like it in the last {self.window_s:.0f}s held back)"
        return True

    @staticmethod
    def _limited(record: logging.LogRecord) -> bool:
        """aiokafka's own records, and asyncio's "exception was never retrieved" for the
        futures aiokafka drops when a broker is gone; everything else passes."""
        if record.name.startswith("aiokafka"):
            return True
        text = f"{record.msg} {record.exc_info or ''}"
        return record.name == "asyncio" and any(
            mark in text for mark in ("aiokafka.errors", "NodeNotReadyError",
                                      "KafkaConnectionError"))


_AIOKAFKA_FILTER = RateLimitedLog()


def _limit_aiokafka_logs() -> None:
    """A logger's filter sees only its own records, not its children's: every aiokafka
    module logger (all made when aiokafka was imported) gets the rate limit."""
    names = ["asyncio"] + [name for name in logging.root.manager.loggerDict
                           if name == "aiokafka" or name.startswith("aiokafka.")]
    for name in names:
        logger = logging.getLogger(name)
        if _AIOKAFKA_FILTER not in logger.filters:
            logger.addFilter(_AIOKAFKA_FILTER)


@dataclass(slots=True)
class BusHealth:
    """What the probe last saw of the broker."""

    up: bool = True
    down_since: float = 0.0  # monotonic, while down
    reason: str = ""
    outages: int = 0  # outages longer than max_outage_s
    data_losses: int = 0

    def outage_s(self, now: float) -> float:
        return 0.0 if self.up else now - self.down_since


async def ensure_topics(
    bootstrap: str, topics: Iterable[str], partitions: int, replication_factor: int = 1
) -> None:
    """Create missing topics with an explicit partition count; existing ones are kept.

    Brokers that auto-create topics pick their own partition count (tansu: 4; Kafka:
    `num.partitions`, 1 by default), which silently caps a consumer group's parallelism.
    """
    wanted = sorted(set(topics))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(topic, partitions, replication_factor) for topic in wanted]
        )
    finally:
        await admin.close()
    for topic, code, *detail in response.topic_errors:
        if code and code != TopicAlreadyExistsError.errno:
            raise for_code(code)(f"cannot create topic {topic!r}: {detail[0] if detail else ''}")


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """A durable message as first published: resent byte for byte, same message id."""

    topic: str
    value: bytes
    key: bytes
    headers: list[tuple[str, bytes]]


class _Member(ConsumerRebalanceListener):
    """One consumer-group member: its consumer and the subscription for each of its topics."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.subscriptions: dict[str, Subscription[Message]] = {}  # physical topic -> sub
        self.consumer: AIOKafkaConsumer | None = None
        self.task: asyncio.Task[None] | None = None
        self.assigned = asyncio.Event()
        self.busy = False  # handling a batch: stop() lets it finish instead of cancelling
        self.lag: dict[TopicPartition, int] = {}  # behind the fetched high watermark
        self.lag_gauge = metrics.CONSUMER_LAG.labels(group=group)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self.lag.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned.set()  # also on an empty assignment: the join is what we wait for


class KafkaBus(Bus):
    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str = "",
        max_attempts: int = 5,
        partitions: int = 4,
        replication_factor: int = 1,
        fetch_max_wait_ms: int = 10,
        session_timeout_ms: int = 10_000,
        assign_timeout: float = 30.0,
        stop_grace: float = 10.0,
        client_id: str = "arbiter",
        probe_interval_s: float = 1.0,
        max_outage_s: float = 10.0,
        request_timeout_ms: int = 10_000,
        loss_window_s: float = 30.0,
        on_outage: OutageHandler | None = None,
        on_data_loss: OutageHandler | None = None,
    ) -> None:
        super().__init__(topic_prefix, max_attempts)
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.session_timeout_ms = session_timeout_ms
        self.assign_timeout = assign_timeout
        self.stop_grace = stop_grace
        self.client_id = client_id
        # Message ids must stay unique across processes and restarts, not only in this one.
        self._origin = f"{client_id}-{uuid.uuid4().hex[:12]}"
        self._producer: AIOKafkaProducer | None = None
        self._members: list[_Member] = []
        self._known_topics: set[str] = set()
        self._unacked: set[asyncio.Future[object]] = set()
        self._resends: deque[_Outgoing] = deque()
        self._resender: asyncio.Task[None] | None = None
        self._topics_whole = asyncio.Event()  # the probe saw every topic we use: resend
        self._stopping = False
        self.probe_interval_s = probe_interval_s
        self.max_outage_s = max_outage_s
        self.request_timeout_ms = request_timeout_ms
        self.loss_window_s = loss_window_s
        self._offsets = OffsetWatch()
        self._loss_reported_at: float | None = None
        self._log_epoch = 0  # moves on each data loss: older fetches are not committed
        self._fault_tasks: set[asyncio.Task[None]] = set()
        self._on_outage: list[OutageHandler] = []
        self._on_data_loss: list[OutageHandler] = []
        self.watch(on_outage, on_data_loss)
        self.health = BusHealth()
        self._probe_task: asyncio.Task[None] | None = None
        self._outage_reported = False
        _limit_aiokafka_logs()

    def watch(self, on_outage: OutageHandler | None = None,
              on_data_loss: OutageHandler | None = None) -> None:
        """Add handlers told of an outage longer than `max_outage_s` or of a data loss; each
        is called in the order added, and one failing does not keep the next from running."""
        if on_outage is not None:
            self._on_outage.append(on_outage)
        if on_data_loss is not None:
            self._on_data_loss.append(on_data_loss)

    def group_id(self, group: str) -> str:
        """Consumer groups carry the tenant prefix too: two tenants' `saga` groups must not
        be one Kafka group (shared rebalances, mixed offsets, no per-tenant group ACLs)."""
        return f"{self.topic_prefix}{group}"

    async def start(self) -> None:
        """Create topics, start the producer and consumers; return once all are assigned."""
        self._stopping = False
        self._members = self._plan_members()
        try:
            await self._ensure({t for m in self._members for t in m.subscriptions})
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all",
                request_timeout_ms=self.request_timeout_ms,
            )
            await self._producer.start()
            for member in self._members:
                member.consumer = AIOKafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
                    group_id=self.group_id(member.group),
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    fetch_max_wait_ms=self.fetch_max_wait_ms,
                    session_timeout_ms=self.session_timeout_ms,
                    heartbeat_interval_ms=self.session_timeout_ms // 3,
                )
                member.consumer.subscribe(list(member.subscriptions), listener=member)
            # Concurrently: members joining one by one would each trigger a rebalance.
            await asyncio.gather(*(m.consumer.start() for m in self._members if m.consumer))
            for member in self._members:
                member.task = asyncio.create_task(
                    self._consume(member), name=f"kafka-consume-{member.group}"
                )
            await self.wait_until_assigned()
            self._topics_whole.set()
            metrics.BUS_CONNECTED.set(1)
            self._probe_task = asyncio.create_task(self._probe_forever(), name="kafka-probe")
        except KafkaError as exc:
            await self.stop()
            raise BusUnavailable(f"Kafka broker at {self.bootstrap} unreachable: {exc}") from exc
        except BaseException:
            await self.stop()
            raise

    async def wait_until_assigned(self) -> None:
        """Wait until every consumer has joined its group and received its partitions."""
        try:
            await asyncio.wait_for(
                asyncio.gather(*(m.assigned.wait() for m in self._members)),
                self.assign_timeout,
            )
        except TimeoutError:
            waiting = sorted({m.group for m in self._members if not m.assigned.is_set()})
            raise TimeoutError(
                f"consumer groups {waiting} got no partitions from {self.bootstrap} "
                f"within {self.assign_timeout:.0f}s"
            ) from None

    async def stop(self) -> None:
        """Let batches in progress finish (up to `stop_grace`), leave groups, flush sends."""
        self._stopping = True
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
            self._probe_task = None
        for task in list(self._fault_tasks):
            task.cancel()
        await asyncio.gather(*self._fault_tasks, return_exceptions=True)
        tasks = [m.task for m in self._members if m.task is not None]
        for member in self._members:
            if member.task is not None and not member.busy:
                member.task.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.stop_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._finish_resends()
        # a broker that is gone cannot take a group leave or a flush: bounded either way
        clients = [m.consumer.stop() for m in self._members if m.consumer is not None]
        if self._producer is not None:
            clients.append(self._producer.stop())
        if clients:
            closing = asyncio.gather(*clients, return_exceptions=True)
            try:
                await asyncio.wait_for(closing, self.stop_grace)
            except TimeoutError:
                log.warning("Kafka clients did not close within %.0fs (broker gone?); "
                            "unsent messages are dropped", self.stop_grace)
        self._producer = None
        self._members = []

    async def publish(
        self,
        topic: str,
        key: str,
        message: Message,
        headers: Mapping[str, str] | None = None,
        *,
        durable: bool = False,
    ) -> None:
        """Queue the message with the producer (acks=all) without waiting for its ack.

        Waiting per message would cap a service at one broker round trip per message. A
        consumer commits its offsets only after every send its handlers made is acked
        (`_acked`), so at-least-once holds: a lost send means the input is redelivered. A
        `durable` message is sent again until acked (see the module's docstring).
        """
        if self._producer is None:
            raise RuntimeError("KafkaBus.publish() called before start()")
        physical = self.topic(topic)
        all_headers = self.outgoing_headers(self.next_message_id(self._origin), headers)
        outgoing = _Outgoing(physical, message.SerializeToString(), key.encode(),
                             [(name, value.encode()) for name, value in all_headers.items()])
        if durable and (self._resends or not self._topics_whole.is_set()):
            # behind the ones waiting (a saga's reports in order), or until the broker is back
            self._resend(outgoing)
            return
        try:
            sent = await self._send(outgoing)
        except (KafkaError, OSError):
            if not durable:
                raise
            metrics.BUS_SEND_FAILURES.inc()
            self._resend(outgoing)
            return
        self._unacked.add(sent)
        sent.add_done_callback(self._settled)
        if durable:
            sent.add_done_callback(lambda done: self._resend_failed(done, outgoing))

    async def _send(self, outgoing: _Outgoing) -> asyncio.Future[Any]:
        """Hand one message to the producer; the future settles with the broker's ack."""
        assert self._producer is not None
        if outgoing.topic not in self._known_topics:
            await self._ensure([outgoing.topic])
        return await self._producer.send(outgoing.topic, outgoing.value, key=outgoing.key,
                                         headers=outgoing.headers)

    def _settled(self, sent: asyncio.Future[object]) -> None:
        """A send is acked or failed; a failure is counted here, so one nobody waits for (a
        gateway's book event) is not an unretrieved exception, and raised again to a consumer
        waiting in `_acked` (its input is redelivered)."""
        self._unacked.discard(sent)
        if sent.cancelled():
            return
        if sent.exception() is not None:
            metrics.BUS_SEND_FAILURES.inc()
            return
        self._acked_at(sent.result())

    def _acked_at(self, meta: Any) -> None:
        """Where the broker put an acked send: an offset below one acked before on the
        same partition means the broker's log restarted."""
        before = self._offsets.acked((meta.topic, meta.partition), meta.offset)
        if before is not None:
            self._data_lost(f"{meta.topic}[{meta.partition}] acked a send at offset "
                            f"{meta.offset}, below the {before} it had acked before")

    def _resend_failed(self, sent: asyncio.Future[object], outgoing: _Outgoing) -> None:
        if not sent.cancelled() and sent.exception() is not None:
            self._resend(outgoing)

    def _resend(self, outgoing: _Outgoing) -> None:
        """Queue a durable message to be sent again, behind those already waiting."""
        self._resends.append(outgoing)
        metrics.BUS_DURABLE_PENDING.set(len(self._resends))
        if self._resender is None or self._resender.done():
            self._resender = asyncio.get_running_loop().create_task(
                self._resend_all(), name="kafka-resend")

    async def _resend_all(self) -> None:
        """Send the waiting durable messages one at a time, oldest first, each until the
        broker acks it (back-off between attempts); stops when none is left."""
        attempt = 0
        while self._resends and self._producer is not None:
            # Not before the probe has seen the broker back with our topics (made again if
            # lost): a send first would make tansu create the topic itself from the
            # producer's metadata request, racing ours, and what it took is never fetched.
            await self._topics_whole.wait()
            outgoing = self._resends[0]
            metrics.BUS_RESENDS.inc()
            try:
                meta = await (await self._send(outgoing))
            except (KafkaError, OSError) as exc:
                delay = RESEND_BACKOFF_S[min(attempt, len(RESEND_BACKOFF_S) - 1)]
                attempt += 1
                log.warning("durable message on %s not acked (%r); sending it again in "
                            "%.2fs (%d waiting)", outgoing.topic, exc, delay,
                            len(self._resends))
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self._resends.popleft()
            metrics.BUS_DURABLE_PENDING.set(len(self._resends))
            self._acked_at(meta)

    async def _acked(self) -> None:
        """Wait until every message published so far is acknowledged by the broker."""
        if self._unacked:
            await asyncio.gather(*list(self._unacked))

    async def drained(self) -> None:
        """Wait until this bus's consumers have handled and committed everything on their
        assigned partitions (call after `start()`: mid-rebalance nothing is assigned)."""
        while await self.lag():
            await asyncio.sleep(self.fetch_max_wait_ms / 1000)

    async def lag(self) -> int:
        """Messages on this bus's assigned partitions not yet handled and committed."""
        total = 0
        for member in self._members:
            consumer = member.consumer
            assignment = list(consumer.assignment()) if consumer is not None else []
            if consumer is None or not assignment:
                continue
            ends = await consumer.end_offsets(assignment)
            for tp, end in ends.items():
                total += max(0, end - (await consumer.committed(tp) or 0))
        return total

    async def _finish_resends(self) -> None:
        """Give the durable messages still waiting `stop_grace` to be acked (none while the
        broker is known to be down); log the rest as lost."""
        resender, self._resender = self._resender, None
        if resender is None:
            return
        try:  # a broker known to be gone gets no grace: SIGTERM must end the process
            await asyncio.wait_for(asyncio.shield(resender),
                                   self.stop_grace if self.health.up else 0)
        except TimeoutError:
            resender.cancel()
            await asyncio.gather(resender, return_exceptions=True)
        if self._resends:
            log.error("%d durable messages (execution reports) were never acked by the broker "
                      "and are lost: the venues' own records must be reconciled",
                      len(self._resends))
            self._resends.clear()
            metrics.BUS_DURABLE_PENDING.set(0)

    def _plan_members(self) -> list[_Member]:
        """One consumer per group member. A second subscription to a topic in the same
        group is a second member sharing that topic's partitions, as in MemoryBus."""
        members: list[_Member] = []
        by_group: dict[str, list[_Member]] = defaultdict(list)
        for sub in self._subscriptions:
            physical = self.topic(sub.topic)
            slots = by_group[sub.group]
            member = next((m for m in slots if physical not in m.subscriptions), None)
            if member is None:
                member = _Member(sub.group)
                slots.append(member)
                members.append(member)
            member.subscriptions[physical] = sub
        return members

    async def _probe_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.probe_interval_s)
            await self.probe()

    async def probe(self) -> None:
        """Ask the broker for its metadata: marks the bus down or up, reports an outage
        longer than `max_outage_s` once, and recreates topics a restarted broker lost."""
        producer = self._producer
        if producer is None:
            return
        now = time.monotonic()
        try:
            cluster = await asyncio.wait_for(producer.client.fetch_all_metadata(),
                                             max(self.probe_interval_s, 1.0) * 2)
        except (KafkaError, TimeoutError, OSError) as exc:
            self._topics_whole.clear()
            if self.health.up:
                self.health.up, self.health.down_since = False, now
                self.health.reason = f"{type(exc).__name__}: {exc}"
                metrics.BUS_CONNECTED.set(0)
                log.error("Kafka broker at %s is not answering: %s", self.bootstrap,
                          self.health.reason)
            if not self._outage_reported and self.health.outage_s(now) >= self.max_outage_s:
                self._outage_reported = True
                self.health.outages += 1
                await self._tell(self._on_outage, f"Kafka broker at {self.bootstrap} "
                                 f"unreachable for {self.health.outage_s(now):.0f}s "
                                 f"({self.health.reason})")
            return
        if not self.health.up:
            log.warning("Kafka broker at %s answers again after %.1fs", self.bootstrap,
                        self.health.outage_s(now))
            self.health.up, self.health.reason = True, ""
            metrics.BUS_CONNECTED.set(1)
        self._outage_reported = False
        lost = sorted(self._known_topics - set(cluster.topics()))
        if lost:
            log.error("Kafka broker at %s lost topics %s (restarted empty?): creating them "
                      "again", self.bootstrap, lost)
            await self._ensure(lost)
            self._topics_whole.set()
            self._data_lost(f"topics {', '.join(lost)} gone")
            return
        self._topics_whole.set()
        for member in self._members:
            if await self._commit_lost(member):
                return

    async def _commit_lost(self, member: _Member) -> bool:
        """Whether the broker still holds this group's last commit on the partition it
        committed furthest on (one request per group and probe; a restarted broker lost
        every partition's): quiet partitions too, as risk's usually are."""
        consumer = member.consumer
        if consumer is None:
            return False
        committed = [(ours, tp) for tp in consumer.assignment()
                     if (ours := self._offsets.commit_of((tp.topic, tp.partition))) is not None]
        if not committed:
            return False
        ours, tp = max(committed)
        try:
            broker = await asyncio.wait_for(consumer.committed(tp),
                                            max(self.probe_interval_s, 1.0) * 2)
        except (KafkaError, TimeoutError, IllegalStateError):
            return False  # unanswered: the metadata probe judges reachability
        if not self._offsets.commit_lost(broker):
            return False
        self._data_lost(f"the commit of group {member.group} on {tp.topic}[{tp.partition}] "
                        f"at {ours} is gone")
        return True

    def _data_lost(self, evidence: str) -> None:
        """The broker's log restarted (`evidence` says how this process saw it): counted,
        and the data-loss handlers told once for all the evidence one restart leaves within
        `loss_window_s` (every partition shows it), in a task, so neither a send's callback
        nor a consumer waits for the rebuild."""
        now = time.monotonic()
        self._offsets.forget()
        self._log_epoch += 1
        for member in self._members:  # the new log from its start, not from a stale position
            self._spawn(self._rewind(member), "kafka-rewind")
        if self._loss_reported_at is not None and now - self._loss_reported_at < self.loss_window_s:
            log.info("more evidence of the same broker data loss: %s", evidence)
            return
        self._loss_reported_at = now
        self.health.data_losses += 1
        metrics.BUS_DATA_LOSS.inc()
        reason = (f"Kafka broker at {self.bootstrap} lost topics' data: {evidence} "
                  "(restarted without its data)")
        log.error("%s; what it held is gone", reason)
        self._spawn(self._tell(self._on_data_loss, reason), "kafka-data-loss")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._fault_tasks.add(task)
        task.add_done_callback(self._fault_tasks.discard)

    async def _rewind(self, member: _Member) -> None:
        """Read the restarted log from its start: a position (or a commit) from before the
        loss points past what the new log holds, or into it, skipping what was sent since."""
        consumer = member.consumer
        if consumer is None or not consumer.assignment():
            return
        try:
            await consumer.seek_to_beginning(*consumer.assignment())
        except (KafkaError, IllegalStateError) as exc:
            log.warning("group %s could not rewind after the data loss: %r", member.group, exc)

    async def _tell(self, handlers: list[OutageHandler], reason: str) -> None:
        for handler in handlers:
            try:
                await handler(reason)
            except Exception:  # the probe, and the next handler, must outlive a failing one
                log.exception("bus fault handler failed for: %s", reason)

    async def _ensure(self, topics: Iterable[str]) -> None:
        topics = set(topics)
        await ensure_topics(self.bootstrap, topics, self.partitions, self.replication_factor)
        self._known_topics |= topics

    async def _consume(self, member: _Member) -> None:
        consumer = member.consumer
        assert consumer is not None
        failures = 0
        while not self._stopping:
            member.busy = False
            try:
                batches = await consumer.getmany(timeout_ms=1000)
                member.busy = True
                await asyncio.gather(
                    *(self._handle(member, tp, records) for tp, records in batches.items())
                )
            except Exception:  # a dead loop would leave its partitions stuck, yet assigned
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.exception("consumer for group %s failed (%d in a row); retrying",
                                  member.group, failures)
                await asyncio.sleep(min(0.5 * 2 ** min(failures - 1, 4), 5.0))
            else:
                failures = 0

    async def _handle(
        self, member: _Member, tp: TopicPartition, records: list[ConsumerRecord]
    ) -> None:
        """Handle one partition's batch in order, then commit past it."""
        consumer = member.consumer
        assert consumer is not None
        sub = member.subscriptions[tp.topic]
        epoch = self._log_epoch
        next_offset = None
        for record in records:
            if tp not in consumer.assignment():
                break  # revoked by a rebalance: the new owner resumes from our last commit
            envelope = self._decode(sub, record)
            if envelope is not None:
                await self._deliver(sub, envelope)
            next_offset = record.offset + 1
        if next_offset is None:
            return
        # The high watermark comes with each fetch: lag costs no request, once per batch.
        member.lag[tp] = max(0, (consumer.highwater(tp) or next_offset) - next_offset)
        member.lag_gauge.set(sum(member.lag.values()))
        try:
            await self._acked()  # what the handlers published must be durable first
            if epoch != self._log_epoch:
                return  # fetched from the log the broker lost: its offsets mean nothing now
            await consumer.commit({tp: next_offset})
            self._offsets.committed((tp.topic, tp.partition), next_offset)
        except KafkaError as exc:
            log.warning("commit of %s@%d for group %s failed (will be redelivered): %r",
                        tp, next_offset, member.group, exc)

    def _decode(
        self, sub: Subscription[Message], record: ConsumerRecord
    ) -> Envelope[Message] | None:
        headers = {name: value.decode(errors="replace") for name, value in record.headers}
        try:
            value = sub.message_type.FromString(record.value)
        except DecodeError:
            log.error("skipping undecodable %s at %s/%d/%d for group %s",
                      sub.message_type.__name__, record.topic, record.partition,
                      record.offset, sub.group)
            return None
        key = record.key.decode() if record.key is not None else ""
        return Envelope(record.topic, key, value, headers, record.partition, record.offset)
