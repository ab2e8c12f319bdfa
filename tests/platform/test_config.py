"""Configuration: one typed object, file + environment, errors that name key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.platform.config import ConfigError, load_config


def test_defaults_are_valid_and_money_is_integer_micros() -> None:
    config = load_config(environ={})
    assert config.bus.kind == "memory"
    assert config.detector.max_qty_micros == 200_000_000
    assert config.detector.min_profit_micros == 50_000
    assert len(config.market.pairs) >= 2


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "arbiter.yaml"
    path.write_text("bus:\n  kind: kafka\n  kafka_bootstrap: a:1\nrisk:\n  max_open_sagas: 3\n")
    config = load_config(path, environ={"ARBITER__RISK__MAX_OPEN_SAGAS": "9",
                                        "ARBITER__TENANT__ID": "acme",
                                        "ARBITER__TENANT__TIER": "standard"})
    assert config.bus.kafka_bootstrap == "a:1"
    assert config.risk.max_open_sagas == 9
    assert config.tenant.id == "acme"


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"ARBITER__BUS__KIND": "rabbit"}, "bus.kind='rabbit': Input should be 'memory' or 'kafka'"),
        ({"ARBITER__BUS__FETCH_MAX_WAIT_MS": "1"}, "bus.fetch_max_wait_ms='1'"),
        ({"ARBITER__TENANT__ID": "../etc"}, "tenant.id='../etc'"),
        ({"ARBITER__DETECTOR__MIN_PROFIT_USD": "-1"}, "detector.min_profit_usd='-1'"),
        ({"ARBITER__RISK__UNKNOWN": "1"}, "risk.unknown='1': Extra inputs are not permitted"),
    ],
)
def test_bad_values_name_the_key_and_the_value(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ=environ)
    assert fragment in str(caught.value)


def test_bad_tick_names_the_allowed_values(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "market:\n  pairs:\n  - pair_id: p\n    a: {venue: polymarket, condition_id: '0x"
        + "ab" * 32 + "', yes_token: '1', no_token: '2', tick: '0.02'}\n"
        "    b: {venue: kalshi, ticker: K}\n"
    )
    with pytest.raises(ConfigError, match=r"market\.pairs\.0\.a\.tick.*not a Polymarket tick"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("content", "fragment"), [("- a\n- b\n", "must hold a mapping"), ("a: [\n", "not valid YAML")]
)
def test_unreadable_files_are_reported(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path, environ={})


def test_missing_file_is_reported() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/arbiter.yaml", environ={})


def test_a_tenant_cannot_configure_more_than_its_tier_allows() -> None:
    with pytest.raises(ConfigError, match=r"tenant 'acme' on tier 'paper': risk\.max_open_sagas=9 "
                                          r"exceeds the tier's cap of 4"):
        load_config(environ={"ARBITER__TENANT__ID": "acme", "ARBITER__RISK__MAX_OPEN_SAGAS": "9"})
    assert load_config(environ={"ARBITER__TENANT__TIER": "pro",
                                "ARBITER__RISK__MAX_OPEN_SAGAS": "9"}).risk.max_open_sagas == 9
