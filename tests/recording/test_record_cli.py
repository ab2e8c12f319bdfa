"""`arbiter record import` turns a venue dump into a recording `info` reads back."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from arbiter.cli.app import app

KALSHI = [{"type": "orderbook_delta", "sid": 2, "seq": n, "msg": {"market_ticker": m}}
          for n, m in [(1, "FED-23DEC-T3.00"), (2, "FED-23DEC-T3.00"), (3, "HIGHNY-22DEC23-B53.5")]]
POLY = [{"event_type": "book", "asset_id": "1", "market": "0xbd", "timestamp": "1"}]


def test_import_then_info(tmp_path: Path) -> None:
    dump = tmp_path / "kalshi.jsonl"
    dump.write_text("".join(json.dumps(f) + "\n" for f in KALSHI))
    out = tmp_path / "rec"
    result = CliRunner().invoke(app, ["record", "import", "kalshi", str(dump), str(out),
                                      "--rotate", "2"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["records"] == 3
    info = json.loads(CliRunner().invoke(app, ["record", "info", str(out)]).output)
    assert info["records"] == {"kalshi:FED-23DEC-T3.00": 2, "kalshi:HIGHNY-22DEC23-B53.5": 1}


def test_import_of_the_wrong_venue_names_the_line(tmp_path: Path) -> None:
    dump = tmp_path / "poly.jsonl"
    dump.write_text(json.dumps(POLY[0]) + "\n")
    result = CliRunner().invoke(app, ["record", "import", "kalshi", str(dump),
                                      str(tmp_path / "rec")])
    assert result.exit_code != 0
    assert "line 1" in result.output
