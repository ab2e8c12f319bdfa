"""Where a saga's time goes and how its edge decays on the way: a reporting record.

The saga service stamps each saga it takes from the bus at detection, when each leg is sent
and when each leg's outcome is known (the venue ended the order and every fill it reported
has arrived: its "ack" here), and re-prices the edge at those points:

* at detection: the opportunity's expected profit per contract after fees;
* at leg-1 ack: $1 less what leg 1 paid per contract (fees in) less what leg 2 costs on
  the book now (best level, fee floor in) — the edge still there to be completed;
* at leg-2 ack: the profit per hedged contract the two legs locked in.

Money is integer micro-dollars per contract (`QTY_SCALE` micro-units); times are the
saga service's clock in µs, reported as float milliseconds. Nothing here decides anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from arbiter.core.units import QTY_SCALE

STAGES = ("detected", "leg1_sent", "leg1_ack", "leg2_sent", "leg2_ack")


@dataclass(slots=True)
class SagaTimeline:
    detected: int  # when the detector raised the opportunity (µs)
    edge_at_detection: int  # expected profit per contract after fees (µ$)
    leg1_sent: int | None = None
    leg1_ack: int | None = None
    leg2_sent: int | None = None
    leg2_ack: int | None = None
    edge_at_leg1_ack: int | None = None
    edge_at_leg2_ack: int | None = None
    compensation_cost: int | None = None  # µ$, sagas that compensated: plan less outcome

    def span_ms(self, start: str, end: str) -> float | None:
        """Milliseconds between two stamped stages, None if either is missing."""
        begin, finish = getattr(self, start), getattr(self, end)
        return None if begin is None or finish is None else (finish - begin) / 1000


def per_contract(amount: int, qty: int) -> int:
    """`amount` micro-dollars spread over `qty` micro-units, per whole contract (floor)."""
    return amount * QTY_SCALE // qty


def _mean(values: list[int]) -> int | None:
    return sum(values) // len(values) if values else None


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None}
    if len(values) == 1:
        return {"p50": round(values[0], 3), "p95": round(values[0], 3)}
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return {"p50": round(statistics.median(values), 3), "p95": round(cuts[18], 3)}


SPANS = {"detect_to_leg1_sent": ("detected", "leg1_sent"),
         "leg1_sent_to_ack": ("leg1_sent", "leg1_ack"),
         "leg1_ack_to_leg2_sent": ("leg1_ack", "leg2_sent"),
         "leg2_sent_to_ack": ("leg2_sent", "leg2_ack"),
         "detect_to_leg2_ack": ("detected", "leg2_ack")}


def summarize(timelines: Iterable[SagaTimeline]) -> dict[str, object]:
    """Mean edges (µ$ per contract) at each stage, total compensation cost (µ$) and p50/p95
    of each span (ms) over the sagas that reached both ends of it."""
    lines = list(timelines)
    summary: dict[str, object] = {
        "edge_at_detection_micros": _mean([t.edge_at_detection for t in lines]),
        "edge_at_leg1_ack_micros": _mean(
            [t.edge_at_leg1_ack for t in lines if t.edge_at_leg1_ack is not None]),
        "edge_at_leg2_ack_micros": _mean(
            [t.edge_at_leg2_ack for t in lines if t.edge_at_leg2_ack is not None]),
        "compensation_cost_micros": sum(
            t.compensation_cost for t in lines if t.compensation_cost is not None),
    }
    for name, (start, end) in SPANS.items():
        spans = [s for t in lines if (s := t.span_ms(start, end)) is not None]
        summary[f"{name}_ms"] = _quantiles(spans)
    return summary
