"""The recording format round-trips any frame text exactly, rejects malformed lines by
field, and the rotating writer's index lets a reader skip what it does not need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.recording.files import INDEX, RecordingWriter, read_recording
from arbiter.recording.format import FrameRecord, RecordError, decode, encode

records = st.builds(FrameRecord, recv_micros=st.integers(0, 2**62),
                    venue=st.sampled_from(["kalshi", "polymarket"]),
                    kind=st.sampled_from(["ws", "rest"]), market=st.text(min_size=1, max_size=12),
                    seq=st.none() | st.integers(0, 2**40), raw=st.text())


@given(records)
def test_encode_decode_round_trips_raw_text_exactly(record: FrameRecord) -> None:
    line = encode(record)
    assert "\n" not in line
    assert decode(line) == record


@pytest.mark.parametrize("mutation, field", [
    ({"t": "1"}, "'t'"), ({"seq": 1.5}, "'seq'"), ({"raw": {"a": 1}}, "'raw'"),
    ({"kind": "udp"}, "'kind'"), ({"market": None}, "'market'"), ({"v": 2}, "version")])
def test_decode_names_the_bad_field(mutation: dict[str, object], field: str) -> None:
    obj = json.loads(encode(FrameRecord(1, "kalshi", "ws", "M", 3, "{}")))
    obj.update(mutation)
    with pytest.raises(RecordError, match=field):
        decode(json.dumps(obj))


@settings(max_examples=30, deadline=None)
@given(st.lists(records, max_size=40), st.integers(1, 7), st.integers(1, 5))
def test_writer_rotates_and_reads_back_everything_in_order(
        tmp_path_factory: pytest.TempPathFactory, recs: list[FrameRecord], rotate: int,
        batch: int) -> None:
    directory = tmp_path_factory.mktemp("rec")
    writer = RecordingWriter(directory, rotate_records=rotate, batch=batch)
    for rec in recs:
        writer.append(rec)
    writer.close()  # the tail below a full batch must reach the file
    assert list(read_recording(directory)) == recs
    segments = json.loads((directory / INDEX).read_text())["segments"]
    assert sum(s["records"] for s in segments) == len(recs)
    assert all(s["records"] <= rotate for s in segments)


def test_index_filters_by_market_and_time_range(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path, rotate_records=2)
    recs = [FrameRecord(t, "kalshi", "ws", m, t, "{}") for t, m in
            [(10, "A"), (20, "A"), (30, "B"), (40, "B"), (50, "A")]]
    for rec in recs:
        writer.append(rec)
    writer.close()
    assert [r.recv_micros for r in read_recording(tmp_path, market="A")] == [10, 20, 50]
    assert [r.recv_micros for r in read_recording(tmp_path, since_micros=25,
                                                  until_micros=45)] == [30, 40]


def test_same_records_give_byte_identical_files(tmp_path: Path) -> None:
    recs = [FrameRecord(t, "polymarket", "ws", "tok", None, f'{{"n":{t}}}') for t in range(50)]
    for name in ("a", "b"):
        writer = RecordingWriter(tmp_path / name, rotate_records=20)
        for rec in recs:
            writer.append(rec)
        writer.close()
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
