"""Convert dumps in a venue's own format (one frame per line, as the venue sent it) into
recording records, so recordings made by other tools replay like our own. The raw text is
kept byte for byte; we only read what the record needs: market, sequence, and time."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from arbiter.recording.format import FrameRecord, RecordError

KALSHI_TYPES = frozenset({"orderbook_snapshot", "orderbook_delta", "trade"})
POLYMARKET_TYPES = frozenset({"book", "price_change", "tick_size_change", "last_trade_price"})


def _kalshi(obj: object) -> tuple[str, int | None, int | None]:
    if not isinstance(obj, dict) or obj.get("type") not in KALSHI_TYPES:
        raise RecordError(f"not a Kalshi market-data frame: type "
                          f"{obj.get('type') if isinstance(obj, dict) else None!r}")
    msg = obj.get("msg")
    market = msg.get("market_ticker") if isinstance(msg, dict) else None
    if not isinstance(market, str):
        raise RecordError("Kalshi frame without msg.market_ticker")
    seq = obj.get("seq")
    ts = msg.get("ts") if isinstance(msg, dict) else None
    return (market, seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            ts * 1_000_000 if isinstance(ts, int) and not isinstance(ts, bool) else None)


def _polymarket_event(obj: object) -> tuple[str, int | None]:
    if not isinstance(obj, dict) or obj.get("event_type") not in POLYMARKET_TYPES:
        raise RecordError(f"not a Polymarket market-data event: event_type "
                          f"{obj.get('event_type') if isinstance(obj, dict) else None!r}")
    asset = obj.get("asset_id")
    if asset is None:  # price_change names its assets per item
        changes = obj.get("price_changes")
        if isinstance(changes, list) and changes and isinstance(changes[0], dict):
            asset = changes[0].get("asset_id")
    if not isinstance(asset, str):
        raise RecordError(f"Polymarket {obj['event_type']} without an asset_id")
    ts = obj.get("timestamp")
    return asset, int(ts) * 1_000 if isinstance(ts, str) and ts.isdigit() else None


def _polymarket(obj: object) -> tuple[str, int | None, int | None]:
    # The server may batch events in a JSON array; the frame stays one record, keyed by its
    # first event, as the gateway reads it in one piece.
    events = obj if isinstance(obj, list) else [obj]
    if not events:
        raise RecordError("empty Polymarket event array")
    market, micros = _polymarket_event(events[0])
    for event in events[1:]:
        _polymarket_event(event)
    return market, None, micros  # Polymarket has no sequence number


_READERS = {"kalshi": _kalshi, "polymarket": _polymarket}


def import_dump(venue: str, lines: Iterable[str], start_micros: int = 0) -> Iterator[FrameRecord]:
    """Records for each non-blank line. Receive time is the venue's own timestamp when the
    frame has one, never earlier than the previous record (dumps carry no receive time), and
    one micro after the previous otherwise, so the order of the dump is the replay order."""
    reader = _READERS.get(venue)
    if reader is None:
        raise RecordError(f"no importer for venue {venue!r}; known: {sorted(_READERS)}")
    last = start_micros - 1
    for number, line in enumerate(lines, 1):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        try:
            market, seq, micros = reader(json.loads(raw))
        except (json.JSONDecodeError, RecordError) as exc:
            raise RecordError(f"line {number}: {exc}") from exc
        last = max(last + 1, micros) if micros is not None else last + 1
        yield FrameRecord(last, venue, "ws", market, seq, raw)
