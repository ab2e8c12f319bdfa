"""`arbiter ctl`: the control API from the terminal.

Against the embedded engine, nothing needs to be given: `arbiter run` announces its address
and an admin token in an endpoint file that only its owner can read. Against a cluster,
pass `--address` and `--token` (or ARBITER_CONTROL_ADDR / ARBITER_CONTROL_TOKEN) and the
tenant. Every command prints a table, or JSON with `--json`; the dangerous ones (kill,
HardStop reset, cancel-all, limit changes) ask first unless given `--yes`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from arbiter.control.client import (
    ControlClient,
    EndpointError,
    describe_error,
    resolve_endpoint,
)
from arbiter.control.service import state_name
from arbiter.core.instruments import Outcome
from arbiter.core.units import to_decimal
from arbiter.platform.cli_tools import choices
from arbiter.v1 import control_pb2, risk_pb2, saga_pb2

app = typer.Typer(help="Operate a running engine: status, positions, sagas, pause, kill, "
                  "HardStop reset, cancels, limits, audit.", no_args_is_help=True)
hardstop_app = typer.Typer(help="The risk HardStop latch.", no_args_is_help=True)
app.add_typer(hardstop_app, name="hardstop")

T = TypeVar("T")
if TYPE_CHECKING:
    SagaStateName = str
else:  # every saga state the protocol defines, as `sagas --state` takes it
    SagaStateName = choices("SagaStateName", (
        state_name(v).lower() for v in saga_pb2.SagaState.values()
        if v != saga_pb2.SAGA_STATE_UNSPECIFIED))
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
WatchOption = Annotated[float | None, typer.Option(
    help="Redraw every this many seconds until Ctrl-C; default: print once.", min=0.2,
    max=3600)]


@dataclass(frozen=True, slots=True)
class Target:
    address: str | None
    token: str | None
    tenant: str
    ca: str | None


@app.callback()
def _connect(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Option(
        help="HOST:PORT of the control API (or ARBITER_CONTROL_ADDR); default: the running "
             "`arbiter run`'s endpoint file.")] = None,
    token: Annotated[str | None, typer.Option(
        help="JWT to call with (or ARBITER_CONTROL_TOKEN).", show_default=False)] = None,
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "default",
    ca: Annotated[str | None, typer.Option(
        help="PEM of the plane's CA, for a control service on TLS (or ARBITER_CONTROL_CA); "
             "default: plaintext.")] = None,
) -> None:
    ctx.obj = Target(address, token, tenant, ca)


def _run(ctx: typer.Context, call: Callable[[ControlClient], Awaitable[T]]) -> T:
    """One client for the command; connection and call errors become one line and exit
    code 2 (nothing to talk to) or 1 (the server refused)."""
    target: Target = ctx.obj

    async def go() -> T:
        endpoint = resolve_endpoint(target.address, target.token, target.tenant,
                                    ca_path=target.ca)
        async with ControlClient(endpoint) as client:
            return await call(client)

    try:
        return asyncio.run(go())
    except EndpointError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except grpc.aio.AioRpcError as exc:
        typer.secho(f"error: {describe_error(exc)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _json(message: Message | dict[str, Any]) -> None:
    data = message if isinstance(message, dict) else MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not typer.confirm(question, default=False, err=True):
        typer.secho("nothing done", err=True)
        raise typer.Exit(1)


def usd(micros: int) -> str:
    return f"${to_decimal(micros).quantize(Decimal('0.01'))}"


def contracts(micros: int) -> str:
    return format(to_decimal(micros).normalize(), "f")


def when(micros: int) -> str:
    if not micros:
        return "-"
    return datetime.fromtimestamp(micros / 1e6, UTC).strftime("%H:%M:%S.%f")[:-3]


# -- rendering -------------------------------------------------------------------------------
def status_view(reply: control_pb2.StatusReply) -> Group:
    if reply.hard_stop:
        state = Text(f"HARD STOP: {reply.hard_stop_reason}", style="bold red")
        if len(reply.hard_stop_triggers) > 1:
            state.append(f" (+{len(reply.hard_stop_triggers) - 1} more)")
    elif not reply.ready:
        state = Text("NOT READY", style="bold yellow")
    else:
        state = Text("TRADING", style="bold green")
    head = Text(f"tenant {reply.tenant_id} · tier {reply.tier} · {reply.mode} · ")
    head.append_text(state)
    money = Text(f"realized {usd(reply.realized_pnl_micros)} · held cost "
                 f"{usd(reply.held_cost_micros)} · at risk {usd(reply.at_risk_micros)} · "
                 f"open sagas {reply.open_sagas}")
    venues = table("venues", ("venue", "connected", "not synced", "spendable", "reserved", "free",
                               "low"),
                   ((v.venue, "yes" if v.connected else Text("NO", style="red"),
                     ", ".join(v.missing) or "-",
                     usd(v.funds.spendable_micros) if v.funds_known else "unread",
                     usd(v.funds.reserved_micros) if v.funds_known else "-",
                     usd(v.funds.free_micros) if v.funds_known else "-",
                     Text("LOW", style="red") if v.funds.low else "no") for v in reply.venues))
    states = table("sagas by state", ("state", "count"),
                   ((name, str(count)) for name, count in sorted(reply.sagas_by_state.items())))
    parts: list[Any] = [head, money, venues, states]
    if reply.paused_pairs:
        parts.append(table("paused pairs", ("pair", "why"), sorted(reply.paused_pairs.items())))
    return Group(*parts)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table of `rows` under `columns` (every command's table is one of these)."""
    built = Table(title=title)
    for column in columns:
        built.add_column(column)
    for row in rows:
        built.add_row(*row)
    return built


