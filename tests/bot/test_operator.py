"""The bot's decisions without Telegram: parsing, the rate limit, texts, the config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arbiter.bot.config import BotConfigError, load_bot_config
from arbiter.bot.config import RateLimit as RateLimitConfig
from arbiter.bot.operator import Command, RateLimiter, format_alert, parse_command, usd
from arbiter.v1 import control_pb2


@pytest.mark.parametrize(("text", "expected"), [
    ("/status", Command("status", "")),
    ("/STATUS@Arbiter_Test_Bot", Command("status", "")),
    ("/kill  venue down, stop  ", Command("kill", "venue down, stop")),
    ("/start", Command("help", "")),
    ("/status@other_bot", None),
    ("status", None),
    ("/", None),
])
def test_parse_command(text: str, expected: Command | None) -> None:
    assert parse_command(text, "arbiter_test_bot") == expected


def test_rate_limit_refills_and_warns_once() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimitConfig(commands=2, per_s=10), clock=lambda: now[0])
    assert [limiter.take(1) for _ in range(4)] == ["allow", "allow", "warn", "drop"]
    assert limiter.take(2) == "allow"  # a bucket per chat
    now[0] = 5.0  # one token back (2 per 10 s)
    assert [limiter.take(1), limiter.take(1)] == ["allow", "warn"]


def test_texts() -> None:
    assert usd(-1_234_560) == "-$1.23"
    alert = control_pb2.Alert(kind="reconciliation_mismatch", severity="warning",
                              summary="kalshi holds 5 more YES", venue="kalshi")
    assert format_alert("acme", alert) == ("⚠️ acme: reconciliation_mismatch (warning) "
                                           "venue kalshi\nkalshi holds 5 more YES")


CONFIG = """
api_base_url: http://127.0.0.1:1/bot
tenants:
  acme:
    control_address: 127.0.0.1:2
    chats:
      1: {role: admin, token: admin-jwt}
      2: {role: viewer, token: v}
"""


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    config = load_bot_config(path, environ={"ARBITER_BOT_TOKEN": "1:env"})
    assert config.bot_token() == "1:env"
    assert config.chat(2) == ("acme", config.tenants["acme"].chats[2])
    assert config.chat(3) is None
    assert config.tenants["acme"].events_token.get_secret_value() == "admin-jwt"
    assert "admin-jwt" not in repr(config)  # tokens stay secret
    with pytest.raises(BotConfigError, match="no bot token"):
        load_bot_config(path, environ={}).bot_token()


def test_config_refuses_a_readable_file_and_a_chat_in_two_tenants(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG)
    os.chmod(path, 0o644)
    with pytest.raises(BotConfigError, match="chmod 600"):
        load_bot_config(path, environ={})
    path.write_text(CONFIG + "  other:\n    control_address: x:1\n    chats:\n"
                             "      1: {role: viewer, token: o}\n")
    path.chmod(0o600)
    with pytest.raises(BotConfigError, match="chat 1 is listed for tenants"):
        load_bot_config(path, environ={})


def test_reset_names_the_trips_it_acknowledges() -> None:
    from arbiter.bot.operator import split_acknowledged
    assert split_acknowledged("ack=failed_unwind,reconciliation all checked") == (
        "all checked", ["failed_unwind", "reconciliation"])
    assert split_acknowledged("ack=failed_unwind ack=reconciliation x") == (
        "x", ["failed_unwind", "reconciliation"])
    assert split_acknowledged("all clear, ack=later") == ("all clear, ack=later", [])
