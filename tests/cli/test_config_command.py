"""`arbiter config validate|show` and `arbiter --version`: what a configuration becomes,
with secrets masked and each value's source, read by the same loader every command uses."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.platform.config import explain_config

DSN = "postgresql://arbiter_app:hunter2@db:5432/arbiter"


def _invoke(args: list[str], config: Path | None = None, **env: str):
    environ = {"ARBITER_CONFIG": str(config) if config else "", **env}
    return CliRunner().invoke(app, args, env=environ)


def test_show_names_where_every_value_came_from_and_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "arbiter.yaml"
    config.write_text("market:\n  seed: 11\nrisk:\n  max_open_sagas: 4\n")
    shown = _invoke(["config", "show", "--json"], config, ARBITER__RISK__MAX_OPEN_SAGAS="3",
                    ARBITER__STORE__DSN=DSN)
    assert shown.exit_code == 0, shown.output
    rows = {row["key"]: row for row in map(json.loads, shown.output.splitlines())}
    assert (rows["market.seed"]["value"], rows["market.seed"]["source"]) == (11, "file")
    # the environment is applied over the file
    assert (rows["risk.max_open_sagas"]["value"], rows["risk.max_open_sagas"]["source"]) == (
        3, "environment")
    assert rows["bus.kind"] == {"key": "bus.kind", "value": "memory", "source": "default"}
    assert rows["store.dsn"]["source"] == "environment" and "hunter2" not in shown.output
    assert rows["store.dsn"]["value"] == "**********"
    assert len(rows["market.pairs"]["value"]) == 4  # a list is one setting


def test_show_agrees_with_the_loader_on_every_value() -> None:
    """Each shown value is the loaded configuration's own (no second reading of it)."""
    values = {v.key: v.value for v in explain_config(environ={})}
    assert values["market.lifetime_steps"] == 2_400 and values["saga.execution"] == "sequential"
    assert values["detector.min_profit_usd"] == "0.05"


def test_validate_says_ok_or_names_every_bad_key(tmp_path: Path) -> None:
    assert _invoke(["config", "validate"]).output.startswith("ok: defaults (tenant default, ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk:\n  max_open_sagas: -1\nmarket:\n  step_ms: 0\n")
    refused = _invoke(["config", "validate"], bad)
    assert refused.exit_code == 2
    assert "risk.max_open_sagas" in refused.output and "market.step_ms" in refused.output
    shown = _invoke(["config", "show"], bad)
    assert shown.exit_code == 2 and "risk.max_open_sagas" in shown.output


def test_version_is_the_installed_distributions() -> None:
    result = _invoke(["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"arbiter {importlib.metadata.version('arbiter')}"
