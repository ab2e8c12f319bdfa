"""`arbiter bot --config bot.yaml`: run the Telegram operator bot until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from arbiter.bot.config import BotConfig

# Imported by every `arbiter` command (cli.app mounts this group): the bot's own modules
# load when `arbiter bot` runs, not before.
app = typer.Typer(help="The Telegram operator bot: status, pauses, the kill switch, alerts.")


def _error(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


@app.callback(invoke_without_command=True)
def bot(
    config: Annotated[Path, typer.Option(
        "--config", "-c", help="The bot's YAML file: token, Bot API URL, tenants and their "
                               "chats (docs/bot.md).")],
) -> None:
    """Answer the allow-listed chats' commands and push the tenants' alerts to them, until
    SIGINT/SIGTERM."""
    from arbiter.bot.config import BotConfigError, load_bot_config
    from arbiter.platform.telemetry.logging import configure_logging, register_secret, scrub

    try:
        settings = load_bot_config(config)
        token = settings.bot_token()
    except BotConfigError as exc:
        raise _error(str(exc)) from None
    try:
        from arbiter.bot.service import run_bot
    except ImportError as exc:
        raise _error(f"the bot needs python-telegram-bot ({exc.name} is missing): "
                     "pip install 'arbiter[telegram]'") from None
    configure_logging()
    # httpx logs every request's URL, and a Bot API URL holds the bot token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    register_secret(token)
    for tenant in settings.tenants.values():
        for chat in tenant.chats.values():
            register_secret(chat.token.get_secret_value())
    from telegram.error import TelegramError

    try:
        asyncio.run(_serve(settings, run_bot))
    except TelegramError as exc:  # e.g. the token refused by getMe, the API unreachable
        # PTB's InvalidToken quotes the token: scrub it like every log line
        raise _error(f"Telegram Bot API at {settings.api_base_url}: {scrub(str(exc))}") from None


async def _serve(settings: BotConfig,
                 run_bot: Callable[[BotConfig, asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_bot(settings, stop)
