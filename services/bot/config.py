"""The bot's configuration: a YAML file given to `arbiter bot --config`.

    token: "123456:ABC..."            # ARBITER_BOT_TOKEN overrides it; never logged
    api_base_url: https://api.telegram.org/bot
    rate_limit: {commands: 5, per_s: 10}
    confirm_ttl_s: 60
    tenants:
      acme:
        control_address: 127.0.0.1:50070
        chats:
          111111: {role: admin, token: "eyJ..."}    # the control-API JWT of this chat
          222222: {role: viewer, token: "eyJ..."}

A chat id is listed under one tenant at most: it is the allow-list, and the tenant whose
control API the chat's commands go to.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from arbiter.platform.auth import Role

ENV_TOKEN = "ARBITER_BOT_TOKEN"
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"

RoleName = Literal["viewer", "trader", "admin"]


class BotConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ChatConfig(_Model):
    role: RoleName
    token: SecretStr = Field(description="The control-API JWT this chat's commands carry.")

    @property
    def level(self) -> Role:
        return Role[self.role.upper()]


class TenantBotConfig(_Model):
    control_address: str = Field(min_length=1, description="host:port of the control API")
    control_ca_path: str = Field("", description="PEM of the plane's CA when the control "
                                 "service serves TLS (`tls.*`); empty: plaintext")
    chats: dict[int, ChatConfig] = Field(min_length=1)

    @property
    def events_token(self) -> SecretStr:
        """What the alert stream subscribes with: the strongest chat's token (any role may
        read events; the strongest one is the least likely to be revoked first)."""
        return max(self.chats.values(), key=lambda chat: chat.level).token


class RateLimit(_Model):
    commands: int = Field(default=5, ge=1)
    per_s: float = Field(default=10.0, gt=0)


class AlertsConfig(_Model):
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)


class BotConfig(_Model):
    token: SecretStr | None = None
    api_base_url: str = DEFAULT_API_BASE_URL
    poll_timeout_s: int = Field(default=30, ge=0, le=50)
    rate_limit: RateLimit = RateLimit()
    confirm_ttl_s: float = Field(default=60.0, gt=0)
    alerts: AlertsConfig = AlertsConfig()
    tenants: dict[str, TenantBotConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_tenant_per_chat(self) -> BotConfig:
        seen: dict[int, str] = {}
        for tenant_id, tenant in self.tenants.items():
            for chat_id in tenant.chats:
                if chat_id in seen:
                    raise ValueError(f"chat {chat_id} is listed for tenants {seen[chat_id]!r} "
                                     f"and {tenant_id!r}; a chat acts for one tenant")
                seen[chat_id] = tenant_id
        return self

    def bot_token(self) -> str:
        if self.token is None or not self.token.get_secret_value():
            raise BotConfigError(f"no bot token: set `token` in the file or {ENV_TOKEN}")
        return self.token.get_secret_value()

    def chat(self, chat_id: int) -> tuple[str, ChatConfig] | None:
        """The tenant and settings of an allow-listed chat; None for any other chat."""
        for tenant_id, tenant in self.tenants.items():
            if chat_id in tenant.chats:
                return tenant_id, tenant.chats[chat_id]
        return None


def load_bot_config(path: Path, environ: Mapping[str, str] = os.environ) -> BotConfig:
    """The file's settings; ARBITER_BOT_TOKEN, when set, is the bot token. The file holds
    every chat's control-API token, so one readable by other users is refused."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BotConfigError(f"{path} is readable by other users (mode "
                                 f"{oct(mode & 0o777)}); it holds tokens: chmod 600 it")
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BotConfigError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise BotConfigError(f"{path}: not YAML ({exc})") from None
    if not isinstance(data, dict):
        raise BotConfigError(f"{path}: expected a mapping at the top level")
    if environ.get(ENV_TOKEN):  # the environment wins: a file can be shared, a secret not
        data["token"] = environ[ENV_TOKEN]
    try:
        return BotConfig.model_validate(data)
    except ValidationError as exc:
        raise BotConfigError(f"{path}: {exc}") from None
