"""Recording files on disk: gzip JSON lines rotated by record count, and an index
(`index.json`) naming each file's markets and time range so a replay opens only what it needs.
Writes are buffered and handed to the file in batches; `close` flushes the tail."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from arbiter.recording.format import FrameRecord, decode, encode

INDEX = "index.json"


@dataclass
class _Segment:
    name: str
    first_micros: int
    last_micros: int
    records: int = 0
    markets: set[str] = field(default_factory=set)


class RecordingWriter:
    """Appends records to `directory`, starting a new segment every `rotate_records`."""

    def __init__(self, directory: Path, rotate_records: int = 100_000, batch: int = 512) -> None:
        if rotate_records <= 0 or batch <= 0:
            raise ValueError(f"rotate_records and batch must be positive, got "
                             f"{rotate_records}, {batch}")
        directory.mkdir(parents=True, exist_ok=True)
        self._dir, self._rotate, self._batch = directory, rotate_records, batch
        self._segments: list[_Segment] = []
        self._pending: list[str] = []
        self._file: gzip.GzipFile | None = None

    def append(self, record: FrameRecord) -> None:
        seg = self._segments[-1] if self._segments else None
        if seg is None or seg.records >= self._rotate:
            self._flush()
            self._close_file()
            seg = _Segment(f"frames-{len(self._segments):06d}.jsonl.gz", record.recv_micros,
                           record.recv_micros)
            self._segments.append(seg)
            # mtime=0: the same records give the same bytes on disk.
            self._file = gzip.GzipFile(self._dir / seg.name, "wb", mtime=0)
        seg.records += 1
        seg.markets.add(record.market)
        seg.first_micros = min(seg.first_micros, record.recv_micros)
        seg.last_micros = max(seg.last_micros, record.recv_micros)
        self._pending.append(encode(record))
        if len(self._pending) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if self._pending and self._file is not None:
            self._file.write(("\n".join(self._pending) + "\n").encode())
        self._pending.clear()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        """Write the tail and the index; a recording without an index is unfinished."""
        self._flush()
        self._close_file()
        index = [{"file": s.name, "first_micros": s.first_micros, "last_micros": s.last_micros,
                  "records": s.records, "markets": sorted(s.markets)} for s in self._segments]
        (self._dir / INDEX).write_text(json.dumps({"segments": index}, indent=1, sort_keys=True))


def read_recording(directory: Path, market: str | None = None, since_micros: int | None = None,
                   until_micros: int | None = None) -> Iterator[FrameRecord]:
    """Records in file order, skipping segments the index rules out."""
    index = json.loads((directory / INDEX).read_text())
    for seg in index["segments"]:
        if market is not None and market not in seg["markets"]:
            continue
        if since_micros is not None and seg["last_micros"] < since_micros:
            continue
        if until_micros is not None and seg["first_micros"] > until_micros:
            continue
        with gzip.open(directory / seg["file"], "rt", encoding="utf-8") as fh:
            for line in fh:
                rec = decode(line)
                if market is not None and rec.market != market:
                    continue
                if since_micros is not None and rec.recv_micros < since_micros:
                    continue
                if until_micros is not None and rec.recv_micros > until_micros:
                    continue
                yield rec