STATE_STYLES = {"HELD": "bold red", "COMPLETED": "green", "COMPENSATED": "yellow"}


def sagas_table(sagas: list[control_pb2.SagaSummary], title: str) -> Table:
    return table(title, ("saga", "pair", "state", "leg 1", "leg 2", "pnl", "at", "detail"),
                 ((s.saga_id, s.pair_id, Text(s.state, style=STATE_STYLES.get(s.state, "")),
                   contracts(s.leg1_filled_micros), contracts(s.leg2_filled_micros),
                   usd(s.realized_pnl_micros), when(s.ts_micros), s.detail[:60])
                  for s in sagas))


def _print(renderable: Any) -> None:
    Console().print(renderable)


def _watch(render: Callable[[], Any], every: float) -> None:
    """Redraw until Ctrl-C."""
    try:
        with Live(render(), refresh_per_second=4, console=Console()) as live:
            while True:
                time.sleep(every)
                live.update(render())
    except KeyboardInterrupt:
        pass


# -- reads -----------------------------------------------------------------------------------
@app.command()
def status(ctx: typer.Context, as_json: JsonOption = False, watch: WatchOption = None) -> None:
    """Mode, readiness, HardStop and why, venues (connectivity, funds), sagas, PnL."""
    def render() -> Any:
        return status_view(_run(ctx, lambda c: c.status()))
    if watch:
        _watch(render, watch)
    elif as_json:
        _json(_run(ctx, lambda c: c.status()))
    else:
        _print(render())


@app.command()
def positions(
    ctx: typer.Context,
    venue: Annotated[str, typer.Option(help="Only this venue.")] = "",
    as_json: JsonOption = False,
) -> None:
    """What the tenant holds, by venue, market and outcome, with its cost."""
    reply = _run(ctx, lambda c: c.positions(venue))
    if as_json:
        _json(reply)
        return
    _print(table(f"positions · held cost {usd(reply.held_cost_micros)}",
                 ("venue", "market", "outcome", "contracts", "cost"),
                 ((p.venue, p.market_id, Outcome(p.outcome).name, contracts(p.qty_micros),
                   usd(p.cost_micros)) for p in reply.positions)))


