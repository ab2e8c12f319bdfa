"""POST /order replies read as the venue writes them (docs/venues/polymarket.md): decimal
strings in whole units, empty strings for a resting order, and the `success: true` with an
error text and no id that is a reject. The emulator must answer in the same shape."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from arbiter.venues.polymarket.amounts import Side
from arbiter.venues.polymarket.emulator import _amount
from arbiter.venues.polymarket.schemas import OrderReply, PostStatus

# the published shape of a matched 5-share BUY at 0.53
MATCHED_BUY = {
    "success": True,
    "errorMsg": "",
    "orderID": "0xabc",
    "status": "matched",
    "takingAmount": "5",
    "makingAmount": "2.65",
    "transactionsHashes": ["0xdef"],
    "tradeIDs": ["t-1"],
}


def test_a_matched_buy_takes_whole_shares() -> None:
    reply = OrderReply.model_validate(MATCHED_BUY)
    assert reply.accepted and reply.status is PostStatus.MATCHED
    assert reply.filled_shares(Side.BUY) == 5_000_000
    assert reply.filled_shares(Side.SELL) == 2_650_000


def test_a_resting_order_answers_empty_amounts() -> None:
    reply = OrderReply.model_validate({"success": True, "errorMsg": "", "orderID": "0x1",
                                       "status": "live", "takingAmount": "", "makingAmount": ""})
    assert reply.accepted and reply.status is PostStatus.LIVE
    assert reply.filled_shares(Side.BUY) == 0


def test_success_with_an_error_and_no_id_is_a_reject() -> None:
    reply = OrderReply.model_validate({"success": True, "errorMsg": "not enough balance",
                                       "orderID": "", "status": ""})
    assert not reply.accepted and reply.status is None


def test_fractional_amounts_keep_six_decimals() -> None:
    reply = OrderReply.model_validate({**MATCHED_BUY, "takingAmount": "7.142856"})
    assert reply.filled_shares(Side.BUY) == 7_142_856


@pytest.mark.parametrize("amount", ["1e999999", "-1", "abc", 5, "NaN", "0.0000001"])
def test_unreadable_amounts_are_rejected_with_the_field(amount: object) -> None:
    with pytest.raises(ValidationError, match="takingAmount"):
        OrderReply.model_validate({**MATCHED_BUY, "takingAmount": amount})


def test_an_unknown_status_is_rejected() -> None:
    with pytest.raises(ValidationError, match="status"):
        OrderReply.model_validate({**MATCHED_BUY, "status": "MATCHED_PARTIALLY"})


@given(st.integers(min_value=0, max_value=10**15))
def test_the_emulators_amounts_read_back_exactly(micros: int) -> None:
    text = _amount(micros)
    assert (text == "") == (micros == 0)
    if text:
        assert Decimal(text) * 10**6 == micros
    assert OrderReply.model_validate({**MATCHED_BUY, "takingAmount": text}).taking == micros
