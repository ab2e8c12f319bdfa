"""The gateway's balance reporter stops when told, whatever it was waiting on: a stop that
hangs leaves a crashed engine's restart (and `arbiter run`'s orderly stop) waiting forever."""

from __future__ import annotations

import asyncio

import pytest

from arbiter.gateways.base import VenueBalance
from arbiter.gateways.risk_link import BalanceReporter
from arbiter.v1 import common_pb2, execution_pb2, risk_pb2

FILL = execution_pb2.ExecutionReport(kind=execution_pb2.REPORT_KIND_FILL)


class _Gateway:
    venue = "kalshi"

    async def balance(self) -> VenueBalance:
        return VenueBalance(cash=10_000_000, allowance=None)


class _Risk:
    def __init__(self) -> None:
        self.reports: list[risk_pb2.BalanceReport] = []

    async def ReportBalance(self, request: risk_pb2.BalanceReport) -> risk_pb2.FundsState:
        self.reports.append(request)
        return risk_pb2.FundsState()


def _reporter(risk: _Risk) -> BalanceReporter:
    return BalanceReporter(_Gateway(), risk,  # type: ignore[arg-type]
                           common_pb2.TenantContext(tenant_id="t"), 3600, after_fill_s=0)


@pytest.mark.parametrize("turns", range(6))  # where, between the fill and the stop, it lands
async def test_a_stop_that_lands_as_a_fill_arrives_stops_the_reporter(turns: int) -> None:
    risk = _Risk()
    reporter = _reporter(risk)
    task = asyncio.create_task(reporter.run())
    await reporter.first_read.wait()
    reporter.saw(FILL)
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done == {task} and task.cancelled()


async def test_a_fill_is_read_soon_after_and_reported() -> None:
    risk = _Risk()
    reporter = _reporter(risk)
    task = asyncio.create_task(reporter.run())
    await reporter.first_read.wait()
    reporter.saw(FILL)
    for _ in range(50):
        if len(risk.reports) == 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert [r.cash_micros for r in risk.reports] == [10_000_000] * 2
    assert risk.reports[0].venue == "kalshi" and not risk.reports[0].HasField("allowance_micros")
