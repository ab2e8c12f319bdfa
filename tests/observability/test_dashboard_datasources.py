"""Dashboards work on any Grafana: the data source is a dashboard variable, never a fixed uid.

A dashboard that pins `uid: arbiter-prometheus` shows "datasource not found" on a Grafana whose
Prometheus was provisioned under another uid (every stock kube-prometheus-stack install). Each
dashboard therefore declares a `datasource` variable (type datasource, Prometheus) and, where it
queries traces, a `tempo` one; every panel, target, variable query and data link uses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import DASHBOARDS, load_dashboard

# The dashboard variable each data source type is reached through.
VARIABLE = {"prometheus": "datasource", "tempo": "tempo"}


def _references(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(json path, value) of every data source reference in a dashboard: `datasource`
    objects or strings, and the `datasourceUid` of internal data links."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}"
            if (key == "datasource" and isinstance(value, (dict, str))) or key == "datasourceUid":
                yield path, value
            else:
                yield from _references(value, path)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _references(value, f"{where}[{index}]")


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_the_datasource_variable_exists(path: Path) -> None:
    variable = _variables(load_dashboard(path)).get("datasource")
    assert variable is not None, f"{path.name} has no `datasource` variable"
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    # The first variable: the others are queried through it, so it must resolve first.
    assert load_dashboard(path)["templating"]["list"][0]["name"] == "datasource"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_no_panel_target_or_variable_pins_a_uid(path: Path) -> None:
    dashboard = load_dashboard(path)
    variables = _variables(dashboard)
    references = list(_references({"panels": dashboard["panels"],
                                   "templating": dashboard["templating"]}))
    assert references
    for where, ref in references:
        if isinstance(ref, str):  # a bare uid string (old-style) or a datasourceUid
            assert ref.startswith("${") and ref.endswith("}"), f"{path.name}{where}: {ref!r}"
            assert ref[2:-1] in variables, f"{path.name}{where}: no variable {ref!r}"
            continue
        kind = ref.get("type")
        assert kind in VARIABLE, f"{path.name}{where}: unexpected data source type {kind!r}"
        assert ref.get("uid") == f"${{{VARIABLE[kind]}}}", f"{path.name}{where}: {ref}"
        name = VARIABLE[kind]
        assert (variables[name]["type"], variables[name]["query"]) == ("datasource", kind)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_and_target_names_its_datasource(path: Path) -> None:
    """A panel without a data source falls back to Grafana's default, which may not even be
    a Prometheus: every panel and target says which variable it uses."""
    for panel in load_dashboard(path)["panels"]:
        assert "datasource" in panel, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_the_pinned_uids_are_gone_from_every_file() -> None:
    for path in DASHBOARDS:
        text = path.read_text()
        assert "arbiter-prometheus" not in text and "arbiter-tempo" not in text, path.name
