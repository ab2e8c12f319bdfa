"""Importers keep each venue frame byte for byte and pull out market, sequence and time;
shaped after the venues' published example messages (Kalshi orderbook channel, Polymarket
market channel)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.recording.format import RecordError, decode, encode
from arbiter.recording.importers import import_dump

KALSHI = [
    {"type": "orderbook_snapshot", "sid": 2, "seq": 2,
     "msg": {"market_ticker": "FED-23DEC-T3.00", "market_id": "9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1e1",
             "yes_dollars_fp": [["0.0800", "300.00"]], "no_dollars_fp": [["0.5400", "20.00"]]}},
    {"type": "orderbook_delta", "sid": 2, "seq": 3,
     "msg": {"market_ticker": "FED-23DEC-T3.00", "price_dollars": "0.9600",
             "delta_fp": "-54.00", "side": "yes"}},
    {"type": "trade", "sid": 11, "seq": 4,
     "msg": {"market_ticker": "HIGHNY-22DEC23-B53.5", "yes_price_dollars": "0.3600",
             "count_fp": "136.00", "taker_side": "no", "ts": 1669149841}},
]
TOKEN = "65818619657568813474341868652308942079804919287380422192892211131408793125422"
POLY = [
    {"event_type": "book", "asset_id": TOKEN, "market": "0xbd31dc8a", "timestamp": "1757908892351",
     "hash": "0x1", "bids": [{"price": "0.48", "size": "30"}], "asks": [{"price": "0.52", "size": "25"}]},
    {"event_type": "price_change", "market": "0xbd31dc8a", "timestamp": "1757908892352",
     "price_changes": [{"asset_id": TOKEN, "price": "0.5", "size": "200", "side": "BUY",
                        "hash": "0x2", "best_bid": "0.5", "best_ask": "0.52"}]},
    {"event_type": "tick_size_change", "asset_id": TOKEN, "market": "0xbd31dc8a",
     "old_tick_size": "0.01", "new_tick_size": "0.001", "timestamp": "1757908892000"},
    {"event_type": "last_trade_price", "asset_id": TOKEN, "market": "0xbd31dc8a", "price": "0.456",
     "size": "219.217767", "side": "BUY", "fee_rate_bps": "0", "timestamp": "1757908892400"},
]


def test_kalshi_dump_keeps_raw_text_market_and_seq() -> None:
    lines = [json.dumps(f, indent=None) + "\n" for f in KALSHI]
    recs = list(import_dump("kalshi", lines, start_micros=5))
    assert [r.raw + "\n" for r in recs] == lines
    assert [r.market for r in recs] == ["FED-23DEC-T3.00"] * 2 + ["HIGHNY-22DEC23-B53.5"]
    assert [r.seq for r in recs] == [2, 3, 4]
    assert [r.recv_micros for r in recs] == [5, 6, 1669149841_000_000]


def test_polymarket_dump_uses_asset_and_never_goes_back_in_time() -> None:
    recs = list(import_dump("polymarket", [json.dumps(f) for f in POLY] + [json.dumps(POLY[:2])]))
    assert {r.market for r in recs} == {TOKEN}
    assert all(r.seq is None for r in recs)
    times = [r.recv_micros for r in recs]
    assert times[:2] == [1757908892351_000, 1757908892352_000]
    assert times == sorted(times) and len(set(times)) == len(times)  # tick_size_change is older


@pytest.mark.parametrize("venue, line, message", [
    ("kalshi", '{"type":"subscribed","sid":1}', "type 'subscribed'"),
    ("kalshi", '{"type":"orderbook_delta","seq":1,"msg":{}}', "market_ticker"),
    ("polymarket", '{"event_type":"price_change","price_changes":[]}', "asset_id"),
    ("polymarket", "[]", "empty"),
    ("polymarket", "{not json", "line 1"),
    ("coinbase", "{}", "no importer"),
])
def test_rejections_name_the_problem(venue: str, line: str, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        list(import_dump(venue, [line]))


@given(st.lists(st.sampled_from(KALSHI + POLY), max_size=20), st.booleans())
def test_import_then_record_round_trip(frames: list[dict[str, object]], pretty: bool) -> None:
    venue_frames = [(("kalshi" if "type" in f else "polymarket"), f) for f in frames]
    for venue, frame in venue_frames:
        raw = json.dumps(frame, indent=1 if pretty else None).replace("\n", " ")
        (rec,) = import_dump(venue, [raw, "   "])
        assert rec.raw == raw
        assert decode(encode(rec)) == rec
