"""Every alert the chart renders links to a runbook page that exists and names it, and every
situation the operators asked for has a page in the site's nav."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "arbiter"
RUNBOOKS = ROOT / "docs" / "runbooks"
BASE = "https://docs.example.test/arbiter"
PROCEDURES = ("leg-risk-held", "hardstop-latched", "venue-down", "reconciliation-mismatch",
              "key-rotation", "ca-rotation", "low-balance", "broker-down", "tenant-onboarding")


def _rules(values: dict[str, Any]) -> list[dict[str, Any]]:
    files = helm.Chart.load(CHART).render(values, name="arbiter", namespace="trading")
    manifests = [doc for text in files.values() for doc in yaml.safe_load_all(text) if doc]
    [rule] = [m for m in manifests if m["kind"] == "PrometheusRule"]
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def _page(url: str, base: str) -> Path:
    assert url.startswith(f"{base}/runbooks/") and url.endswith("/"), url
    return RUNBOOKS / f"{url.removeprefix(f'{base}/runbooks/').removesuffix('/')}.md"


def test_every_alert_links_to_a_runbook_that_names_it() -> None:
    rules = _rules({"observability": {"alerts": {"enabled": True, "runbookBaseUrl": BASE}}})
    assert len(rules) >= 8
    for rule in rules:
        annotations = rule["annotations"]
        assert annotations.get("description"), f"{rule['alert']} has no description"
        page = _page(annotations["runbook_url"], BASE)
        assert page.is_file(), f"{rule['alert']}: {page.relative_to(ROOT)} does not exist"
        assert f"`{rule['alert']}`" in page.read_text(), f"{page.name} never names {rule['alert']}"
        assert f"`{rule['alert']}`" in (RUNBOOKS / "index.md").read_text()


def test_the_default_base_url_and_a_trailing_slash_give_the_same_page_paths() -> None:
    default = _rules({"observability": {"alerts": {"enabled": True}}})
    slashed = _rules({"observability": {"alerts": {"enabled": True,
                                                   "runbookBaseUrl": f"{BASE}/"}}})
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    base = values["observability"]["alerts"]["runbookBaseUrl"]
    for rule, other in zip(default, slashed, strict=True):
        assert _page(rule["annotations"]["runbook_url"], base).is_file()
        assert _page(other["annotations"]["runbook_url"], BASE).is_file()


def test_every_procedure_has_a_runbook_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"index"}
    assert set(PROCEDURES) <= pages
    for page in sorted(pages):
        assert f"runbooks/{page}.md" in nav, f"runbooks/{page}.md is not in the mkdocs nav"
        text = (RUNBOOKS / f"{page}.md").read_text()
        assert "## Verify" in text, f"{page}.md says nothing about verifying recovery"
