"""Helpers for tests that run Arbiter as separate processes, as an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest

ARBITER = [sys.executable, "-m", "arbiter.cli.app"]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: all held open at once while they are picked, since one
    port picked, released and picked again would be handed to two processes."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*ARBITER, *args], env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)


async def eventually(check, timeout: float, what: str):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
        except (OSError, aiohttp.ClientError, grpc.RpcError):
            pass
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


async def listening(*ports: int) -> bool:
    for port in ports:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
    return True


def run_arbiter(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`arbiter ARGS` with its stdout (the run summary) on a pipe and its log in `log`."""
    return subprocess.Popen([*ARBITER, *args], stdout=subprocess.PIPE, stderr=log.open("wb"),
                            env=env)


async def announced_metrics(log: Path, process: subprocess.Popen[bytes]) -> str | None:
    """The metrics URL `arbiter run` printed to `log` (the port `--metrics-port 0` chose),
    None until it has; an exited process fails with its log."""
    for line in log.read_text().splitlines():
        if line.startswith("metrics on "):
            return line.removeprefix("metrics on ").strip()
    assert process.poll() is None, f"arbiter exited: {log.read_text()[-2000:]}"
    return None


async def metric_total(url: str, name: str) -> float:
    """The sum of one metric over all its label sets, scraped from `url`."""
    async with aiohttp.ClientSession() as http, http.get(url) as reply:
        text = await reply.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{"))
