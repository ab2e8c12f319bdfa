"""The tansu broker harness: clear start failures, no leftover processes, explicit topics."""

from __future__ import annotations

import os
import socket

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from arbiter.platform.bus.kafka import ensure_topics
from arbiter.platform.bus.tansu import BrokerStartError, TansuBroker

pytestmark = pytest.mark.kafka


async def test_start_failure_names_the_cause_from_broker_output() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = TansuBroker(port=taken.getsockname()[1], startup_timeout=10)
        with pytest.raises(BrokerStartError, match="Address in use"):
            await broker.start()
    assert broker.pid is None


async def test_stop_reaps_the_broker_process() -> None:
    async with TansuBroker() as broker:
        pid = broker.pid
        assert pid is not None and os.path.exists(f"/proc/{pid}")
    assert not os.path.exists(f"/proc/{pid}")  # a zombie would still be listed


async def test_ensure_topics_sets_partitions_and_tolerates_existing(
    tansu_bootstrap: str, uid: str
) -> None:
    topics = [f"explicit-{uid}-1", f"explicit-{uid}-2"]
    await ensure_topics(tansu_bootstrap, topics, partitions=3)
    await ensure_topics(tansu_bootstrap, topics, partitions=3)  # already there: no error

    admin = AIOKafkaAdminClient(bootstrap_servers=tansu_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    assert {d["topic"]: len(d["partitions"]) for d in described} == dict.fromkeys(topics, 3)
