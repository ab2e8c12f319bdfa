"""What Kalshi's streams replay after a reconnect."""

from __future__ import annotations

import orjson


def subscribe_commands(frame: bytes) -> bool:
    """`subscribe` is replayed on a new connection; `update_subscription` and `unsubscribe`
    carry sids that died with the old one."""
    try:
        command = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return False
    return isinstance(command, dict) and command.get("cmd") == "subscribe"
