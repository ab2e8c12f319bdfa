"""`arbiter record`: recordings of raw venue frames (docs/recording.md). This slice converts
dumps made by other tools into the recording format; live capture comes with the gateway tap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from arbiter.recording.files import RecordingWriter, read_recording
from arbiter.recording.format import RecordError

app = typer.Typer(help="Recordings of raw venue frames: import dumps, inspect.",
                  no_args_is_help=True)


@app.command("import")
def import_(venue: Annotated[str, typer.Argument(help="Venue whose format the dump is in.")],
            dump: Annotated[Path, typer.Argument(help="One frame per line, as the venue sent it.",
                                                 exists=True, dir_okay=False)],
            out: Annotated[Path, typer.Argument(help="Recording directory to write.")],
            rotate: Annotated[int, typer.Option(help="Records per file.", min=1)] = 100_000,
            ) -> None:
    """Convert a venue's raw frame dump into a recording; prints records and markets as JSON."""
    from arbiter.recording.importers import import_dump

    writer = RecordingWriter(out, rotate_records=rotate)
    markets: set[str] = set()
    count = 0
    try:
        with dump.open(encoding="utf-8") as lines:
            for record in import_dump(venue, lines):
                writer.append(record)
                markets.add(record.market)
                count += 1
    except RecordError as exc:
        raise typer.BadParameter(f"{dump}: {exc}") from None
    finally:
        writer.close()
    typer.echo(json.dumps({"records": count, "markets": sorted(markets)}, sort_keys=True))


@app.command()
def info(recording: Annotated[Path, typer.Argument(help="Recording directory.",
                                                   exists=True, file_okay=False)]) -> None:
    """Records per venue and market and the time range, as JSON."""
    per: dict[str, int] = {}
    first = last = None
    for record in read_recording(recording):
        key = f"{record.venue}:{record.market}"
        per[key] = per.get(key, 0) + 1
        first = record.recv_micros if first is None else min(first, record.recv_micros)
        last = record.recv_micros if last is None else max(last, record.recv_micros)
    typer.echo(json.dumps({"records": per, "first_micros": first, "last_micros": last},
                          sort_keys=True))
