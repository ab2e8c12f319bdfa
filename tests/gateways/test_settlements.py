"""Settlement replies, parsed: Kalshi's GET /portfolio/settlements rows (fields as the
official SDK's `Settlement` model names them) and Polymarket's GET /markets/{condition_id}
after resolution. A reply is read whole or refused with the field named."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from arbiter.venues.kalshi.schemas import Settlement
from arbiter.venues.polymarket.schemas import MarketRecord, MergeRow

KALSHI_ROW = {  # a settlement row with every field the SDK's model carries
    "ticker": "KXFEDCUTDEC", "event_ticker": "KXFEDCUTDEC", "market_result": "no",
    "yes_count_fp": "0.00", "yes_total_cost_dollars": "0.0000", "no_count_fp": "3.00",
    "no_total_cost_dollars": "1.8000", "revenue": 300, "settled_time": "2026-12-04T10:00:00Z",
    "fee_cost": "0.0600", "value": 0,
}
YES, NO = "101", "102"


def _market(closed: bool, yes: tuple[float, bool], no: tuple[float, bool]) -> bytes:
    return orjson.dumps({"condition_id": "0x01", "closed": closed, "tokens": [
        {"token_id": YES, "outcome": "Yes", "price": yes[0], "winner": yes[1]},
        {"token_id": NO, "outcome": "No", "price": no[0], "winner": no[1]}]})


@pytest.mark.parametrize(("result", "value", "paid"), [
    ("yes", 100, 1_000_000), ("no", 0, 0), ("scalar", 37, 370_000), ("void", 50, 500_000)])
def test_a_kalshi_settlement_says_what_one_yes_contract_paid(
        result: str, value: int, paid: int) -> None:
    row = Settlement.model_validate({**KALSHI_ROW, "market_result": result, "value": value})
    assert row.yes_payout == paid


@pytest.mark.parametrize("change", [
    {"market_result": "maybe"}, {"value": 101}, {"value": "50"}, {"ticker": ""}])
def test_a_kalshi_settlement_outside_its_model_is_refused(change: dict) -> None:
    with pytest.raises(ValidationError):
        Settlement.model_validate({**KALSHI_ROW, **change})


def test_a_scalar_kalshi_settlement_without_its_value_is_refused() -> None:
    row = Settlement.model_validate({**KALSHI_ROW, "market_result": "scalar", "value": None})
    with pytest.raises(ValueError, match="without its value"):
        _ = row.yes_payout


@given(st.integers(0, 100))
def test_kalshi_scalar_values_are_cents_of_a_dollar(value: int) -> None:
    row = Settlement.model_validate({**KALSHI_ROW, "market_result": "scalar", "value": value})
    assert row.yes_payout == value * 10_000


@pytest.mark.parametrize(("reply", "paid"), [
    (_market(True, (1, True), (0, False)), 1_000_000),
    (_market(True, (0, False), (1, True)), 0),
    (_market(True, (0.5, False), (0.5, False)), 500_000),  # UMA's 50-50
    (_market(True, (0.62, False), (0.38, False)), None),  # closed, the oracle not yet in
    (_market(False, (0.62, False), (0.38, False)), None),
])
def test_a_polymarket_market_is_settled_once_resolved(reply: bytes, paid: int | None) -> None:
    assert MarketRecord.model_validate_json(reply).yes_payout(YES) == paid


def test_a_polymarket_market_that_does_not_list_our_token_is_refused() -> None:
    with pytest.raises(ValueError, match="does not list token"):
        MarketRecord.model_validate_json(_market(True, (1, True), (0, False))).yes_payout("9")


@pytest.mark.parametrize("reply", [
    b'{"condition_id": "0x01", "closed": true, "tokens": []}',
    _market(True, (1, True), (0, False)).replace(b'"closed":true', b'"closed":"yes"'),
    _market(True, (1.5, True), (0, False)),
])
def test_a_malformed_polymarket_market_is_refused(reply: bytes) -> None:
    with pytest.raises(ValidationError):
        MarketRecord.model_validate_json(reply)


MERGE_ROW = {  # a MERGE row of the Data API's GET /activity, with the fields it lists
    "proxyWallet": "0x56687bf447db6ffa42ffe2204a05edaa20f55839", "timestamp": 1764806400,
    "conditionId": "0x" + "ab" * 32, "type": "MERGE", "size": 12.5, "usdcSize": 12.5,
    "transactionHash": "0x" + "cd" * 32, "price": 0, "asset": "", "side": "",
    "outcomeIndex": 999, "title": "Fed cut in December?", "slug": "fed-cut-dec",
}


def test_a_merge_row_reads_its_market_sets_and_transaction() -> None:
    row = MergeRow.model_validate(MERGE_ROW)
    assert (row.conditionId, row.size, row.transactionHash) == (
        "0x" + "ab" * 32, 12_500_000, "0x" + "cd" * 32)


@pytest.mark.parametrize("change", [
    {"type": "TRADE"}, {"size": "12.5x"}, {"size": 0}, {"size": True},
    {"transactionHash": "0x12"}, {"conditionId": "fed"}])
def test_a_merge_row_outside_its_model_is_refused(change: dict) -> None:
    with pytest.raises(ValidationError):
        MergeRow.model_validate({**MERGE_ROW, **change})
