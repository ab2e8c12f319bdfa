"""Control service: follows the saga event stream and answers operators.

Pausing is enforced by latching the risk HardStop (new risk blocked, cancels and
reduce-only still flow) and resuming resets it; the kill switch latches it with the
operator's reason and then cancels every resting order at every venue. State comes only
from the bus, so control can restart freely.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping

import grpc

from arbiter.core.instruments import Venue
from arbiter.platform import topics
from arbiter.platform.bus import Bus, Envelope
from arbiter.platform.ports import OrderEntryPort, RiskPort
from arbiter.platform.rpc import require_tenant
from arbiter.platform.tenancy import tenant_scoped
from arbiter.v1 import common_pb2, control_pb2, control_pb2_grpc, execution_pb2, risk_pb2, saga_pb2

log = logging.getLogger(__name__)

RECENT = 20
PAUSE_REASON = "paused by operator"


class ControlServicer(control_pb2_grpc.ControlServicer):
    def __init__(self, bus: Bus, tenant: common_pb2.TenantContext, risk: RiskPort,
                 gateways: Mapping[Venue, OrderEntryPort]) -> None:
        self.tenant = tenant
        self.risk = risk
        self.gateways = gateways  # OrderEntry stubs, for the kill switch's sweep
        self.sagas: OrderedDict[str, saga_pb2.SagaEvent] = OrderedDict()
        group = f"control-{tenant.tenant_id}"
        bus.subscribe(topics.SAGA_EVENTS, group, saga_pb2.SagaEvent,
                      tenant_scoped(topics.SAGA_EVENTS, group, self.on_saga_event,
                                    serves=tenant.tenant_id))

    async def on_saga_event(self, envelope: Envelope[saga_pb2.SagaEvent]) -> None:
        event = envelope.value
        if event.tenant_id != self.tenant.tenant_id:
            return
        known = self.sagas.get(event.saga_id)
        if known is None or event.version >= known.version:  # redeliveries never go back
            self.sagas[event.saga_id] = event
            self.sagas.move_to_end(event.saga_id)

    async def Status(self, request: control_pb2.StatusRequest, context) -> control_pb2.StatusReply:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        return await self._status()

    async def SetPaused(self, request: control_pb2.PauseRequest, context) -> control_pb2.StatusReply:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        # a resume lifts the pause only: a kill switch or a monitor's trip stays latched
        # until an explicit, audited reset
        if request.paused:
            change = risk_pb2.HardStopRequest(tenant=self.tenant, pause=True,
                                              reason=request.reason or PAUSE_REASON)
        else:
            change = risk_pb2.HardStopRequest(tenant=self.tenant, resume=True)
        await self.risk.HardStop(change)
        return await self._status()

    async def KillSwitch(self, request: control_pb2.KillSwitchRequest, context) -> control_pb2.StatusReply:
        await require_tenant(request.tenant, self.tenant.tenant_id, context)
        await self.risk.HardStop(risk_pb2.HardStopRequest(
            tenant=self.tenant, reason=f"kill switch: {request.reason or 'no reason given'}"))
        canceled, failures = await self.cancel_everything()
        reply = await self._status()
        reply.canceled_venue_order_ids.extend(canceled)
        reply.cancel_failures.extend(failures)
        return reply

    async def cancel_everything(self) -> tuple[list[str], list[str]]:
        """After the latch (nothing new can start): every resting order at every venue.
        One venue failing does not stop the others; the failure is reported by name."""
        canceled: list[str] = []
        failures: list[str] = []
        for venue, gateway in sorted(self.gateways.items()):
            try:
                result = await gateway.CancelAll(
                    execution_pb2.CancelAllRequest(tenant=self.tenant))
            except grpc.RpcError as exc:
                failures.append(f"{venue}: {exc.code().name}: {exc.details()}")
                continue
            canceled += result.canceled_venue_order_ids
        if failures:
            log.error("kill switch: could not cancel at %s", "; ".join(failures))
        return canceled, failures

    async def _status(self) -> control_pb2.StatusReply:
        stop = await self.risk.HardStop(risk_pb2.HardStopRequest(tenant=self.tenant))
        reply = control_pb2.StatusReply(
            tenant_id=self.tenant.tenant_id,
            paused=stop.paused,
            hard_stop=stop.latched,
            hard_stop_reason=stop.reason,
        )
        for event in self.sagas.values():
            state = saga_pb2.SagaState.Name(event.state).removeprefix("SAGA_STATE_")
            reply.sagas_by_state[state] = reply.sagas_by_state[state] + 1
            reply.realized_pnl_micros += event.realized_pnl_micros
        for event in list(self.sagas.values())[-RECENT:]:
            reply.recent.append(control_pb2.SagaSummary(
                saga_id=event.saga_id,
                state=saga_pb2.SagaState.Name(event.state).removeprefix("SAGA_STATE_"),
                detail=event.detail, realized_pnl_micros=event.realized_pnl_micros))
        return reply
