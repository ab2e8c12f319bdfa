"""What the bot decides, without Telegram: who may do what, when to ask for a confirmation,
how fast a chat may go, what the audit keeps, and how replies and alerts read.

`Operator.on_command` and `Operator.on_callback` take a chat id and the text (or the
button's data) and return what to answer, or None for no answer at all; the Telegram wiring
(`arbiter.bot.service`) only delivers it. The control API is reached through `ControlApi`,
which `arbiter.control.client.ControlClient` satisfies.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import grpc
import structlog

from arbiter.bot.config import AlertsConfig, BotConfig, ChatConfig, RateLimit
from arbiter.control.client import ControlClient, Endpoint
from arbiter.platform.auth import Role
from arbiter.v1 import common_pb2, control_pb2

log = logging.getLogger(__name__)
audit_log = structlog.get_logger("arbiter.bot.audit")

MAX_MESSAGE = 4096  # Telegram's limit on a message's text, in characters
SAGAS_SHOWN = 20


class ControlApi(Protocol):
    """The part of the control API client the bot uses."""

    async def status(self) -> control_pb2.StatusReply: ...

    async def positions(self, venue: str = "") -> control_pb2.PositionsReply: ...

    async def sagas(self, state: str = "", pair_id: str = "",
                    limit: int = 0) -> control_pb2.SagasReply: ...

    async def set_paused(self, paused: bool, reason: str = "",
                         pair_id: str = "") -> control_pb2.StatusReply: ...

    async def kill(self, reason: str) -> control_pb2.StatusReply: ...

    async def reset_hard_stop(self, reason: str,
                              acknowledge: Sequence[str] = ()) -> control_pb2.StatusReply: ...

    def events(self) -> AsyncIterator[control_pb2.ControlEvent]: ...

    async def close(self) -> None: ...


Connect = Callable[[Endpoint], ControlApi]


# -- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandSpec:
    role: Role
    usage: str
    summary: str
    confirm: bool = False  # acts only on the confirming button


COMMANDS: dict[str, CommandSpec] = {
    "status": CommandSpec(Role.VIEWER, "/status", "latch, pauses, readiness, funds, sagas"),
    "positions": CommandSpec(Role.VIEWER, "/positions [venue]", "what the tenant holds"),
    "sagas": CommandSpec(Role.VIEWER, "/sagas [state]", f"the newest {SAGAS_SHOWN} sagas, "
                         "e.g. /sagas HELD"),
    "pause": CommandSpec(Role.TRADER, "/pause [pair]", "stop new sagas (of one pair)"),
    "resume": CommandSpec(Role.TRADER, "/resume [pair]", "allow new sagas (of one pair) again"),
    "kill": CommandSpec(Role.ADMIN, "/kill <reason>", "kill switch: latch the HardStop and "
                        "cancel resting orders", confirm=True),
    "reset": CommandSpec(Role.ADMIN, "/reset [ack=failed_unwind,reconciliation] <reason>",
                         "reset the HardStop latch, naming each safety trip it clears",
                         confirm=True),
    "help": CommandSpec(Role.VIEWER, "/help", "the commands this chat may use"),
}
ALIASES = {"start": "help"}  # what Telegram sends when a user first opens the bot


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str  # the rest of the text, stripped


def parse_command(text: str, bot_username: str = "") -> Command | None:
    """`/name[@bot] args...`; None for text that is no command, or a command addressed to
    another bot (`/status@other_bot` in a group)."""
    if not text.startswith("/"):
        return None
    head, _, rest = text.strip().partition(" ")
    name, _, addressee = head[1:].partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    if not name:
        return None
    name = name.lower()
    return Command(ALIASES.get(name, name), rest.strip())


# -- replies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str  # callback data: at most 64 bytes (Bot API)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    notice: str            # the short answer to the button press
    edit_text: str | None  # the confirmation message's new text (its buttons removed)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 2] + " …"


def usd(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    return f"{sign}${abs(micros) / 1_000_000:,.2f}"


def contracts(micros: int) -> str:
    return f"{micros / 1_000_000:,.2f}".rstrip("0").rstrip(".")


def format_status(reply: control_pb2.StatusReply) -> str:
    latch = (f"LATCHED ({reply.hard_stop_reason or 'no reason'})" if reply.hard_stop
             else "clear")
    lines = [
        f"Tenant {reply.tenant_id} ({reply.mode or 'unknown mode'}"
        + (f", tier {reply.tier}" if reply.tier else "") + ")",
        f"HardStop: {latch}",
    ]
    if reply.hard_stop_triggers:
        lines.append(f"  triggers: {', '.join(reply.hard_stop_triggers)}")
    lines.append(f"Trading: {'PAUSED' if reply.paused else 'running'}, "
                 f"{'ready' if reply.ready else 'NOT ready'}")
    for pair, reason in sorted(reply.paused_pairs.items()):
        lines.append(f"  pair {pair} paused" + (f": {reason}" if reason else ""))
    lines.append(f"Sagas: {reply.open_sagas} open"
                 + "".join(f", {n} {state}" for state, n in sorted(reply.sagas_by_state.items())))
    lines.append(f"P&L realized {usd(reply.realized_pnl_micros)}, held cost "
                 f"{usd(reply.held_cost_micros)}, at risk {usd(reply.at_risk_micros)}")
    for venue in reply.venues:
        state = "up" if venue.connected else "DOWN"
        if venue.missing:
            state += f" (missing {', '.join(venue.missing)})"
        funds = ""
        if venue.funds_known:
            funds = (f", free {usd(venue.funds.free_micros)} of spendable "
                     f"{usd(venue.funds.spendable_micros)}" + (" LOW" if venue.funds.low else ""))
        lines.append(f"Venue {venue.venue}: {state}{funds}")
    return _clip("\n".join(lines))


def format_positions(reply: control_pb2.PositionsReply) -> str:
    if not reply.positions:
        return "No positions held."
    lines = [f"Positions (held cost {usd(reply.held_cost_micros)}):"]
    for position in reply.positions:
        outcome = common_pb2.Outcome.Name(position.outcome).removeprefix("OUTCOME_")
        lines.append(f"{position.venue} {position.market_id} {outcome}: "
                     f"{contracts(position.qty_micros)} for {usd(position.cost_micros)}")
    return _clip("\n".join(lines))


def format_sagas(reply: control_pb2.SagasReply, state: str) -> str:
    what = f"{state.upper()} sagas" if state else "Sagas"
    if not reply.sagas:
        return f"No {what.lower()}." if state else "No sagas."
    lines = [f"{what}: {len(reply.sagas)} of {reply.matched} (newest last)"]
    for saga in reply.sagas:
        line = f"{saga.saga_id} {saga.state}"
        if saga.pair_id:
            line += f" pair {saga.pair_id}"
        if saga.realized_pnl_micros:
            line += f" P&L {usd(saga.realized_pnl_micros)}"
        if saga.detail:
            line += f": {saga.detail}"
        lines.append(line)
    return _clip("\n".join(lines))


def format_alert(tenant_id: str, alert: control_pb2.Alert) -> str:
    mark = "🚨" if alert.severity == "critical" else "⚠️"
    where = "".join(f" {label} {value}" for label, value in
                    (("venue", alert.venue), ("saga", alert.saga_id)) if value)
    return _clip(f"{mark} {tenant_id}: {alert.kind} ({alert.severity or 'alert'}){where}\n"
                 f"{alert.summary}")


def help_text(role: Role) -> str:
    lines = [f"Commands for this chat ({role.name.lower()}):"]
    lines += [f"{spec.usage}: {spec.summary}" for spec in COMMANDS.values() if spec.role <= role]
    return "\n".join(lines)


# -- rate limit, confirmations, audit -------------------------------------------------------


class RateLimiter:
    """A token bucket per chat: `commands` at once, refilled at `commands` per `per_s`.
    Over it, the first command gets a warning and the next ones nothing until a token is
    back."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(limit.commands)
        self._rate = limit.commands / limit.per_s
        self.clock = clock
        self._buckets: dict[int, tuple[float, float, bool]] = {}  # tokens, at, warned

    def take(self, chat_id: int) -> Literal["allow", "warn", "drop"]:
        now = self.clock()
        tokens, at, warned = self._buckets.get(chat_id, (self._capacity, now, False))
        tokens = min(self._capacity, tokens + (now - at) * self._rate)
        if tokens >= 1:
            self._buckets[chat_id] = (tokens - 1, now, False)
            return "allow"
        self._buckets[chat_id] = (tokens, now, True)
        return "drop" if warned else "warn"


