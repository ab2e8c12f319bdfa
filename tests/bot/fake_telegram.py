"""A fake Telegram Bot API server on loopback, for testing the bot through the real
python-telegram-bot client.

It serves `POST|GET /bot<token>/<method>` (https://core.telegram.org/bots/api, "Making
requests") with the documented response envelope `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": ..., "description": ...}`, and implements the methods the bot
calls: getMe, deleteWebhook, getWebhookInfo, setMyCommands, getMyCommands, getUpdates (long
polling with the documented offset/limit/timeout semantics), sendMessage, editMessageText,
answerCallbackQuery. Any other method answers 404 and is recorded in `unknown_methods`.

Tests inject updates (`command`, `press`) shaped as the docs' Update, Message, Chat, User,
MessageEntity and CallbackQuery objects, and await what the bot sent (`wait_for_message`,
`wait_for_edit`, `wait_consumed`); every call and every outgoing message is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

TOKEN = "123456789:TEST-fake-token-for-the-loopback-api"
BOT_USER: dict[str, Any] = {
    "id": 123456789, "is_bot": True, "first_name": "Arbiter", "username": "arbiter_test_bot",
    "can_join_groups": True, "can_read_all_group_messages": False,
    "supports_inline_queries": False, "can_connect_to_business": False,
    "has_main_web_app": False,
}
# Parameters whose values are JSON-serialized objects or arrays when sent as form fields.
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "entities", "scope",
               "link_preview_options", "reply_parameters"}
INT_FIELDS = {"offset", "limit", "timeout", "message_id"}
BOOL_FIELDS = {"drop_pending_updates", "show_alert", "disable_notification",
               "protect_content"}


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


@dataclass
class Sent:
    """A message the bot sent (or its latest edit)."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    raw: dict[str, Any]  # the Message object returned to the bot

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of each inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unknown_methods: list[str] = field(default_factory=list)
    messages: list[Sent] = field(default_factory=list)  # sendMessage, in order
    edits: list[Sent] = field(default_factory=list)  # editMessageText, in order
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: list[dict[str, Any]] = []  # unconfirmed updates, oldest first
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._confirmed_below = 0  # the highest offset a getUpdates was called with
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What python-telegram-bot's `base_url` takes: the token is appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    # -- injecting updates ----------------------------------------------------------------

    async def _enqueue(self, **content: Any) -> int:
        update_id = next(self._update_ids)
        self._queue.append({"update_id": update_id, **content})
        await self._notify()
        return update_id

    @staticmethod
    def user(chat_id: int) -> dict[str, Any]:
        # In a private chat the chat id is the user's id.
        return {"id": chat_id, "is_bot": False, "first_name": f"Operator{chat_id}",
                "language_code": "en"}

    @staticmethod
    def chat(chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private", "first_name": f"Operator{chat_id}"}

    async def command(self, chat_id: int, text: str, user_id: int | None = None) -> int:
        """A user's text message in their private chat; a leading /command carries the
        bot_command entity Telegram adds. Returns the update id."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "from": self.user(user_id or chat_id),
            "date": int(time.time()), "chat": self.chat(chat_id), "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split(" ", 1)[0])}]
        return await self._enqueue(message=message)

    async def press(self, chat_id: int, message: Sent, data: str,
                    user_id: int | None = None) -> int:
        """A user (by default the private chat's own) presses an inline button of
        `message` carrying `data`."""
        query = {"id": str(next(self._query_ids)), "from": self.user(user_id or chat_id),
                 "message": message.raw, "chat_instance": f"instance-{chat_id}", "data": data}
        return await self._enqueue(callback_query=query)

    def in_chat(self, message: Sent, chat_id: int) -> Sent:
        """A copy of `message` as if it were in `chat_id` (a crafted callback)."""
        raw = {**message.raw, "chat": self.chat(chat_id)}
        return Sent(chat_id, message.message_id, message.text, message.reply_markup, raw)

    # -- waiting --------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, check: Callable[[], Any], timeout: float = 5.0) -> Any:
        async def wait() -> Any:
            async with self._changed:
                while not (result := check()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(wait(), timeout)

    async def wait_consumed(self, update_id: int, timeout: float = 5.0) -> None:
        """Until the bot called getUpdates with an offset past `update_id`: it received
        the update (and confirmed it)."""
        await self.wait_until(lambda: self._confirmed_below > update_id, timeout)

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [m for m in self.messages if m.chat_id == chat_id]

    async def wait_for_message(self, chat_id: int, after: int = 0,
                               timeout: float = 5.0) -> Sent:
        """The first message to `chat_id` past its first `after` ones."""
        def check() -> Sent | None:
            sent = self.sent_to(chat_id)
            return sent[after] if len(sent) > after else None

        result: Sent = await self.wait_until(check, timeout)
        return result

    async def wait_for_edit(self, chat_id: int, message_id: int, timeout: float = 5.0) -> Sent:
        def check() -> Sent | None:
            return next((e for e in self.edits
                         if e.chat_id == chat_id and e.message_id == message_id), None)

        result: Sent = await self.wait_until(check, timeout)
        return result

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    # -- the Bot API ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        handler = getattr(self, f"_api_{method.lower()}", None)
        try:
            if handler is None:
                self.unknown_methods.append(method)
                raise ApiError(404, "Not Found")
            result = await handler(params)
        except ApiError as exc:
            await self._notify()
            return web.json_response({"ok": False, "error_code": exc.code,
                                      "description": exc.description}, status=exc.code)
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        """Query string, JSON body or form fields (urlencoded or multipart), as the docs
        allow; form values are decoded by the parameter's type."""
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            raw.update(await request.json())
            return raw
        if request.can_read_body:
            raw.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in JSON_FIELDS:
                params[key] = json.loads(value)
            elif key in INT_FIELDS or key == "chat_id":
                try:
                    params[key] = int(value)
                except ValueError:  # chat_id may be @channelusername
                    params[key] = value
            elif key in BOOL_FIELDS:
                params[key] = value in ("true", "True", "1")
            else:
                params[key] = value
        return params

    async def _api_getme(self, _: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    async def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    async def _api_getwebhookinfo(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False,
                "pending_update_count": len(self._queue)}

    async def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: parameter \"commands\" is required")
        self.commands = commands
        return True

    async def _api_getmycommands(self, _: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        timeout = max(float(params.get("timeout", 0)), 0.0)
        if offset > 0:  # confirms every update below it
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
            self._confirmed_below = max(self._confirmed_below, offset)
        elif offset < 0:  # the last -offset updates; the older ones are forgotten
            self._queue = self._queue[offset:]
        await self._notify()
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while not self._queue and not self._closing:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    break
        return self._queue[:limit]

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        text = params.get("text", "")
        if not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "from": BOT_USER,
            "date": int(time.time()), "chat": self.chat(chat_id), "text": text,
        }
        markup = params.get("reply_markup")
        if markup is not None:
            message["reply_markup"] = markup
        self.messages.append(Sent(chat_id, message["message_id"], text, markup, message))
        return message

    async def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        message_id = params.get("message_id")
        original = next((m for m in self.messages
                         if m.chat_id == chat_id and m.message_id == message_id), None)
        if original is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = params.get("text", "")
        message = {**original.raw, "text": text, "edit_date": int(time.time())}
        message.pop("reply_markup", None)
        markup = params.get("reply_markup")
        if markup is not None:
            message["reply_markup"] = markup
        self.edits.append(Sent(chat_id, original.message_id, text, markup, message))
        return message

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        self.callback_answers.append(params)
        return True
