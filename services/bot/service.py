"""The bot on Telegram: python-telegram-bot's Application, long polling the Bot API at the
configured base URL, handing every command and button press to the `Operator` and
delivering its answer; one alert pump per tenant pushing to that tenant's chats.

Updates are handled one at a time, in the order Telegram delivered them (a confirmation
is never overtaken by the command it confirms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from functools import partial

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from arbiter.bot.config import BotConfig
from arbiter.bot.operator import COMMANDS, Connect, ControlApi, Operator, Reply, pump_alerts
from arbiter.control.client import ControlClient, Endpoint

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]


def _keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data)
                                  for b in reply.buttons]])


class TelegramBot:
    """`start()` connects and starts polling and the alert pumps; `stop()` undoes it."""

    def __init__(self, config: BotConfig, connect: Connect = ControlClient) -> None:
        self.config = config
        self.operator = Operator(config, connect)
        self._connect = connect
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .token(config.bot_token())
            .base_url(config.api_base_url)
            # replies and alert pushes may overlap; one connection would make them queue
            .request(HTTPXRequest(connection_pool_size=8))
            .get_updates_request(HTTPXRequest(read_timeout=config.poll_timeout_s + 10.0))
            .build())
        self.application.add_handler(MessageHandler(
            filters.UpdateType.MESSAGE & filters.COMMAND, self._on_command))
        self.application.add_handler(CallbackQueryHandler(self._on_callback))
        self.application.add_error_handler(self._on_error)
        # control events each tenant's stream delivered (saga changes, audit, alerts): a
        # stream that stays at 0 while the engine trades is not connected
        self.events_received: Counter[str] = Counter()
        self._pumps: list[asyncio.Task[None]] = []
        self._pump_clients: list[ControlApi] = []

    async def start(self) -> None:
        app = self.application
        await app.initialize()  # getMe: checks the token
        try:
            await app.bot.set_my_commands(
                [BotCommand(name, spec.summary[:256]) for name, spec in COMMANDS.items()])
        except TelegramError as exc:  # cosmetic: the commands work without the menu
            log.warning("setMyCommands failed: %s", exc)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=self.config.poll_timeout_s,
                                        allowed_updates=ALLOWED_UPDATES)
        for tenant_id, tenant in self.config.tenants.items():
            client = self._connect(Endpoint(tenant.control_address,
                                            tenant.events_token.get_secret_value(), tenant_id,
                                            ca_path=tenant.control_ca_path))
            self._pump_clients.append(client)
            self._pumps.append(asyncio.create_task(
                pump_alerts(tenant_id, client, tenant.chats, self._push, self.config.alerts,
                            partial(self._count, tenant_id)),
                name=f"bot-alerts-{tenant_id}"))
        log.info("telegram bot @%s polling for %d tenant(s)", app.bot.username,
                 len(self.config.tenants))

    async def stop(self) -> None:
        for task in self._pumps:
            task.cancel()
        for task in self._pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pumps.clear()
        for client in self._pump_clients:
            await client.close()
        self._pump_clients.clear()
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await self.operator.close()

    def _count(self, tenant_id: str, _: object) -> None:
        self.events_received[tenant_id] += 1

    async def _push(self, chat_id: int, text: str) -> None:
        await self.application.bot.send_message(chat_id, text)

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or message.text is None:
            return
        user = message.from_user.id if message.from_user else None
        reply = await self.operator.on_command(chat.id, message.text, context.bot.username,
                                               user)
        if reply is not None:
            await context.bot.send_message(chat.id, reply.text, reply_markup=_keyboard(reply))

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None or query.data is None:
            return
        outcome = await self.operator.on_callback(query.message.chat.id, query.data,
                                                  query.from_user.id)
        if outcome is None:
            return  # not on the allow-list: not even the button's spinner is answered
        await query.answer(outcome.notice)
        if outcome.edit_text is not None:
            await query.edit_message_text(outcome.edit_text)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update not handled", exc_info=context.error)


async def run_bot(config: BotConfig, stop: asyncio.Event) -> None:
    """Run the bot until `stop` is set."""
    bot = TelegramBot(config)
    await bot.start()
    try:
        await stop.wait()
    finally:
        await bot.stop()
