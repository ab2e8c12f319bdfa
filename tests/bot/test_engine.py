"""The bot against the real embedded engine's control API (JWT roles, the real
ControlServicer and risk) and the loopback Telegram server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from arbiter.bot.config import BotConfig
from arbiter.bot.service import TelegramBot
from arbiter.control.client import ControlClient, Endpoint
from arbiter.control.local import serve_local_control
from arbiter.platform.auth import Role, mint_token
from arbiter.platform.config import AuthConfig, ControlConfig, load_config
from arbiter.topology.embedded import EmbeddedMesh

from .conftest import ADMIN, VIEWER
from .fake_telegram import TOKEN, FakeTelegram

SECRET = "bot-end-to-end-test-secret-of-at-least-32-bytes"
TENANT = "default"


@dataclass
class Engine:
    mesh: EmbeddedMesh
    endpoint: Endpoint
    telegram: FakeTelegram
    bot: TelegramBot


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    mesh = await EmbeddedMesh.build(load_config(environ={}))
    await mesh.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            endpoint, _ = await serve_local_control(
                mesh.control, ControlConfig(endpoint_file=str(tmp_path / "control.json")),
                AuthConfig(hs256_secret=SECRET), stack)
            telegram = await stack.enter_async_context(FakeTelegram())
            chats = {chat: {"role": role.name.lower(), "token": mint_token(
                SECRET, subject=f"telegram:{name}", tenant=TENANT, role=role)}
                for chat, name, role in ((ADMIN, "alice", Role.ADMIN),
                                         (VIEWER, "victor", Role.VIEWER))}
            bot = TelegramBot(BotConfig.model_validate({
                "token": TOKEN, "api_base_url": telegram.base_url, "poll_timeout_s": 10,
                "tenants": {TENANT: {"control_address": endpoint.address, "chats": chats}}}))
            await bot.start()
            stack.push_async_callback(bot.stop)
            yield Engine(mesh, endpoint, telegram, bot)
    finally:
        await mesh.stop()


async def test_status_kill_confirm_and_the_alert_on_the_real_engine(engine: Engine) -> None:
    telegram = engine.telegram
    # trade until the bot's event stream has delivered something: then it is subscribed,
    # and the latch's alert (no replay) cannot be raised before it
    async with asyncio.timeout(10):
        while not engine.bot.events_received[TENANT]:
            await engine.mesh.step()

    await telegram.command(VIEWER, "/status")
    status = await telegram.wait_for_message(VIEWER, 0, timeout=10)
    assert status.text.startswith(f"Tenant {TENANT} (paper")
    assert "HardStop: clear" in status.text

    await telegram.command(ADMIN, "/kill end-to-end drill")
    confirmation = await telegram.wait_for_message(ADMIN, 0, timeout=10)
    await telegram.press(ADMIN, confirmation, confirmation.buttons[0][1])
    edit = await telegram.wait_for_edit(ADMIN, confirmation.message_id, timeout=10)
    assert edit.text.startswith("HardStop latched"), edit.text

    for chat in (ADMIN, VIEWER):
        alert = await telegram.wait_until(lambda chat=chat: next(
            (m for m in telegram.sent_to(chat) if "hard_stop_latched" in m.text), None), 10)
        assert alert.text.startswith(f"🚨 {TENANT}: hard_stop_latched (critical)")
        assert "end-to-end drill" in alert.text

    async with ControlClient(engine.endpoint) as operator:
        assert (await operator.status()).hard_stop
        trail = await operator.audit()
    latched = [e for e in trail.entries if e.action == "latched"]
    assert latched and latched[-1].actor.startswith("telegram:alice")  # the token's subject
    assert "end-to-end drill" in latched[-1].detail


async def test_a_failed_unwind_is_reset_from_the_chat_only_by_name(engine: Engine) -> None:
    telegram = engine.telegram
    engine.mesh.risk.state.close_saga("lost-leg", -5_000_000, held=True)  # an unwind failed

    async def confirmed(text: str) -> str:
        before = len(telegram.sent_to(ADMIN))
        await telegram.command(ADMIN, text)
        confirmation = await telegram.wait_for_message(ADMIN, before, timeout=10)
        await telegram.press(ADMIN, confirmation, confirmation.buttons[0][1])
        return (await telegram.wait_for_edit(ADMIN, confirmation.message_id, timeout=10)).text

    refused = await confirmed("/reset looks fine")
    assert "FAILED_PRECONDITION" in refused and "failed_unwind" in refused, refused
    assert engine.mesh.risk.state.hard_stop().latched
    cleared = await confirmed("/reset ack=failed_unwind leg hedged by hand")
    assert cleared.startswith("HardStop reset."), cleared
    assert not engine.mesh.risk.state.hard_stop().latched
