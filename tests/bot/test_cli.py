"""`arbiter bot --config`: the real command in a subprocess, against the loopback servers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import yaml

from .conftest import ADMIN
from .fake_control import ControlServer, FakeControl
from .fake_telegram import TOKEN, FakeTelegram

ARBITER = [sys.executable, "-m", "arbiter.cli.app"]


async def test_arbiter_bot_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    server = ControlServer(FakeControl())
    await server.start()
    try:
        async with FakeTelegram() as telegram:
            config = tmp_path / "bot.yaml"
            config.write_text(yaml.safe_dump({
                "api_base_url": telegram.base_url, "poll_timeout_s": 10,
                "tenants": {"acme": {"control_address": server.address,
                                     "chats": {ADMIN: {"role": "admin", "token": "tok-admin"}}}},
            }))
            config.chmod(0o600)
            process = await asyncio.create_subprocess_exec(
                *ARBITER, "bot", "--config", str(config), env={
                    **os.environ, "ARBITER_BOT_TOKEN": TOKEN},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                await telegram.wait_until(lambda: "getUpdates" in telegram.methods(), 15)
                await telegram.command(ADMIN, "/status")
                reply = await telegram.wait_for_message(ADMIN, 0, timeout=10)
                assert "Tenant acme" in reply.text
            finally:
                process.send_signal(signal.SIGTERM)
                _, stderr = await asyncio.wait_for(process.communicate(), 15)
            assert process.returncode == 0, stderr.decode()
            log = stderr.decode()
            assert '"event": "bot_command"' in log and '"actor": "telegram:1001"' in log
            assert TOKEN not in log and "tok-admin" not in log
    finally:
        await server.stop()


async def test_arbiter_bot_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bot.yaml"
    config.write_text("tenants: {}\n")
    config.chmod(0o600)
    process = await asyncio.create_subprocess_exec(
        *ARBITER, "bot", "--config", str(config), stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert stderr.decode().startswith("error: ")


async def test_arbiter_bot_with_a_refused_token_says_so(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram:
        config = tmp_path / "bot.yaml"
        config.write_text(yaml.safe_dump({
            "token": "42:not-the-token", "api_base_url": telegram.base_url,
            "tenants": {"acme": {"control_address": "127.0.0.1:1",
                                 "chats": {ADMIN: {"role": "admin", "token": "tok-admin"}}}},
        }))
        config.chmod(0o600)
        process = await asyncio.create_subprocess_exec(
            *ARBITER, "bot", "--config", str(config), stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    lines = stderr.decode().splitlines()
    assert process.returncode == 2, stderr.decode()
    assert lines[-1].startswith(f"error: Telegram Bot API at {telegram.base_url}: ")
    assert "not-the-token" not in stderr.decode()