@app.command()
def sagas(
    ctx: typer.Context,
    state: Annotated[SagaStateName | None, typer.Option(
        help="Only sagas in this state; default: every state.", case_sensitive=False)
    ] = None,
    pair: Annotated[str, typer.Option(help="Only this pair.")] = "",
    limit: Annotated[int, typer.Option(help="The newest this many.", min=1, max=10_000)] = 20,
    as_json: JsonOption = False,
    watch: WatchOption = None,
) -> None:
    """Recent sagas, newest last."""
    def fetch() -> control_pb2.SagasReply:
        return _run(ctx, lambda c: c.sagas(str(state or ""), pair, limit))

    def render() -> Table:
        reply = fetch()
        return sagas_table(list(reply.sagas), f"sagas · {reply.matched} matched")
    if watch:
        _watch(render, watch)
    elif as_json:
        _json(fetch())
    else:
        _print(render())


@app.command()
def saga(ctx: typer.Context, saga_id: Annotated[str, typer.Argument(help="The saga id.")],
         as_json: JsonOption = False) -> None:
    """One saga: its opportunity and its event log."""
    detail = _run(ctx, lambda c: c.saga(saga_id))
    if as_json:
        _json(detail)
        return
    opp = detail.opportunity
    _print(Text(f"saga {saga_id} · pair {detail.summary.pair_id} · {detail.summary.state} · "
                f"pnl {usd(detail.summary.realized_pnl_micros)}"))
    if opp.yes_leg.venue:
        _print(Text(f"YES {opp.yes_leg.venue}:{opp.yes_leg.market_id} @ "
                    f"{to_decimal(opp.yes_leg.limit_price_micros)} · NO "
                    f"{opp.no_leg.venue}:{opp.no_leg.market_id} @ "
                    f"{to_decimal(opp.no_leg.limit_price_micros)} · "
                    f"{contracts(opp.yes_leg.qty_micros)} contracts"))
    _print(table("events", ("v", "at", "state", "leg 1", "leg 2", "detail"),
                 ((str(e.version), when(e.ts_micros), state_name(e.state),
                   contracts(e.leg1_filled_micros), contracts(e.leg2_filled_micros), e.detail)
                  for e in detail.events)))


