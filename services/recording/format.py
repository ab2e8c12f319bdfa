"""One recorded frame per JSON line: the raw text untouched, plus when we received it (the
clock's micros, so lock-step runs record reproducibly), which venue, which market, and the
venue's sequence number where it has one. Kept as text so a replay parses the very bytes the
live gateway parsed."""

from __future__ import annotations

import json
from dataclasses import dataclass

FORMAT_VERSION = 1


class RecordError(ValueError):
    """A recorded line that is not a valid frame record; the message names the field."""


@dataclass(frozen=True, slots=True)
class FrameRecord:
    recv_micros: int
    venue: str
    kind: str  # "ws" (a websocket message) or "rest" (a REST book snapshot)
    market: str
    seq: int | None
    raw: str


def encode(record: FrameRecord) -> str:
    """The line for `record`, without newline; keys sorted so equal records give equal bytes."""
    return json.dumps({"v": FORMAT_VERSION, "t": record.recv_micros, "venue": record.venue,
                       "kind": record.kind, "market": record.market, "seq": record.seq,
                       "raw": record.raw}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def decode(line: str) -> FrameRecord:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("v") != FORMAT_VERSION:
        raise RecordError(f"unsupported format version {obj.get('v') if isinstance(obj, dict) else None!r}")
    t, seq, raw = obj.get("t"), obj.get("seq"), obj.get("raw")
    if not isinstance(t, int) or isinstance(t, bool):
        raise RecordError(f"field 't' must be integer micros, got {t!r}")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
        raise RecordError(f"field 'seq' must be an integer or null, got {seq!r}")
    if not isinstance(raw, str):
        raise RecordError(f"field 'raw' must be the frame text, got {type(raw).__name__}")
    venue, kind, market = (_text(obj, key) for key in ("venue", "kind", "market"))
    if kind not in ("ws", "rest"):
        raise RecordError(f"field 'kind' must be 'ws' or 'rest', got {kind!r}")
    return FrameRecord(t, venue, kind, market, seq, raw)


def _text(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise RecordError(f"field {key!r} must be a string, got {value!r}")
    return value
