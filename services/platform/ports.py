"""Typed ports: the calls one service makes on another, as Protocols.

Both topologies satisfy them with the same call shape (`await port.CheckRisk(request)`):
distributed, a generated grpc.aio stub on a channel; embedded, `arbiter.platform.rpc.LocalStub`
over the very servicer object. Services depend on these, never on a stub class or `Any`, so
mypy checks what each call sends and gets back.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from arbiter.v1 import common_pb2, execution_pb2, risk_pb2


class RiskPort(Protocol):
    """What the saga and control services ask of a tenant's risk service."""

    def CheckRisk(
        self, request: risk_pb2.RiskCheckRequest, /
    ) -> Awaitable[risk_pb2.RiskDecision]: ...

    def RecordFill(self, request: risk_pb2.FillRecord, /) -> Awaitable[risk_pb2.Empty]: ...

    def RecordSettlement(self, request: risk_pb2.SettlementRecord, /
                         ) -> Awaitable[risk_pb2.Empty]: ...

    def CloseSaga(self, request: risk_pb2.SagaClosed, /) -> Awaitable[risk_pb2.Empty]: ...

    def HardStop(
        self, request: risk_pb2.HardStopRequest, /
    ) -> Awaitable[risk_pb2.HardStopState]: ...

    def MarkReady(
        self, request: risk_pb2.ReadinessRequest, /
    ) -> Awaitable[risk_pb2.ReadinessState]: ...

    def SeedPositions(
        self, request: risk_pb2.PositionsSeed, /
    ) -> Awaitable[risk_pb2.PositionsSeedResult]: ...

    def UpdateLimits(
        self, request: risk_pb2.UpdateLimitsRequest, /
    ) -> Awaitable[risk_pb2.RiskLimitsState]: ...

    def ReportBalance(
        self, request: risk_pb2.BalanceReport, /
    ) -> Awaitable[risk_pb2.FundsState]: ...

    def PausePair(
        self, request: risk_pb2.PairPauseRequest, /
    ) -> Awaitable[risk_pb2.PairPauses]: ...

    def Snapshot(
        self, request: risk_pb2.RiskSnapshotRequest, /
    ) -> Awaitable[risk_pb2.RiskSnapshot]: ...

    def Audit(self, request: risk_pb2.AuditQuery, /) -> Awaitable[risk_pb2.AuditTrail]: ...


class OrderEntryPort(Protocol):
    """What the saga and control services ask of one venue's gateway."""

    def PlaceOrder(
        self, request: execution_pb2.OrderRequest, /
    ) -> Awaitable[execution_pb2.OrderAck]: ...

    def ReconcileOrder(
        self, request: execution_pb2.OrderRequest, /
    ) -> Awaitable[execution_pb2.OrderAck]: ...

    def CancelOrder(
        self, request: execution_pb2.CancelRequest, /
    ) -> Awaitable[execution_pb2.CancelAck]: ...

    def PlaceOrders(
        self, request: execution_pb2.OrderBatch, /
    ) -> Awaitable[execution_pb2.OrderBatchAck]: ...

    def CancelAll(
        self, request: execution_pb2.CancelAllRequest, /
    ) -> Awaitable[execution_pb2.CancelAllResult]: ...

    def CancelOrphans(
        self, request: execution_pb2.OrphanSweep, /
    ) -> Awaitable[execution_pb2.OrphanSweepResult]: ...

    def FetchPositions(
        self, request: execution_pb2.PositionsRequest, /
    ) -> Awaitable[common_pb2.PositionsSnapshot]: ...

    def FetchSettlements(
        self, request: execution_pb2.PositionsRequest, /
    ) -> Awaitable[execution_pb2.SettlementsSnapshot]: ...
