"""Control service: what operators see and do, for one tenant.

Sagas come from the saga event stream (control keeps each recent saga's event log), every
number about money and readiness from risk (`Risk.Snapshot`), and the audit trail is
risk's, so control holds no state of its own that a restart would lose. Pausing latches
risk's HardStop as a pause that a resume lifts; a pair's pause refuses new sagas on that
pair only; the kill switch latches the HardStop and then cancels every resting order at
every venue; only an explicit, audited reset clears a latch. Each change carries the
caller's identity (the JWT's subject and role) into risk's audit trail.

`Events` streams saga changes, the audit trail and the alerts derived from it (HardStop
latched, saga HELD, venue down, low balance, reconciliation mismatch) from the moment of
the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TypeVar

import grpc

from arbiter.core.instruments import Venue
from arbiter.platform import topics
from arbiter.platform.auth import LIMIT_CHANGE_ROLE, current_principal
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.ports import OrderEntryPort, RiskPort
from arbiter.platform.rpc import Context, require_tenant
from arbiter.platform.tenancy import UnknownTier, tenant_scoped, tier_named
from arbiter.v1 import (
    common_pb2,
    control_pb2,
    control_pb2_grpc,
    execution_pb2,
    risk_pb2,
    saga_pb2,
)

log = logging.getLogger(__name__)

RECENT = 20
KEPT_SAGAS = 2_000  # sagas whose event log control keeps (the oldest are forgotten first)
DEFAULT_SAGA_LIMIT = 50
AUDIT_POLL_S = 0.5  # how often an event stream looks for new audit records
SUBSCRIBER_QUEUE = 1_000  # saga events a slow stream may fall behind before it is ended
PAUSE_REASON = "paused by operator"
STATE_NAMES = frozenset(name.removeprefix("SAGA_STATE_")
                        for name in saga_pb2.SagaState.DESCRIPTOR.values_by_name
                        if name != "SAGA_STATE_UNSPECIFIED")


_RELAYED = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                      grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED})
T = TypeVar("T")
_POLL = control_pb2.ControlEvent()  # no saga event within a poll period: read the audit


def state_name(state: int) -> str:
    return saga_pb2.SagaState.Name(state).removeprefix("SAGA_STATE_")  # type: ignore[arg-type]


def summary(event: saga_pb2.SagaEvent, pair_id: str = "") -> control_pb2.SagaSummary:
    return control_pb2.SagaSummary(
        saga_id=event.saga_id, state=state_name(event.state), detail=event.detail,
        realized_pnl_micros=event.realized_pnl_micros, pair_id=pair_id,
        ts_micros=event.ts_micros, version=event.version,
        leg1_filled_micros=event.leg1_filled_micros,
        leg2_filled_micros=event.leg2_filled_micros)


def alert_of(entry: risk_pb2.AuditEntry) -> control_pb2.Alert | None:
    """The alert an audit record raises, if any."""
    action, detail = entry.action, entry.detail
    if action == "latched":
        return control_pb2.Alert(kind="hard_stop_latched", severity="critical",
                                 summary=f"HardStop latched by {entry.actor}: {detail}")
    if action == "positions_seeded":
        return control_pb2.Alert(kind="reconciliation_mismatch", severity="critical",
                                 venue=detail.split(":", 1)[0],
                                 summary=f"venue positions differ from the saga log: {detail}")
    if action == "readiness" and detail.endswith(" lost"):
        venue, _, aspect = detail.removesuffix(" lost").partition(":")
        if aspect == "market_data":
            return control_pb2.Alert(kind="venue_down", severity="critical", venue=venue,
                                     summary=f"{venue}: books are dark (stream down or gap)")
        if aspect == "funds":
            return control_pb2.Alert(kind="low_balance", severity="critical", venue=venue,
                                     summary=f"{venue}: spendable cash under the minimum")
    return None


class _Saga:
    __slots__ = ("events", "pair_id")

    def __init__(self, pair_id: str) -> None:
        self.pair_id = pair_id
        self.events: list[saga_pb2.SagaEvent] = []

    @property
    def latest(self) -> saga_pb2.SagaEvent:
        return self.events[-1]


class ControlServicer(control_pb2_grpc.ControlServicer):
    def __init__(self, bus: Bus, tenant: common_pb2.TenantContext, risk: RiskPort,
                 gateways: Mapping[Venue, OrderEntryPort], mode: str = "paper") -> None:
        self.tenant = tenant
        self.risk = risk
        self.gateways = gateways  # OrderEntry stubs, for the cancel sweeps
        self.mode = mode
        self.sagas: OrderedDict[str, _Saga] = OrderedDict()
        # totals over every saga seen, the forgotten ones included
        self._by_state: Counter[str] = Counter()
        self._realized = 0
        self._streams: set[asyncio.Queue[control_pb2.ControlEvent | None]] = set()
        group = f"control-{tenant.tenant_id}"
        bus.subscribe(topics.SAGA_EVENTS, group, saga_pb2.SagaEvent,
                      tenant_scoped(topics.SAGA_EVENTS, group, self.on_saga_event,
                                    serves=tenant.tenant_id))

    # -- the saga stream ---------------------------------------------------------------
    async def on_saga_event(self, envelope: Envelope[saga_pb2.SagaEvent]) -> None:
        event = envelope.value
        if event.tenant_id != self.tenant.tenant_id:
            return
        saga = self.sagas.get(event.saga_id)
        if saga is None:
            saga = self.sagas[event.saga_id] = _Saga(event.opportunity.pair_id)
            while len(self.sagas) > KEPT_SAGAS:
                self.sagas.popitem(last=False)
        if saga.events:
            if event.version <= saga.latest.version:
                return  # a redelivery, or older than what we have: never go back
            self._by_state[state_name(saga.latest.state)] -= 1
            self._realized -= saga.latest.realized_pnl_micros
        self._by_state[state_name(event.state)] += 1
        self._realized += event.realized_pnl_micros
        saga.events.append(event)
        saga.pair_id = saga.pair_id or event.opportunity.pair_id
        self.sagas.move_to_end(event.saga_id)
        self._publish(control_pb2.ControlEvent(ts_micros=event.ts_micros,
                                               saga=summary(event, saga.pair_id)))
        if event.state == saga_pb2.SAGA_STATE_HELD:
            self._publish(control_pb2.ControlEvent(ts_micros=event.ts_micros, alert=(
                control_pb2.Alert(kind="saga_held", severity="critical", saga_id=event.saga_id,
                                  summary=f"saga {event.saga_id} is HELD: {event.detail}"))))

    def _publish(self, event: control_pb2.ControlEvent) -> None:
        for queue in list(self._streams):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stream that cannot keep up is ended, not grown
                self._streams.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    # -- reads ---------------------------------------------------------------------------
    async def Status(self, request: control_pb2.StatusRequest,
                     context: Context) -> control_pb2.StatusReply:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        return await self._status(context)

    async def Positions(self, request: control_pb2.PositionsQuery,
                        context: Context) -> control_pb2.PositionsReply:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        await self._known_venue(request.venue, context)
        snapshot = await self._ask(context, self.risk.Snapshot(
            risk_pb2.RiskSnapshotRequest(tenant=self.tenant)))
        rows = [p for p in snapshot.positions if not request.venue or p.venue == request.venue]
        return control_pb2.PositionsReply(positions=rows,
                                          held_cost_micros=sum(p.cost_micros for p in rows))

    async def Sagas(self, request: control_pb2.SagasQuery,
                    context: Context) -> control_pb2.SagasReply:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        wanted = request.state.upper()
        if wanted and wanted not in STATE_NAMES:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"state {request.state!r} is not a saga state; known: "
                                f"{', '.join(sorted(STATE_NAMES))}")
        matched = [summary(saga.latest, saga.pair_id) for saga in self.sagas.values()
                   if (not wanted or state_name(saga.latest.state) == wanted)
                   and (not request.pair_id or saga.pair_id == request.pair_id)]
        limit = request.limit or DEFAULT_SAGA_LIMIT
        return control_pb2.SagasReply(sagas=matched[-limit:], matched=len(matched))

    async def Saga(self, request: control_pb2.SagaQuery,
                   context: Context) -> control_pb2.SagaDetail:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        saga = self.sagas.get(request.saga_id)
        if saga is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"no saga {request.saga_id!r} among the {len(self.sagas)} "
                                "this control service has seen")
        created = next((e.opportunity for e in saga.events if e.HasField("opportunity")), None)
        return control_pb2.SagaDetail(summary=summary(saga.latest, saga.pair_id),
                                      opportunity=created, events=saga.events)

    async def Audit(self, request: risk_pb2.AuditQuery, context: Context) -> risk_pb2.AuditTrail:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        return await self._ask(context, self.risk.Audit(risk_pb2.AuditQuery(
            tenant=self.tenant, after_seq=request.after_seq, limit=request.limit)))

    async def Limits(self, request: control_pb2.LimitsRequest,
                     context: Context) -> control_pb2.LimitsReply:
        """Read the limits; with `set`, change them (admin), within the tier's caps."""
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        principal = current_principal()
        if request.set and principal is not None and principal.role < LIMIT_CHANGE_ROLE:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"changing limits needs {LIMIT_CHANGE_ROLE.name.lower()}; "
                                f"{principal.subject!r} is {principal.role.name.lower()}")
        state = await self._ask(context, self.risk.UpdateLimits(risk_pb2.UpdateLimitsRequest(
            tenant=self.tenant, set=request.set, actor=_actor(),
            reason=request.reason or "no reason given")))
        reply = control_pb2.LimitsReply(limits=state.limits, tier=self.tenant.tier)
        with contextlib.suppress(UnknownTier):
            reply.tier_caps.update(tier_named(self.tenant.tier).caps_by_name())
        return reply

    async def Events(self, request: control_pb2.EventsRequest,
                     context: Context) -> AsyncIterator[control_pb2.ControlEvent]:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        queue: asyncio.Queue[control_pb2.ControlEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._streams.add(queue)
        try:
            seen = (await self._ask(context, self.risk.Audit(
                risk_pb2.AuditQuery(tenant=self.tenant, limit=1)))).last_seq
            loop = asyncio.get_running_loop()
            poll_at = loop.time() + AUDIT_POLL_S
            while True:
                if loop.time() < poll_at:  # a busy saga stream never starves the audit
                    event: control_pb2.ControlEvent | None = _POLL
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(poll_at):
                            event = await queue.get()
                    if event is None:
                        return  # fell too far behind and was ended: the client reconnects
                    if event is not _POLL:
                        yield event  # outside the timeout: a slow write is never cancelled
                        continue
                poll_at = loop.time() + AUDIT_POLL_S
                trail = await self._ask(context, self.risk.Audit(
                    risk_pb2.AuditQuery(tenant=self.tenant, after_seq=seen)))
                for entry in trail.entries:
                    seen = entry.seq
                    yield control_pb2.ControlEvent(ts_micros=entry.at_micros, audit=entry)
                    if (alert := alert_of(entry)) is not None:
                        yield control_pb2.ControlEvent(ts_micros=entry.at_micros, alert=alert)
        finally:
            self._streams.discard(queue)

    # -- actions -------------------------------------------------------------------------
    async def SetPaused(self, request: control_pb2.PauseRequest,
                        context: Context) -> control_pb2.StatusReply:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        if request.pair_id:
            await self._ask(context, self.risk.PausePair(risk_pb2.PairPauseRequest(
                tenant=self.tenant, pair_id=request.pair_id, paused=request.paused,
                reason=request.reason or PAUSE_REASON, actor=_actor())))
            return await self._status(context)
        # a resume lifts the pause only: a kill switch or a monitor's trip stays latched
        # until an explicit, audited reset
        if request.paused:
            change = risk_pb2.HardStopRequest(tenant=self.tenant, pause=True, actor=_actor(),
                                              reason=request.reason or PAUSE_REASON)
        else:
            change = risk_pb2.HardStopRequest(tenant=self.tenant, resume=True, actor=_actor())
        await self._ask(context, self.risk.HardStop(change))
        return await self._status(context)

    async def KillSwitch(self, request: control_pb2.KillSwitchRequest,
                         context: Context) -> control_pb2.StatusReply:
        """Latch the HardStop, then cancel everything resting. Risk being unreachable does
        not stop the sweep: the cancels go out and the reply names the latch that failed."""
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        unlatched = ""
        try:
            await self.risk.HardStop(risk_pb2.HardStopRequest(
                tenant=self.tenant, actor=_actor(),
                reason=f"kill switch: {request.reason or 'no reason given'}"))
        except grpc.RpcError as exc:
            unlatched = f"risk: HardStop NOT latched ({exc}); retry the kill switch"
            log.error("kill switch: %s", unlatched)
        canceled, failures = await self.cancel_everything()
        if unlatched:
            reply = control_pb2.StatusReply(tenant_id=self.tenant.tenant_id,
                                            tier=self.tenant.tier, mode=self.mode)
            failures.insert(0, unlatched)
        else:
            reply = await self._status(context)
        reply.canceled_venue_order_ids.extend(canceled)
        reply.cancel_failures.extend(failures)
        return reply

    async def ResetHardStop(self, request: control_pb2.ResetRequest,
                            context: Context) -> control_pb2.StatusReply:
        """Clear every trip of the latch: a human decision, so it must say why, and name each
        failed unwind or reconciliation it clears (risk refuses it otherwise)."""
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        if not request.reason.strip():
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "a HardStop reset needs a reason (it goes to the audit trail)")
        await self._ask(context, self.risk.HardStop(risk_pb2.HardStopRequest(
            tenant=self.tenant, reset=True, actor=_actor(), reason=request.reason.strip(),
            acknowledged=request.acknowledge)))
        return await self._status(context)

    async def CancelAll(self, request: control_pb2.CancelAllVenueRequest,
                        context: Context) -> control_pb2.CancelAllReply:
        """Every resting order at one venue (or all). Nothing is latched: without a pause or
        the kill switch, the sagas may place new orders at once."""
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        await self._known_venue(request.venue, context)
        canceled, failures = await self.cancel_everything(request.venue or None)
        return control_pb2.CancelAllReply(canceled_venue_order_ids=canceled, failures=failures)

    async def cancel_everything(self, venue: Venue | None = None) -> tuple[list[str], list[str]]:
        """Every resting order at every venue (or `venue`). One venue failing does not stop
        the others; the failure is reported by name."""
        canceled: list[str] = []
        failures: list[str] = []
        for name, gateway in sorted(self.gateways.items()):
            if venue is not None and name != venue:
                continue
            try:
                result = await gateway.CancelAll(
                    execution_pb2.CancelAllRequest(tenant=self.tenant))
            except grpc.RpcError as exc:
                failures.append(f"{name}: {exc.code().name}: {exc.details()}")
                continue
            canceled += result.canceled_venue_order_ids
        if failures:
            log.error("cancel-all: could not cancel at %s", "; ".join(failures))
        return canceled, failures

    # -- helpers -------------------------------------------------------------------------
    async def _known_venue(self, venue: str, context: Context) -> None:
        if venue and venue not in self.gateways:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"venue {venue!r} is not traded here; known: "
                                f"{', '.join(sorted(self.gateways))}")

    async def _ask(self, context: Context, call: Awaitable[T]) -> T:
        """Risk's answer; its refusal reaches the caller with risk's own status code
        (a bad limit is INVALID_ARGUMENT, not an opaque UNKNOWN), risk down as UNAVAILABLE."""
        try:
            return await call
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
            await context.abort(code if code in _RELAYED else grpc.StatusCode.UNAVAILABLE,
                                f"risk: {details}")

    async def _status(self, context: Context) -> control_pb2.StatusReply:
        risk = await self._ask(context, self.risk.Snapshot(
            risk_pb2.RiskSnapshotRequest(tenant=self.tenant)))
        stop = risk.hard_stop
        reply = control_pb2.StatusReply(
            tenant_id=self.tenant.tenant_id, tier=self.tenant.tier, mode=self.mode,
            paused=stop.paused, hard_stop=stop.latched, hard_stop_reason=stop.reason,
            hard_stop_triggers=stop.triggers, hard_stop_clears_at_micros=stop.clears_at_micros,
            ready=all(not v.missing for v in risk.venues), paused_pairs=risk.paused_pairs,
            held_cost_micros=risk.held_cost_micros, at_risk_micros=risk.at_risk_micros,
            open_sagas=risk.open_sagas)
        for venue in risk.venues:
            reply.venues.append(control_pb2.VenueStatus(
                venue=venue.venue, connected="market_data" not in venue.missing,
                missing=venue.missing, funds_known=venue.funds_known, funds=venue.funds))
        reply.sagas_by_state.update({k: n for k, n in self._by_state.items() if n})
        reply.realized_pnl_micros = self._realized
        for saga in list(self.sagas.values())[-RECENT:]:
            reply.recent.append(summary(saga.latest, saga.pair_id))
        return reply


def _actor() -> str:
    """Who is asking, for risk's audit trail: the token's subject and role."""
    principal = current_principal()
    if principal is None:
        return "control (in-process)"
    return f"{principal.subject} ({principal.role.name.lower()})"