@app.command()
def audit(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(help="Only records after this sequence number.",
                                       min=0)] = 0,
    limit: Annotated[int, typer.Option(help="At most this many (the newest; 0: all).",
                                       min=0)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Risk's audit trail: latches, pauses, resets, readiness, limit changes, who and why."""
    async def newest(client: ControlClient) -> risk_pb2.AuditTrail:
        last = (await client.audit(limit=1)).last_seq
        start = max(after, last - limit) if limit else after
        return await client.audit(after_seq=start)
    trail = _run(ctx, newest)
    if as_json:
        _json(trail)
        return
    _print(table(f"audit · {trail.last_seq} records", ("#", "at", "actor", "action", "detail"),
                 ((str(e.seq), when(e.at_micros), e.actor, e.action,
                   e.detail + "".join(f"; {c.field}: {c.before} -> {c.after}"
                                      for c in e.changes)) for e in trail.entries)))


@app.command()
def events(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Follow saga changes, alerts and audit records as they happen, until Ctrl-C."""
    async def follow(client: ControlClient) -> None:
        async for event in client.events():
            if as_json:
                typer.echo(json.dumps(MessageToDict(event, preserving_proto_field_name=True),
                                      sort_keys=True))
                continue
            kind = event.WhichOneof("kind")
            if kind == "saga":
                s = event.saga
                line = (f"saga  {s.saga_id} {s.pair_id} {s.state} pnl "
                        f"{usd(s.realized_pnl_micros)} {s.detail}")
            elif kind == "alert":
                a = event.alert
                line = f"ALERT {a.severity} {a.kind}: {a.summary}"
            else:
                e = event.audit
                line = f"audit #{e.seq} {e.actor} {e.action}: {e.detail}"
            typer.echo(f"{when(event.ts_micros)} {line}")
    try:
        _run(ctx, follow)
    except KeyboardInterrupt:
        pass


@app.command()
def limits(
    ctx: typer.Context,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="KEY=VALUE to change (admin), e.g. max_exposure_usd=500; repeatable.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (for the audit trail).")] = "",
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show the risk limits and the tier's caps; with --set, change them."""
    changes: dict[str, str] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        changes[key.strip()] = value.strip()
    if changes:
        _confirm(yes, "Change " + ", ".join(f"{k} to {v}" for k, v in changes.items()) + "?")
    reply = _run(ctx, lambda c: c.limits(changes, reason))
    if as_json:
        _json(reply)
        return
    _print(table(f"risk limits · tier {reply.tier}", ("limit", "value", "tier cap"),
                 ((name, value, reply.tier_caps.get(name, ""))
                  for name, value in sorted(reply.limits.items()))))


# -- actions ---------------------------------------------------------------------------------
def _after(reply: control_pb2.StatusReply, as_json: bool) -> None:
    if as_json:
        _json(reply)
    else:
        _print(status_view(reply))


@app.command()
def pause(
    ctx: typer.Context,
    pair: Annotated[str, typer.Option(help="Pause only this pair; default: the tenant.")] = "",
    reason: Annotated[str, typer.Option(help="Why (for the audit trail).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Refuse new sagas (tenant-wide, or on one pair); open sagas finish, cancels flow."""
    _after(_run(ctx, lambda c: c.set_paused(True, reason, pair)), as_json)


@app.command()
def resume(
    ctx: typer.Context,
    pair: Annotated[str, typer.Option(help="Resume only this pair; default: the tenant.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Lift a pause. A kill switch or a risk trip stays latched: `hardstop reset` clears it."""
    _after(_run(ctx, lambda c: c.set_paused(False, pair_id=pair)), as_json)


@app.command()
def kill(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why (for the audit trail).")] = "",
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Latch the HardStop and cancel every resting order at every venue (admin)."""
    _confirm(yes, f"Kill switch for tenant {ctx.obj.tenant!r}: stop trading and cancel "
                  "every resting order?")
    reply = _run(ctx, lambda c: c.kill(reason or "operator kill switch"))
    if as_json:
        _json(reply)
        return
    _print(status_view(reply))
    _print(Text(f"canceled {len(reply.canceled_venue_order_ids)} resting orders"))
    for failure in reply.cancel_failures:
        typer.secho(f"could not cancel: {failure}", fg=typer.colors.RED, err=True)
    if reply.cancel_failures:
        raise typer.Exit(1)


@hardstop_app.command("reset")
def hardstop_reset(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why it is safe to trade again (required, "
                                             "audited).")],
    ack: Annotated[list[str] | None, typer.Option(
        "--ack", help="A safety trip you checked and clear: failed_unwind or reconciliation "
                      "(required when latched; repeatable).")] = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Clear every trip of the HardStop latch (admin; audited with your reason)."""
    _confirm(yes, f"Reset the HardStop of tenant {ctx.obj.tenant!r} and let it trade again?")
    _after(_run(ctx, lambda c: c.reset_hard_stop(reason, ack or ())), as_json)


@app.command("cancel-all")
def cancel_all(
    ctx: typer.Context,
    venue: Annotated[str, typer.Option(help="Only this venue; default: every venue.")] = "",
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Cancel every resting order (at one venue or all). Latches nothing: pause first to
    keep sagas from placing new ones."""
    _confirm(yes, f"Cancel every resting order at {venue or 'every venue'}?")
    reply = _run(ctx, lambda c: c.cancel_all(venue))
    if as_json:
        _json(reply)
    else:
        typer.echo(f"canceled {len(reply.canceled_venue_order_ids)} resting orders")
    for failure in reply.failures:
        typer.secho(f"could not cancel: {failure}", fg=typer.colors.RED, err=True)
    if reply.failures:
        raise typer.Exit(1)
