"""The Telegram operator bot: status, positions, sagas, pauses, the kill switch and the
HardStop reset from a chat, and the engine's alerts pushed to the operators' chats.

It is an operator tool like `arbiter ctl`: it talks to the engine only through the control
API (`arbiter.control.client`), each chat with its own JWT, so the control service's role
checks and audit trail apply to what a chat does. The bot adds an allow-list (a chat not
listed gets no answer at all), its own role check before calling, a rate limit per chat, an
inline confirmation for the kill switch and the HardStop reset, and an audit of every
command.

`operator` holds the decisions (parse, authorize, confirm, format) without any Telegram
code; `telegram` wires them to python-telegram-bot; `cli` is `arbiter bot`.
"""
