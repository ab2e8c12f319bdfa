"""The configuration models as a contract: every number bounded, bools never counted, and
whatever a field is given either loads within its range or fails naming that field."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from arbiter.platform.config import ArbiterConfig, ConfigError, config_from_text, load_config
from arbiter.platform.venues import VENUES

NUMERIC = (int, float, Decimal)


def _bounds(info: FieldInfo) -> tuple[Any, Any]:
    low = high = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = getattr(item, "ge", getattr(item, "gt", None))
        if isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = getattr(item, "le", getattr(item, "lt", None))
    return low, high


def numeric_fields() -> list[tuple[str, type[BaseModel], str, FieldInfo]]:
    """(dotted path, model, field name, info) of every numeric field, venue plugins' too."""
    found = []
    models: list[tuple[str, type[BaseModel]]] = [
        (name, info.annotation) for name, info in ArbiterConfig.model_fields.items()]
    for plugin in VENUES:
        models += [(f"venues.{plugin.slug}", plugin.settings_model),
                   (f"market.pairs.0.a[{plugin.slug}]", plugin.market_model)]
    for prefix, model in models:
        for name, info in model.model_fields.items():
            if info.annotation in NUMERIC:
                found.append((f"{prefix}.{name}", model, name, info))
    return found


SECTION_NUMBERS = [f for f in numeric_fields() if f[0].count(".") == 1]


def test_every_numeric_field_has_a_lower_and_an_upper_bound() -> None:
    fields = numeric_fields()
    assert len(fields) >= 30  # the walk finds the fields it is meant to check
    unbounded = [path for path, _, _, info in fields if None in _bounds(info)]
    assert unbounded == [], f"give these Field(ge=..., le=...): {unbounded}"


def _file(tmp_path: Path, section: str, key: str, value: Any) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({section: {key: value}}))  # JSON is YAML: exact values
    return path


@pytest.mark.parametrize("field", SECTION_NUMBERS, ids=[f[0] for f in SECTION_NUMBERS])
def test_bools_nan_and_out_of_range_numbers_are_refused(field: Any, tmp_path: Path) -> None:
    path, _, name, info = field
    section = path.split(".")[0]
    low, high = _bounds(info)
    for value in (True, False, "NaN", "inf", high + 1, low - 1):
        with pytest.raises(ConfigError, match=rf"{path}="):
            load_config(_file(tmp_path, section, name, value), environ={})


ENV_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.sampled_from(["true", "1e23", "1e400", "-0", "0x10", "1_000", " 7 ", ""]),
    st.text(max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(SECTION_NUMBERS), text=ENV_NUMBERS)
def test_any_environment_value_loads_in_range_or_names_the_field(field: Any, text: str) -> None:
    path, _, name, info = field
    section = path.split(".")[0]
    variable = f"ARBITER__{section.upper()}__{name.upper()}"
    environ = {variable: text, "ARBITER__TENANT__TIER": "pro"}  # the widest tier caps
    try:
        config = load_config(environ=environ)
    except ConfigError as exc:
        assert path in str(exc) or "max_position" in str(exc) or "pool_" in str(exc), str(exc)
        return
    value = getattr(getattr(config, section), name)
    low, high = _bounds(info)
    assert low <= value <= high
    assert isinstance(value, info.annotation) and not isinstance(value, bool)


def test_the_environment_is_parsed_by_the_model_contract() -> None:
    """Nested `__`, any case, JSON for a whole section or dict, layered over the file."""
    config = load_config(environ={
        "arbiter__risk__max_open_sagas": "3",
        "ARBITER__GRPC__GATEWAY_ADDRS__KALSHI": "gw-kalshi:50051",
        "ARBITER__BUS": '{"kind": "kafka", "kafka_bootstrap": "k:9092"}',
        "ARBITER__VENUES__KALSHI__ENVIRONMENT": "demo",
        "PATH": "/usr/bin",
    })
    assert config.risk.max_open_sagas == 3
    assert config.grpc.gateway_addr("kalshi") == "gw-kalshi:50051"
    assert (config.bus.kind, config.bus.kafka_bootstrap) == ("kafka", "k:9092")
    assert config.venues.settings("kalshi").url == "https://external-api.demo.kalshi.co"
    assert ArbiterConfig.model_config["env_prefix"] == "ARBITER__"


def test_layers_apply_file_then_environment_then_command_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("detector: {ttl_ms: 100, depth_levels: 5}\nmarket: {seed: 1}\n")
    config = load_config(path, environ={"ARBITER__DETECTOR__TTL_MS": "200",
                                        "ARBITER__MARKET__SEED": "2"},
                         overrides={"market.seed": 3})
    assert (config.detector.ttl_ms, config.detector.depth_levels, config.market.seed) == (
        200, 5, 3)


def test_building_the_model_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARBITER__RISK__MAX_OPEN_SAGAS", "3")
    assert ArbiterConfig().risk.max_open_sagas == 4
    assert load_config(environ=None).risk.max_open_sagas == 3


def test_text_and_file_load_alike(tmp_path: Path) -> None:
    text = "risk: {max_open_sagas: 2}\n"
    (tmp_path / "c.yaml").write_text(text)
    assert config_from_text(text, {}) == load_config(tmp_path / "c.yaml", environ={})


def test_a_missing_public_key_file_names_the_field() -> None:
    config = load_config(environ={"ARBITER__AUTH__RS256_PUBLIC_KEY_PATH": "/nonexistent.pem"})
    with pytest.raises(ConfigError, match=r"auth\.rs256_public_key_path='/nonexistent\.pem'"):
        config.auth.public_key()
    assert load_config(environ={}).auth.public_key() is None


def test_the_reference_in_the_docs_is_generated_from_the_models() -> None:
    from arbiter.platform.config_docs import reference, updated

    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    assert reference() in doc and updated(doc) == doc, "run python tools/gen_config_docs.py"
    for section, info in ArbiterConfig.model_fields.items():
        for name, field in info.annotation.model_fields.items():  # type: ignore[union-attr]
            if name != "sections":
                assert f"| `{section}.{name}` |" in doc
                assert field.description, f"{section}.{name} has no description"
