"""The saga timeline report: per-contract money in integer micro-dollars, spans in ms."""

from __future__ import annotations

from arbiter.saga.timeline import SagaTimeline, per_contract, summarize


def test_per_contract_spreads_micro_dollars_over_micro_units() -> None:
    assert per_contract(3_000_000, 200_000_000) == 15_000  # $3 over 200 contracts
    assert per_contract(-1, 3_000_000) == -1  # floors, never rounds a loss away
    assert per_contract(10, 3_000_000) == 3


def test_summary_means_totals_and_quantiles_skip_what_a_saga_never_reached() -> None:
    full = SagaTimeline(0, 20_000, leg1_sent=1_000, leg1_ack=41_000, leg2_sent=41_500,
                        leg2_ack=91_500, edge_at_leg1_ack=12_000, edge_at_leg2_ack=10_001)
    failed = SagaTimeline(0, 10_000, leg1_sent=3_000, leg1_ack=63_000)
    hedged = SagaTimeline(0, 30_000, leg1_sent=0, leg1_ack=20_000, leg2_sent=20_000,
                          leg2_ack=30_000, edge_at_leg1_ack=-4_000, compensation_cost=7_000_000)
    summary = summarize([full, failed, hedged])
    assert summary["edge_at_detection_micros"] == 20_000
    assert summary["edge_at_leg1_ack_micros"] == 4_000
    assert summary["edge_at_leg2_ack_micros"] == 10_001
    assert summary["compensation_cost_micros"] == 7_000_000
    assert summary["leg1_sent_to_ack_ms"] == {"p50": 40.0, "p95": 58.0}
    assert summary["leg2_sent_to_ack_ms"] == {"p50": 30.0, "p95": 48.0}
    assert summary["detect_to_leg2_ack_ms"]["p50"] == 60.75  # type: ignore[index]
    assert summarize([])["leg1_sent_to_ack_ms"] == {"p50": None, "p95": None}
