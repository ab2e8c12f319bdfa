"""Kalshi V2 and legacy order bodies, tick grids and fractional counts."""

import dataclasses

import pytest

from arbiter.venues.kalshi.orders import (
    LEGACY_ORDERS_PATH,
    V2_ORDERS_PATH,
    BookSide,
    KalshiOrder,
    KalshiOrderError,
    MarketRules,
    OrderEndpoint,
    PriceLevelStructure,
    SelfTradePrevention,
    TimeInForce,
    create_order_request,
    legacy_order_body,
    v2_order_body,
)

LINEAR = MarketRules.for_structure(PriceLevelStructure.LINEAR_CENT)
TAPERED = MarketRules.for_structure("tapered_deci_cent")
DECI = MarketRules.for_structure("deci_cent", fractional_trading_enabled=True)
B7 = KalshiOrder(
    ticker="<MARKET_TICKER>",
    side=BookSide.BID,
    price_micros=420_000,
    count_micros=10_000_000,
    time_in_force=TimeInForce.GOOD_TILL_CANCELED,
)


def test_v2_body_matches_b7_worked_example() -> None:
    body = v2_order_body(B7, LINEAR)
    assert list(body.items()) == [
        ("ticker", "<MARKET_TICKER>"),
        ("side", "bid"),
        ("count", "10.00"),
        ("price", "0.4200"),
        ("time_in_force", "good_till_canceled"),
        ("self_trade_prevention_type", "taker_at_cross"),
    ]
    assert create_order_request(B7, LINEAR) == ("POST", V2_ORDERS_PATH, body)


def test_legacy_body_matches_b7_worked_example() -> None:
    body = legacy_order_body(B7, LINEAR)
    assert {
        k: body[k]
        for k in ("ticker", "side", "action", "count_fp", "yes_price_dollars", "subaccount")
    } == {
        "ticker": "<MARKET_TICKER>",
        "side": "yes",
        "action": "buy",
        "count_fp": "10.00",
        "yes_price_dollars": "0.4200",
        "subaccount": 0,
    }
    assert "type" not in body
    method, path, _ = create_order_request(B7, LINEAR, OrderEndpoint.LEGACY)
    assert (method, path) == ("POST", LEGACY_ORDERS_PATH)
    ask = KalshiOrder("T", BookSide.ASK, 420_000, 1_000_000, TimeInForce.FILL_OR_KILL)
    assert legacy_order_body(ask, LINEAR)["action"] == "sell"


def test_optional_fields() -> None:
    order = KalshiOrder(
        ticker="T",
        side=BookSide.ASK,
        price_micros=5_000,
        count_micros=1_230_000,
        time_in_force=TimeInForce.GOOD_TILL_CANCELED,
        client_order_id="c-1",
        self_trade_prevention=SelfTradePrevention.MAKER,
        post_only=True,
        expiration_time_s=1_800_000_000,
        subaccount=3,
        order_group_id="g",
        cancel_order_on_pause=True,
    )
    body = v2_order_body(order, DECI)
    assert body == {
        "ticker": "T",
        "client_order_id": "c-1",
        "side": "ask",
        "count": "1.23",
        "price": "0.0050",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "maker",
        "expiration_time": 1_800_000_000,
        "post_only": True,
        "cancel_order_on_pause": True,
        "order_group_id": "g",
        "subaccount": 3,
    }
    assert list(body)[:2] == ["ticker", "client_order_id"]
    assert legacy_order_body(order, DECI)["expiration_ts"] == 1_800_000_000
    ioc = KalshiOrder(
        "T", BookSide.ASK, 500_000, 1_000_000, TimeInForce.IMMEDIATE_OR_CANCEL, reduce_only=True
    )
    assert v2_order_body(ioc, LINEAR)["reduce_only"] is True


@pytest.mark.parametrize(
    ("rules", "price", "ok"),
    [
        (LINEAR, 10_000, True),
        (LINEAR, 990_000, True),
        (LINEAR, 425_000, False),
        (LINEAR, 0, False),
        (LINEAR, 1_000_000, False),
        (TAPERED, 1_000, True),
        (TAPERED, 99_000, True),
        (TAPERED, 100_000, True),
        (TAPERED, 101_000, False),
        (TAPERED, 890_000, True),
        (TAPERED, 895_000, False),
        (TAPERED, 901_000, True),
        (TAPERED, 999_000, True),
        (DECI, 421_000, True),
        (DECI, 421_500, False),
        (DECI, 421_100, False),
    ],
)
def test_price_grids(rules: MarketRules, price: int, ok: bool) -> None:
    order = KalshiOrder("T", BookSide.BID, price, 1_000_000, TimeInForce.FILL_OR_KILL)
    if ok:
        assert v2_order_body(order, rules)["price"] == f"{price / 1e6:.4f}"
    else:
        with pytest.raises(KalshiOrderError, match="price"):
            v2_order_body(order, rules)


def test_price_ranges_from_market_payload() -> None:
    rules = MarketRules.from_market(
        {
            "price_level_structure": "linear_cent",
            "price_ranges": [
                {"start": "0.0000", "end": "0.5000", "step": "0.0010"},
                {"start": "0.5000", "end": "1.0000", "step": "0.0100"},
            ],
            "fractional_trading_enabled": True,
        }
    )
    rules.validate_price(123_000)
    with pytest.raises(KalshiOrderError, match="price 0.5050 is not on the market's price grid"):
        rules.validate_price(505_000)
    rules.validate_count(10_000)
    assert MarketRules.from_market(
        {"price_level_structure": "deci_cent"}
    ) == MarketRules.for_structure("deci_cent")
    with pytest.raises(KalshiOrderError, match="price_level_structure 'hexa_cent' is not one of"):
        MarketRules.from_market({"price_level_structure": "hexa_cent"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count_micros": 1_500_000}, "count 1.500000 must be a positive whole number"),
        ({"count_micros": 0}, "count 0.000000 must be"),
        (
            {"reduce_only": True},
            "reduce_only is only accepted with immediate_or_cancel, not good_till_canceled",
        ),
        (
            {"expiration_time_s": 5, "time_in_force": TimeInForce.IMMEDIATE_OR_CANCEL},
            "expiration_time 5 is only accepted with good_till_canceled, not immediate_or_cancel",
        ),
        ({"subaccount": 64}, "subaccount 64 must be in 0..63"),
        ({"ticker": ""}, "ticker must not be empty"),
        ({"price_micros": 420_050}, "price 0.420050 has more than 4 decimals"),
    ],
)
def test_bad_inputs_name_field_and_value(change: dict, message: str) -> None:
    with pytest.raises(KalshiOrderError, match=message):
        v2_order_body(dataclasses.replace(B7, **change), LINEAR)


def test_fractional_counts_only_where_enabled() -> None:
    order = dataclasses.replace(B7, count_micros=1_230_000, price_micros=421_000)
    assert v2_order_body(order, DECI)["count"] == "1.23"
    with pytest.raises(
        KalshiOrderError, match="count 1.235000 must be a positive multiple of 0.01"
    ):
        v2_order_body(dataclasses.replace(order, count_micros=1_235_000), DECI)
