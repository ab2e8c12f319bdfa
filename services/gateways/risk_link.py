"""What a gateway tells its tenant's risk service: whether its books can be traded on, and
what its venue lets the tenant spend.

Risk refuses new sagas until every venue's market data is up (`ReadinessReporter`) and
sizes each one to what both legs' venues can pay for (`BalanceReporter`). Both report from
a background task, so a slow or restarting risk service never holds up the book stream;
each keeps only the newest state to send and retries until risk has it. `flush()` waits
for what is pending: the lock-step embedded mesh calls it, so a seed gives the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from arbiter.gateways.base import VenueGateway
from arbiter.platform.ports import RiskPort
from arbiter.v1 import common_pb2, execution_pb2, risk_pb2

log = logging.getLogger(__name__)

RETRY_S = 1.0
INT64_MAX = 2**63 - 1
AFTER_FILL_S = 0.25  # let a burst of fills settle into one read


class ReadinessReporter:
    """Market-data readiness: lost the moment a book goes dark (socket down, gap, garbled
    frame), up again once every book has a fresh snapshot."""

    def __init__(self, gateway: VenueGateway, risk: RiskPort,
                 tenant: common_pb2.TenantContext) -> None:
        self.gateway = gateway
        self.risk = risk
        self.tenant = tenant
        self.sent: bool | None = None  # what risk was last told
        self._wanted = gateway.books_live
        self._changed = asyncio.Event()
        self._changed.set()  # risk knows nothing yet
        self._idle = asyncio.Event()
        gateway.on_market_data = self.update

    def update(self, live: bool) -> None:
        self._wanted = live
        self._idle.clear()
        self._changed.set()

    async def run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            wanted = self._wanted
            if wanted != self.sent and not await self._send(wanted):
                self._changed.set()
                await asyncio.sleep(RETRY_S)
                continue
            if not self._changed.is_set():
                self._idle.set()

    async def flush(self) -> None:
        await self._idle.wait()

    async def _send(self, live: bool) -> bool:
        venue = self.gateway.venue
        try:
            await self.risk.MarkReady(risk_pb2.ReadinessRequest(
                tenant=self.tenant, venue=venue, aspect=risk_pb2.READINESS_ASPECT_MARKET_DATA,
                lost=not live, actor=f"gateway-{venue}"))
        except Exception as exc:  # noqa: BLE001 - any failure to reach risk is retried
            log.warning("gateway-%s: risk not told market data is %s (%s); retrying", venue,
                        "up" if live else "down", exc)
            return False
        self.sent = live
        return True


class BalanceReporter:
    """The venue balance, read at start, shortly after our fills and every `refresh_s`.

    Risk subtracts our buys as they fill; these reads correct that running count (sells,
    settlements, deposits, fees charged differently). A failed read keeps risk's last view
    and is retried within a second; until a first read lands the venue's funds readiness
    stays down.
    """

    def __init__(self, gateway: VenueGateway, risk: RiskPort,
                 tenant: common_pb2.TenantContext, refresh_s: float,
                 after_fill_s: float = AFTER_FILL_S) -> None:
        self.gateway = gateway
        self.risk = risk
        self.tenant = tenant
        self.refresh_s = refresh_s
        self.after_fill_s = after_fill_s
        self.reads = 0
        self.failures = 0
        self.first_read = asyncio.Event()  # set once the first read was tried
        self._due = asyncio.Event()

    async def report(self) -> risk_pb2.FundsState | None:
        """Read the venue balance and tell risk; None (logged, counted) when either fails."""
        venue = self.gateway.venue
        try:
            balance = await self.gateway.balance()
            request = risk_pb2.BalanceReport(tenant=self.tenant, venue=venue,
                                             cash_micros=balance.cash,
                                             actor=f"gateway-{venue}")
            if balance.allowance is not None:  # often "unlimited": 2**256 - 1 base units
                request.allowance_micros = min(balance.allowance, INT64_MAX)
            state = await self.risk.ReportBalance(request)
        except Exception as exc:  # noqa: BLE001 - any failure is retried, never fatal
            self.failures += 1
            log.warning("gateway-%s: balance not reported (%s); retrying", venue, exc)
            return None
        self.reads += 1
        if state.low:
            log.error("gateway-%s: balance low (%s micro-dollars spendable): trading "
                      "readiness is down", venue, state.spendable_micros)
        return state

    def saw(self, report: execution_pb2.ExecutionReport) -> None:
        """One of the gateway's execution reports: a fill moves the balance, read it soon."""
        if report.kind == execution_pb2.REPORT_KIND_FILL:
            self._due.set()

    async def run(self) -> None:
        """Read now, then after fills (coalesced) and every `refresh_s`; retry a failed
        read within a second.

        `asyncio.timeout`, not `wait_for`: on Python 3.11 a cancel that lands as a fill sets
        `_due` is swallowed by `wait_for`, and `close()` then waits on this loop forever."""
        retry = await self.report() is None
        self.first_read.set()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S if retry else self.refresh_s):
                    await self._due.wait()
                await asyncio.sleep(self.after_fill_s)
            self._due.clear()
            retry = await self.report() is None


class RiskLink:
    """Both reporters of one gateway, started and stopped together."""

    def __init__(self, gateway: VenueGateway, risk: RiskPort,
                 tenant: common_pb2.TenantContext, balance_refresh_s: float) -> None:
        self.readiness = ReadinessReporter(gateway, risk, tenant)
        self.balance = BalanceReporter(gateway, risk, tenant, balance_refresh_s)
        forward = gateway.on_report

        async def on_report(report: execution_pb2.ExecutionReport) -> None:
            self.balance.saw(report)
            await forward(report)

        gateway.on_report = on_report
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.readiness.run()),
                       asyncio.create_task(self.balance.run())]

    async def flush(self) -> None:
        """Wait until the first balance read was tried and risk has the newest readiness
        (what a lock-step step waits for, so a seed replays the same)."""
        await self.balance.first_read.wait()
        await self.readiness.flush()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