@dataclass(frozen=True, slots=True)
class Pending:
    chat_id: int
    user_id: int | None  # who asked: only they may confirm (a group chat has many members)
    command: Command
    expires_at: float


Outcome = Literal["accepted", "refused", "failed", "requested", "confirmed", "canceled",
                  "expired", "rate_limited", "unknown", "ignored"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: float  # Unix seconds
    actor: str  # telegram:<chat id>
    tenant_id: str  # empty for a chat not on the allow-list
    command: str
    args: str
    outcome: Outcome
    detail: str = ""
    user_id: int | None = None  # the Telegram user who sent it, when known


@dataclass
class AuditLog:
    """Every command a chat sent and what became of it: kept here (newest last, at most
    `keep`) and written as one structured log line each."""

    keep: int = 10_000
    records: list[AuditRecord] = field(default_factory=list)

    def add(self, record: AuditRecord) -> None:
        self.records.append(record)
        del self.records[:-self.keep]
        audit_log.info("bot_command", actor=record.actor, tenant_id=record.tenant_id,
                       user_id=record.user_id, command=record.command, args=record.args,
                       outcome=record.outcome, detail=record.detail)


def _rpc_error(exc: grpc.RpcError) -> str:
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    return f"{code.name if code else 'ERROR'}: {details}"


# -- the operator ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    chat_id: int
    user_id: int | None
    tenant_id: str = ""  # empty: not on the allow-list
    chat: ChatConfig | None = None

    @property
    def actor(self) -> str:
        return f"telegram:{self.chat_id}"


class Operator:
    """The bot's decisions for every allow-listed chat of every tenant in the config."""

    def __init__(self, config: BotConfig, connect: Connect = ControlClient,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 nonce: Callable[[], str] = lambda: secrets.token_urlsafe(12)) -> None:
        self.config = config
        self.audit = AuditLog()
        self._connect = connect
        self.clock = clock  # monotonic: confirmation deadlines
        self._wall_clock = wall_clock
        self._nonce = nonce
        self._limiter = RateLimiter(config.rate_limit, clock)
        self._pending: dict[str, Pending] = {}
        self._clients: dict[int, ControlApi] = {}

    def _caller(self, chat_id: int, user_id: int | None) -> Caller:
        known = self.config.chat(chat_id)
        if known is None:
            return Caller(chat_id, user_id)
        return Caller(chat_id, user_id, *known)

    def _record(self, caller: Caller, command: Command, outcome: Outcome,
                detail: str = "") -> None:
        self.audit.add(AuditRecord(self._wall_clock(), caller.actor, caller.tenant_id,
                                   command.name, command.args, outcome, detail,
                                   caller.user_id))

    def client(self, chat_id: int) -> ControlApi:
        """The control API as this chat: its tenant's address, its own token."""
        if chat_id not in self._clients:
            known = self.config.chat(chat_id)
            if known is None:
                raise KeyError(chat_id)
            tenant_id, chat = known
            plane = self.config.tenants[tenant_id]
            self._clients[chat_id] = self._connect(
                Endpoint(plane.control_address, chat.token.get_secret_value(), tenant_id,
                         ca_path=plane.control_ca_path))
        return self._clients[chat_id]

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()

    async def on_command(self, chat_id: int, text: str, bot_username: str = "",
                         user_id: int | None = None) -> Reply | None:
        """What to answer `text` sent in `chat_id` (by `user_id`); None: no answer."""
        command = parse_command(text, bot_username)
        caller = self._caller(chat_id, user_id)
        if caller.chat is None:
            if command is not None:
                log.warning("telegram chat %s is not on the allow-list: /%s ignored",
                            chat_id, command.name)
                self._record(caller, command, "ignored", "chat not on the allow-list")
            return None
        if command is None:
            return None
        allowance = self._limiter.take(chat_id)
        if allowance != "allow":
            self._record(caller, command, "rate_limited")
            if allowance == "drop":
                return None
            limit = self.config.rate_limit
            return Reply(f"Slow down: at most {limit.commands} commands per {limit.per_s:g} s. "
                         "Commands are ignored until then.")
        spec = COMMANDS.get(command.name)
        if spec is None:
            self._record(caller, command, "unknown")
            return Reply(f"Unknown command /{command.name}. /help lists the commands.")
        if caller.chat.level < spec.role:
            self._record(caller, command, "refused",
                         f"needs {spec.role.name.lower()}, chat is {caller.chat.role}")
            return Reply(f"Refused: /{command.name} needs the {spec.role.name.lower()} role; "
                         f"this chat is {caller.chat.role}.")
        if spec.confirm:
            return self._ask(caller, command, spec)
        return await self._run(caller, command, "accepted")

    def _ask(self, caller: Caller, command: Command, spec: CommandSpec) -> Reply:
        if not command.args:
            self._record(caller, command, "refused", "no reason given")
            return Reply(f"Usage: {spec.usage} (the reason goes to the audit trail).")
        now = self.clock()
        self._pending = {n: p for n, p in self._pending.items() if p.expires_at > now}
        nonce = self._nonce()
        self._pending[nonce] = Pending(caller.chat_id, caller.user_id, command,
                                       now + self.config.confirm_ttl_s)
        self._record(caller, command, "requested")
        what = ("LATCH THE HARDSTOP (kill switch: no new sagas, resting orders canceled)"
                if command.name == "kill" else "RESET THE HARDSTOP latch (trading may resume)")
        return Reply(f"{what} for tenant {caller.tenant_id}?\nReason: {command.args}\n"
                     f"Confirm within {self.config.confirm_ttl_s:g} s.",
                     (Button("Confirm", f"confirm:{nonce}"), Button("Cancel", f"cancel:{nonce}")))

    async def on_callback(self, chat_id: int, data: str,
                          user_id: int | None = None) -> CallbackOutcome | None:
        """What to answer a button press on a message in `chat_id`; None: no answer."""
        caller = self._caller(chat_id, user_id)
        action, _, nonce = data.partition(":")
        if caller.chat is None:
            log.warning("telegram chat %s is not on the allow-list: button ignored", chat_id)
            self._record(caller, Command("button", action), "ignored",
                         "chat not on the allow-list")
            return None
        pending = self._pending.get(nonce)
        if (action not in ("confirm", "cancel") or pending is None
                or pending.chat_id != chat_id or pending.user_id != user_id):
            # spent, expired and pruned, from before a restart, or another chat's or user's
            self._record(caller, Command("button", action), "refused",
                         "no pending confirmation of this chat and user")
            return CallbackOutcome("Nothing to confirm: nothing done.", None)
        del self._pending[nonce]
        command = pending.command
        if pending.expires_at <= self.clock():
            self._record(caller, command, "expired")
            return CallbackOutcome("Expired: nothing done.",
                                   f"Expired: /{command.name} was not confirmed in time; "
                                   "nothing done.")
        if action == "cancel":
            self._record(caller, command, "canceled")
            return CallbackOutcome("Canceled.", f"Canceled: /{command.name} {command.args}; "
                                   "nothing done.")
        reply = await self._run(caller, command, "confirmed")
        return CallbackOutcome("Failed." if reply.text.startswith("Failed") else "Done.",
                               reply.text)

    async def _run(self, caller: Caller, command: Command, outcome: Outcome) -> Reply:
        assert caller.chat is not None
        try:
            text = await self._execute(caller.chat_id, caller.chat, command)
        except grpc.RpcError as exc:
            detail = _rpc_error(exc)
            self._record(caller, command, "failed", detail)
            return Reply(f"Failed: /{command.name}: {detail}")
        self._record(caller, command, outcome)
        return Reply(text)

    async def _execute(self, chat_id: int, chat: ChatConfig, command: Command) -> str:
        reason = f"telegram:{chat_id}"
        match command.name:
            case "help":
                return help_text(chat.level)
            case "status":
                return format_status(await self.client(chat_id).status())
            case "positions":
                return format_positions(await self.client(chat_id).positions(command.args))
            case "sagas":
                state = command.args.split()[0] if command.args else ""
                reply = await self.client(chat_id).sagas(state=state, limit=SAGAS_SHOWN)
                return format_sagas(reply, state)
            case "pause" | "resume":
                paused = command.name == "pause"
                pair = command.args.split()[0] if command.args else ""
                status = await self.client(chat_id).set_paused(paused, reason, pair)
                what = f"pair {pair}" if pair else f"tenant {status.tenant_id}"
                return (f"{'Paused' if paused else 'Resumed'} {what}.\n\n"
                        + format_status(status))
            case "kill":
                status = await self.client(chat_id).kill(f"{command.args} ({reason})")
                lines = [f"HardStop latched: {status.hard_stop_reason or command.args}",
                         f"Canceled {len(status.canceled_venue_order_ids)} resting orders."]
                lines += [f"Not reached: {failure}" for failure in status.cancel_failures]
                if status.cancel_failures:
                    lines.append("The latch holds; send /kill again to sweep again.")
                return "\n".join(lines)
            case "reset":
                why, acknowledged = split_acknowledged(command.args)
                status = await self.client(chat_id).reset_hard_stop(f"{why} ({reason})",
                                                                    acknowledged)
                return ("HardStop reset.\n\n" if not status.hard_stop else
                        "HardStop still latched.\n\n") + format_status(status)
        raise AssertionError(command.name)


def split_acknowledged(args: str) -> tuple[str, list[str]]:
    """`ack=failed_unwind,reconciliation all checked` -> ("all checked", [the trips]): a
    failed unwind or reconciliation is reset only when named (risk refuses otherwise)."""
    words = args.split()
    acknowledged: list[str] = []
    while words and words[0].startswith("ack="):
        acknowledged += [trip for trip in words.pop(0).removeprefix("ack=").split(",") if trip]
    return " ".join(words), acknowledged


# -- alerts ---------------------------------------------------------------------------------


Push = Callable[[int, str], Awaitable[None]]


async def pump_alerts(tenant_id: str, client: ControlApi, chats: Iterable[int], push: Push,
                      settings: AlertsConfig,
                      on_event: Callable[[control_pb2.ControlEvent], None] | None = None,
                      ) -> None:
    """Push every alert of the tenant's event stream to each of `chats`, for ever:
    reconnecting with a doubling delay (reset by each event) when the stream ends or fails.
    A chat that cannot be reached is logged and skipped. `on_event` sees every event."""
    targets = tuple(chats)
    delay = settings.reconnect_min_s
    while True:
        try:
            async for event in client.events():
                delay = settings.reconnect_min_s
                if on_event is not None:
                    on_event(event)
                if event.WhichOneof("kind") != "alert":
                    continue
                text = format_alert(tenant_id, event.alert)
                for chat_id in targets:
                    try:
                        await push(chat_id, text)
                    except Exception:
                        log.exception("alert to telegram chat %s not delivered", chat_id)
            log.warning("tenant %s: the control event stream ended; reconnecting in %.1f s",
                        tenant_id, delay)
        except grpc.RpcError as exc:
            log.warning("tenant %s: the control event stream failed (%s); reconnecting in "
                        "%.1f s", tenant_id, _rpc_error(exc), delay)
        except Exception:  # a bug must not end the alerts for good: log it and go on
            log.exception("tenant %s: the alert pump failed; reconnecting in %.1f s",
                          tenant_id, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, settings.reconnect_max_s)
