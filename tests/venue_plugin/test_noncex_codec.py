"""NonceX's codec: typed bodies round-trip, and anything else is a `WireError` naming why."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.platform.telemetry import metrics

from .noncex.codec import (
    ErrorCode,
    OrderBody,
    Side,
    Tif,
    WireError,
    hmac_sign,
    hmac_verify,
    parse_error,
    signing_string,
)

orders = st.builds(
    OrderBody, market=st.from_regex(r"[A-Z][A-Z0-9]{1,10}", fullmatch=True),
    side=st.sampled_from(Side), price=st.integers(1, 999_999), size=st.integers(1, 10**12),
    tif=st.sampled_from(Tif), client_id=st.text(min_size=1, max_size=64),
    nonce=st.integers(0, 2**63))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


@given(orders)
def test_an_order_survives_the_wire(order: OrderBody) -> None:
    assert OrderBody.from_json(orjson.loads(orjson.dumps(order.to_json()))) == order


@given(orders, st.sampled_from(["market", "side", "price", "size", "tif", "client_id",
                                "nonce"]), json_values)
def test_a_bad_field_is_a_wire_error_naming_it(order: OrderBody, name: str,
                                               value: object) -> None:
    body = {**order.to_json(), name: value}
    try:
        parsed = OrderBody.from_json(body)
    except WireError as exc:
        assert name in str(exc)
    else:  # the value happened to be valid for the field
        assert getattr(parsed, name) is not None


@given(json_values)
def test_any_json_is_an_order_or_a_wire_error(body: object) -> None:
    with pytest.raises(WireError):
        OrderBody.from_json(body)


def test_negative_nonces_and_bools_are_refused() -> None:
    body = OrderBody("AB", Side.BUY_YES, 500_000, 1, Tif.IOC, "c", 0).to_json()
    with pytest.raises(WireError, match="'nonce' -1 must not be negative"):
        OrderBody.from_json({**body, "nonce": -1})
    with pytest.raises(WireError, match="'nonce' must be a int, was True"):
        OrderBody.from_json({**body, "nonce": True})


@given(st.binary(min_size=32, max_size=64), st.binary(max_size=200))
def test_a_signature_verifies_only_for_its_own_message(secret: bytes, body: bytes) -> None:
    message = signing_string(1, "post", "/v1/orders", body)
    signature = base64.b64encode(hmac_sign(secret, message)).decode()
    assert hmac_verify(secret, message, signature)
    assert not hmac_verify(secret, message + b"x", signature)
    assert not hmac_verify(secret, message, "not base64!")


def test_an_unknown_error_code_is_kept_as_text_not_guessed() -> None:
    assert parse_error({"error": {"code": "nonce_reused", "message": "m"}}) == (
        ErrorCode.NONCE_REUSED, "m")
    assert parse_error({"error": {"code": "brand_new", "message": "m"}}) == (None, "m")
    assert parse_error([1])[0] is None



def test_a_forgotten_venue_leaves_no_metric_series_behind() -> None:
    """What `registered()` does on the way out, so the venue label stays bounded."""
    def venues() -> set[str]:
        return {s.labels["venue"] for family in metrics.SEQUENCE_GAPS.collect()
                for s in family.samples}

    metrics.VenueMetrics("ghost").gaps.inc()
    metrics.VenueMetrics("kalshi").gaps.inc(0)
    assert {"ghost", "kalshi"} <= venues()
    metrics.forget_venue("ghost")
    assert "ghost" not in venues() and "kalshi" in venues()
