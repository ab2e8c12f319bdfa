"""A minimal Control gRPC service for the bot's tests, served on loopback with grpc.aio so
the bot's real `ControlClient` goes over the wire.

It checks the bearer token's role like the control service does (viewer < trader <
admin; UNAUTHENTICATED for an unknown token, PERMISSION_DENIED below the method's role),
records every call that passed, keeps a tiny tenant state (pause, pairs, HardStop latch),
and streams events to subscribers: `alert()` injects one; the kill switch emits
`hard_stop_latched` as the engine does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import grpc

from arbiter.v1 import common_pb2, control_pb2, control_pb2_grpc, risk_pb2

VIEWER, TRADER, ADMIN = 1, 2, 3
TOKENS = {"tok-viewer": VIEWER, "tok-trader": TRADER, "tok-admin": ADMIN}
ROLES = {"Status": VIEWER, "Positions": VIEWER, "Sagas": VIEWER, "Events": VIEWER,
         "SetPaused": TRADER, "KillSwitch": ADMIN, "ResetHardStop": ADMIN}


@dataclass
class Call:
    method: str
    token: str
    request: Any


@dataclass
class FakeControl(control_pb2_grpc.ControlServicer):
    tenant_id: str = "acme"
    calls: list[Call] = field(default_factory=list)
    paused: bool = False
    paused_pairs: dict[str, str] = field(default_factory=dict)
    hard_stop_reason: str = ""

    def __post_init__(self) -> None:
        self._subscribers: list[asyncio.Queue[control_pb2.ControlEvent | None]] = []
        self.subscriptions = 0  # Events calls accepted so far
        self.changed = asyncio.Condition()

    # -- test controls --------------------------------------------------------------------

    async def wait_subscribed(self, count: int = 1, timeout: float = 10.0) -> None:
        """Until `count` Events calls in all were accepted and one is open now."""
        async def wait() -> None:
            async with self.changed:
                while self.subscriptions < count or not self._subscribers:
                    await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def alert(self, kind: str, summary: str, severity: str = "critical", venue: str = "",
              saga_id: str = "") -> None:
        self._emit(control_pb2.ControlEvent(ts_micros=1, alert=control_pb2.Alert(
            kind=kind, severity=severity, summary=summary, venue=venue, saga_id=saga_id)))

    def methods(self) -> list[str]:
        """The unary calls, in order (the alert stream's Events calls run alongside)."""
        return [call.method for call in self.calls if call.method != "Events"]

    def last(self, method: str) -> Call:
        return [call for call in self.calls if call.method == method][-1]

    def _emit(self, event: control_pb2.ControlEvent) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def _allow(self, method: str, context: grpc.aio.ServicerContext,
                     request: Any) -> None:
        metadata = dict(context.invocation_metadata() or ())
        token = str(metadata.get("authorization", "")).removeprefix("Bearer ")
        role = TOKENS.get(token)
        if role is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid token")
        elif role < ROLES[method]:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{method} needs more")
        elif request.tenant.tenant_id != self.tenant_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "another tenant")
        self.calls.append(Call(method, token, request))

    def _status(self) -> control_pb2.StatusReply:
        return control_pb2.StatusReply(
            tenant_id=self.tenant_id, paused=self.paused, hard_stop=bool(self.hard_stop_reason),
            hard_stop_reason=self.hard_stop_reason, mode="paper", tier="pro", ready=True,
            sagas_by_state={"COMPLETED": 3, "HELD": 1}, realized_pnl_micros=1_250_000,
            open_sagas=1, paused_pairs=self.paused_pairs, held_cost_micros=40_000_000,
            venues=[control_pb2.VenueStatus(
                venue="kalshi", connected=True, funds_known=True,
                funds=risk_pb2.FundsState(venue="kalshi", spendable_micros=900_000_000,
                                          free_micros=800_000_000))])

    # -- the service ----------------------------------------------------------------------

    async def Status(self, request: control_pb2.StatusRequest,
                     context: grpc.aio.ServicerContext) -> control_pb2.StatusReply:
        await self._allow("Status", context, request)
        return self._status()

    async def Positions(self, request: control_pb2.PositionsQuery,
                        context: grpc.aio.ServicerContext) -> control_pb2.PositionsReply:
        await self._allow("Positions", context, request)
        return control_pb2.PositionsReply(held_cost_micros=40_000_000, positions=[
            risk_pb2.HeldPosition(venue="kalshi", market_id="FED-25DEC",
                                  outcome=common_pb2.OUTCOME_YES, qty_micros=100_000_000,
                                  cost_micros=40_000_000)])

    async def Sagas(self, request: control_pb2.SagasQuery,
                    context: grpc.aio.ServicerContext) -> control_pb2.SagasReply:
        await self._allow("Sagas", context, request)
        sagas = [control_pb2.SagaSummary(saga_id="acme:op-1", state="COMPLETED", pair_id="fed"),
                 control_pb2.SagaSummary(saga_id="acme:op-2", state="HELD", pair_id="fed",
                                         detail="leg 2 rejected")]
        if request.state:
            sagas = [s for s in sagas if s.state == request.state.upper()]
        return control_pb2.SagasReply(sagas=sagas, matched=len(sagas))

    async def SetPaused(self, request: control_pb2.PauseRequest,
                        context: grpc.aio.ServicerContext) -> control_pb2.StatusReply:
        await self._allow("SetPaused", context, request)
        if request.pair_id and request.paused:
            self.paused_pairs[request.pair_id] = request.reason
        elif request.pair_id:
            self.paused_pairs.pop(request.pair_id, None)
        else:
            self.paused = request.paused
        return self._status()

    async def KillSwitch(self, request: control_pb2.KillSwitchRequest,
                         context: grpc.aio.ServicerContext) -> control_pb2.StatusReply:
        await self._allow("KillSwitch", context, request)
        self.hard_stop_reason = f"kill switch: {request.reason}"
        self.alert("hard_stop_latched", f"HardStop latched: {self.hard_stop_reason}")
        status = self._status()
        status.canceled_venue_order_ids.append("kalshi:o-1")
        return status

    async def ResetHardStop(self, request: control_pb2.ResetRequest,
                            context: grpc.aio.ServicerContext) -> control_pb2.StatusReply:
        await self._allow("ResetHardStop", context, request)
        self.hard_stop_reason = ""
        return self._status()

    async def Events(self, request: control_pb2.EventsRequest,
                     context: grpc.aio.ServicerContext) -> Any:
        await self._allow("Events", context, request)
        queue: asyncio.Queue[control_pb2.ControlEvent | None] = asyncio.Queue()
        self._subscribers.append(queue)
        async with self.changed:
            self.subscriptions += 1
            self.changed.notify_all()
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(queue)


class ControlServer:
    """FakeControl served on 127.0.0.1; `restart()` serves it again on the same port."""

    def __init__(self, servicer: FakeControl) -> None:
        self.servicer = servicer
        self.port = 0
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        server = grpc.aio.server()
        control_pb2_grpc.add_ControlServicer_to_server(self.servicer, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()
