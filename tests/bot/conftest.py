"""The bot against a fake Telegram Bot API server and a fake control service, both on
loopback: python-telegram-bot and the gRPC control client run for real."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from arbiter.bot.config import BotConfig
from arbiter.bot.service import TelegramBot

from .fake_control import ControlServer, FakeControl
from .fake_telegram import TOKEN, FakeTelegram

ADMIN, TRADER, VIEWER, STRANGER = 1001, 1002, 1003, 666


@dataclass
class Harness:
    telegram: FakeTelegram
    control: FakeControl
    server: ControlServer
    bot: TelegramBot

    async def ask(self, chat_id: int, text: str) -> str:
        """Send `text` from `chat_id` and return the bot's next message to it."""
        before = len(self.telegram.sent_to(chat_id))
        await self.telegram.command(chat_id, text)
        return (await self.telegram.wait_for_message(chat_id, before)).text


def bot_config(control_address: str, base_url: str, **overrides: Any) -> BotConfig:
    data: dict[str, Any] = {
        "token": TOKEN, "api_base_url": base_url, "poll_timeout_s": 10,
        "alerts": {"reconnect_min_s": 0.05, "reconnect_max_s": 0.5},
        "tenants": {"acme": {"control_address": control_address, "chats": {
            ADMIN: {"role": "admin", "token": "tok-admin"},
            TRADER: {"role": "trader", "token": "tok-trader"},
            VIEWER: {"role": "viewer", "token": "tok-viewer"},
        }}},
    }
    data.update(overrides)
    return BotConfig.model_validate(data)


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[Harness]:
    control = FakeControl()
    server = ControlServer(control)
    await server.start()
    try:
        async with FakeTelegram() as telegram:
            bot = TelegramBot(bot_config(server.address, telegram.base_url, **overrides))
            await bot.start()
            try:
                yield Harness(telegram, control, server, bot)
            finally:
                await bot.stop()
            # python-telegram-bot called nothing the fake does not implement, start to stop
            assert telegram.unknown_methods == []
    finally:
        await server.stop()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running() as started:
        yield started


@pytest.fixture
def start() -> Callable[..., Any]:
    """A harness with other settings: `async with start(rate_limit=...) as h:`."""
    return running
