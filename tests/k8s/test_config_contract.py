"""One configuration contract: what the operator and the chart hand a pod, `load_config`
loads, carrying the values the Tenant or values file asked for; the CRD is the config's."""

from __future__ import annotations

import base64
import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field

from arbiter.operator.certificates import tenant_identities
from arbiter.operator.children import build_children
from arbiter.operator.crd import SPEC_SCHEMA, structural, tenant_crd_yaml
from arbiter.operator.platform import Platform
from arbiter.operator.spec import TenantSpec
from arbiter.operator.store_credentials import store_secret
from arbiter.operator.validation import pod_configs, validate_tenant
from arbiter.platform.config import ArbiterConfig, ConfigError, Int, RiskConfig, config_from_text
from arbiter.platform.peers import Issued, issue_ca, issue_service_cert
from arbiter.topology.distributed import _check_identity

from .conftest import CHART, ROOT, render, render_ci

EXAMPLES = sorted((ROOT / "services" / "operator" / "examples").glob("*.yaml"))
VALUES = sorted(CHART.glob("values*.yaml")) + sorted((CHART / "ci").glob("*.yaml"))


def _tenant(path: Path) -> dict[str, Any]:
    body = yaml.safe_load(path.read_text())
    body["metadata"]["uid"] = f"uid-{body['metadata']['name']}"
    return body


def _expected_legs(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(spec["market"]["pairs"][i][leg]["venue"], leg) for i in
            range(len(spec["market"]["pairs"])) for leg in "ab"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_tenant_yields_pods_that_load_its_values(
    example: Path, platform: Platform
) -> None:
    body = _tenant(example)
    name, spec = body["metadata"]["name"], body["spec"]
    assert validate_tenant(name, spec) == []
    configs = pod_configs(build_children(body, platform))
    venues = sorted({venue for venue, _ in _expected_legs(spec)})
    assert sorted(configs) == sorted(
        [f"{name}-saga/saga", f"{name}-risk/risk"]
        + [f"{name}-gateway-{v}/gateway-{v}" for v in venues])
    for where, config in configs.items():
        assert (config.tenant.id, config.tenant.tier) == (name, spec["tenant"]["tier"]), where
        assert [p.pair_id for p in config.market.pairs] == [
            p["pair_id"] for p in spec["market"]["pairs"]]
        assert [(p.a.venue, p.b.venue, p.inverted) for p in config.market.pairs] == [
            (p["a"]["venue"], p["b"]["venue"], p.get("inverted", False))
            for p in spec["market"]["pairs"]]
        for key, value in spec.get("risk", {}).items():
            assert getattr(config.risk, key) == Decimal(str(value)), (where, key)
        assert config.venues.mode == spec.get("venues", {}).get("mode", "paper")
        assert config.venues.dry_run == spec.get("venues", {}).get("dry_run", False)
        assert config.grpc.risk_addr == f"{name}-risk:50051"
        assert config.grpc.gateway_addrs == {v: f"{name}-gateway-{v}:50051" for v in venues}
        assert config.bus.topic_prefix == f"tenant-{name}."
        assert config.bus.kafka_bootstrap == platform.env["ARBITER__BUS__KAFKA_BOOTSTRAP"]
        assert config.vault.role == f"arbiter-tenant-{name}"


def test_venue_sections_of_a_tenant_reach_its_gateways(platform: Platform) -> None:
    body = _tenant(EXAMPLES[[p.name for p in EXAMPLES].index("tenant.yaml")])
    configs = pod_configs(build_children(body, platform))
    kalshi = configs["acme-gateway-kalshi/gateway-kalshi"].venues.settings("kalshi")
    assert (kalshi.environment, kalshi.vault_credential) == (  # type: ignore[attr-defined]
        "production", "production-kalshi")


def test_the_store_dsn_the_operator_copies_is_the_one_the_pods_load(platform: Platform) -> None:
    """The saga and risk read ARBITER__STORE__DSN from the Secret the operator writes into the
    tenant's namespace: resolved against that Secret, the real loader yields the source DSN."""
    body = _tenant(EXAMPLES[[p.name for p in EXAMPLES].index("tenant.yaml")])
    dsn = "postgresql://arbiter_tenant_acme:pw@db:5432/arbiter"
    secret = store_secret(body, base64.b64encode(dsn.encode()).decode(), "trading/x#dsn")
    children = build_children(body, platform)
    config_map = next(m for m in children if m["kind"] == "ConfigMap")
    for name in ("acme-saga", "acme-risk"):
        deployment = next(m for m in children if m["metadata"]["name"] == name
                          and m["kind"] == "Deployment")
        env: dict[str, str] = {}
        for var in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:  # the pod would not start without it: optional is never set
                assert ref["name"] == secret["metadata"]["name"] and "optional" not in ref
                env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
            else:
                env[var["name"]] = var["value"]
        config = config_from_text(config_map["data"]["config.yaml"], env)
        assert config.store.dsn.get_secret_value() == dsn, name
        assert secret["metadata"]["namespace"] == deployment["metadata"]["namespace"]


@pytest.mark.parametrize("values_file", VALUES, ids=[p.name for p in VALUES])
def test_every_chart_values_file_yields_pods_that_load_their_values(values_file: Path) -> None:
    values = yaml.safe_load(values_file.read_text()) or {}
    manifests = render_ci(values_file) if values_file.parent.name == "ci" else render(values)
    configs = pod_configs(manifests)
    merged = {**yaml.safe_load((CHART / "values.yaml").read_text())["config"],
              **values.get("config", {})}
    assert len(configs) >= (1 if "market-data-only" in values_file.stem else 5)
    for where, config in configs.items():
        assert config.bus.kind == merged["bus"]["kind"] == "kafka", where
        assert config.bus.fetch_max_wait_ms == merged["bus"]["fetch_max_wait_ms"]
        bootstrap = values.get("kafka", {}).get("external", {}).get("bootstrap")
        if bootstrap:
            assert config.bus.kafka_bootstrap == bootstrap
        service = where.split("/")[1]
        for key, value in values.get("services", {}).get(service, {}).get("env", {}).items():
            section, field = key.removeprefix("ARBITER__").lower().split("__")
            assert str(getattr(getattr(config, section), field)) == value, (where, key)


def _rejected(platform: Platform, **spec: Any) -> str:
    body = _tenant(EXAMPLES[[p.name for p in EXAMPLES].index("tenant.yaml")])
    body["spec"] = {**copy.deepcopy(body["spec"]), **spec}
    assert validate_tenant(body["metadata"]["name"], body["spec"]) == []
    with pytest.raises(ConfigError) as caught:
        pod_configs(build_children(body, platform))
    return str(caught.value)


def test_a_spec_beyond_its_tier_is_well_formed_but_its_pods_would_refuse_it(
    platform: Platform,
) -> None:
    message = _rejected(platform, tenant={"tier": "paper"},
                        risk={"max_open_sagas": 9, "max_exposure_usd": 100})
    assert "acme-saga/saga" in message
    assert "risk.max_open_sagas=9 exceeds the tier's cap of 4" in message


def test_a_pod_env_the_config_does_not_know_is_refused(platform: Platform) -> None:
    broken = Platform(**{**platform.__dict__, "env": {**platform.env,
                                                      "ARBITER__GATEWAY__ROLE": "x"}})
    body = _tenant(EXAMPLES[0])
    with pytest.raises(ConfigError, match="'gateway' is not a section"):
        pod_configs(build_children(body, broken))


def test_the_crd_has_the_config_names_units_and_ranges() -> None:
    crd = yaml.safe_load(tenant_crd_yaml())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    risk = spec["properties"]["risk"]["properties"]
    assert set(risk) == set(ArbiterConfig.model_fields["risk"].annotation.model_fields)  # type: ignore[union-attr]
    exposure = risk["max_exposure_usd"]
    assert exposure["x-kubernetes-int-or-string"] and exposure["maximum"] == 1_000_000_000
    assert "dollars" in exposure["description"]
    assert risk["max_open_sagas"] == {"type": "integer", "format": "int64", "minimum": 1,
                                      "maximum": 1000, "description": "Sagas in flight at once."}
    venues = spec["properties"]["venues"]["properties"]
    assert {"mode", "dry_run", "polymarket", "kalshi"} <= set(venues)
    leg = spec["properties"]["market"]["properties"]["pairs"]["items"]["properties"]["a"]
    assert leg["properties"]["venue"]["enum"] == ["kalshi", "polymarket"]
    assert {"condition_id", "ticker"} <= set(leg["properties"])


def test_a_changed_config_field_shows_up_in_the_generated_crd() -> None:
    """A field a saga/risk change adds to RiskConfig reaches the CRD with its range."""

    class WiderRisk(RiskConfig):
        max_hedges: Int = Field(3, ge=0, le=9, description="Hedge attempts.")

    class WiderSpec(TenantSpec):
        risk: WiderRisk = Field(default_factory=WiderRisk)

    generated = structural(WiderSpec.model_json_schema())
    assert generated["properties"]["risk"]["properties"]["max_hedges"] == {
        "type": "integer", "format": "int64", "minimum": 0, "maximum": 9,
        "description": "Hedge attempts."}
    assert "max_hedges" not in SPEC_SCHEMA["properties"]["risk"]["properties"]


def _mounted(manifests: list[dict[str, Any]], where: str, path: str) -> tuple[str, str]:
    """(Secret, key) behind the file `path` of the container `<Deployment>/<container>`."""
    name, container_name = where.split("/")
    pod = next(m for m in manifests if m["kind"] == "Deployment"
               and m["metadata"]["name"] == name)["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == container_name)
    directory, _, key = path.rpartition("/")
    volume = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}[directory]
    return next(v for v in pod["volumes"] if v["name"] == volume)["secret"]["secretName"], key


def _serves_with(config: ArbiterConfig, service: str, issued: Issued, ca: Issued,
                 folder: Path) -> None:
    """Start-up's identity check (`distributed._check_identity`) on the issued material,
    put where the config's tls paths point (rebased from the mount into `folder`)."""
    paths = {}
    for field_name, data in (("ca_path", ca.cert_pem), ("cert_path", issued.cert_pem),
                             ("key_path", issued.key_pem)):
        target = folder / Path(getattr(config.tls, field_name)).name
        target.write_bytes(data)
        paths[field_name] = str(target)
    _check_identity(service, config.model_copy(update={
        "tls": config.tls.model_copy(update=paths)}))


def test_tls_enabled_pod_configs_load_paths_into_their_certificate_and_match_its_identity(
    platform: Platform, tmp_path: Path,
) -> None:
    """What the chart and the operator render with tls on: each gRPC pod's config loads with
    tls.* pointing into the Secret of its own certificate, and the certificate the operator or
    cert-manager puts there (the identity certificates.py derives) is the one `arbiter serve`
    accepts at start; another pod's is refused."""
    ca = issue_ca()
    release = render_ci(CHART / "ci" / "default-values.yaml")
    shared = {i.deployment: i for i in platform.tls.shared}
    body = _tenant(EXAMPLES[[p.name for p in EXAMPLES].index("tenant.yaml")])
    body["metadata"]["namespace"] = "desk-acme"
    children = build_children(body, platform)
    tenant = {i.deployment: i for i in tenant_identities(children, "acme", "desk-acme")}
    checked = 0
    for manifests, identities in ((release, shared), (children, tenant)):
        for where, config in pod_configs(manifests).items():
            deployment, service = where.split("/")
            if deployment not in identities:
                assert not config.tls.enabled, where  # serves no gRPC
                continue
            identity = identities[deployment]
            assert [_mounted(manifests, where, getattr(config.tls, f)) for f in
                    ("ca_path", "cert_path", "key_path")] == [
                (identity.secret, "ca.crt"), (identity.secret, "tls.crt"),
                (identity.secret, "tls.key")], where
            issued = issue_service_cert(ca, identity.service, identity.tenant, identity.hosts)
            _serves_with(config, service, issued, ca, tmp_path)
            other = issue_service_cert(ca, identity.service, "rival", identity.hosts)
            with pytest.raises(ConfigError, match="not of"):
                _serves_with(config, service, other, ca, tmp_path)
            checked += 1
    assert checked == len(shared) + len(tenant) == 8
