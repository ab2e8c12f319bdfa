"""The chart's PostgreSQL roles: a tenant's pods hold only its own login role's DSN, the vault
service only the vault role's, the other shared services none; an init Job (a Helm hook)
provisions roles.sql with passwords from Secrets, migrates as the owner and adds the listed
tenants' roles."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from arbiter.operator.platform import SecretKey, parse_platform
from arbiter.platform.config import load_config
from arbiter.platform.store import init, tenant_role

from .conftest import CHART, Manifest, find, platform_yaml, render, render_ci
from .invariants import pod_violations

DEFAULT = CHART / "ci" / "default-values.yaml"
EXTERNAL = CHART / "ci" / "external-deps-values.yaml"
TENANT_SECRET = {"name": "arbiter-postgresql-tenant-{tenant}", "key": "dsn"}  # per tenant
LONG_ID = "a-tenant-id-long-enough-that-its-role-name-needs-a-digest"
TENANTS = {"postgresql": {"enabled": True, "tenants": ["acme", LONG_ID]}}
VAULT_SECRET = {"name": "arbiter-postgresql-vault", "key": "dsn"}


def secret_data(manifests: list[Manifest], name: str) -> dict[str, str]:
    data = find(manifests, "Secret", name)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def secret_refs(pod: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(env var, secret name, key) of every secretKeyRef in a pod's containers."""
    return [(e["name"], ref["name"], ref["key"])
            for c in pod.get("initContainers", []) + pod["containers"] for e in c.get("env", [])
            if (ref := e.get("valueFrom", {}).get("secretKeyRef"))]


def job_env(manifests: list[Manifest]) -> dict[str, Any]:
    job = find(manifests, "Job", "arbiter-store-init")
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom", {}).get("secretKeyRef"))
            for e in container["env"]}


def test_bundled_roles_get_their_own_secrets_and_dsns() -> None:
    manifests = render(TENANTS)
    owner = secret_data(manifests, "arbiter-postgresql-owner")
    vault = secret_data(manifests, "arbiter-postgresql-vault")
    acme = secret_data(manifests, "arbiter-postgresql-tenant-acme")
    long = secret_data(manifests, f"arbiter-postgresql-tenant-{LONG_ID}")
    admin = secret_data(manifests, "arbiter-bundled-postgresql")
    # The chart names a tenant's role as the store does, digest included
    for data, user in ((owner, "arbiter_owner"), (vault, "arbiter_vault"),
                       (acme, "arbiter_t_acme"), (long, tenant_role(LONG_ID))):
        dsn = conninfo_to_dict(data["dsn"])
        assert data["username"] == dsn["user"] == user
        assert dsn["password"] == data["password"] and len(data["password"]) == 32
        assert (dsn["host"], dsn["port"], dsn["dbname"]) == (
            "arbiter-bundled-postgresql.trading.svc", "5432", "arbiter")
    assert len(tenant_role(LONG_ID)) == 63
    assert conninfo_to_dict(admin["admin-dsn"])["user"] == "arbiter"  # the server's superuser
    assert "dsn" not in admin  # nothing a service could mistake for its own DSN
    assert len({owner["password"], vault["password"], acme["password"], long["password"],
                admin["password"]}) == 5
    # arbiter_app is a group no one logs in as: no Secret for it
    assert not [m for m in manifests if m["metadata"]["name"] == "arbiter-postgresql-app"]
    assert find(manifests, "Secret", "arbiter-postgresql-tenant-acme")["metadata"]["labels"][
        "arbiter.dev/tenant"] == "acme"


def postgres_refs(manifests: list[Manifest], workload: str) -> list[tuple[str, str, str]]:
    pod = find(manifests, "Deployment", workload)["spec"]["template"]["spec"]
    return [ref for ref in secret_refs(pod) if "postgres" in ref[1]]


def test_only_the_vault_holds_a_store_role_and_tenants_get_their_own_through_the_operator(
) -> None:
    manifests = render(TENANTS)
    for workload in (m for m in manifests if m["kind"] in ("Deployment", "StatefulSet")):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        for env, secret, key in secret_refs(pod):
            if name == "arbiter-bundled-postgresql":
                assert (env, secret, key) == (
                    "POSTGRES_PASSWORD", "arbiter-bundled-postgresql", "password")
            elif env == "ARBITER__VAULT__STORE_DSN":
                assert (name, {"name": secret, "key": key}) == ("arbiter-vault", VAULT_SECRET)
            else:
                assert "postgresql" not in secret, (name, env, secret)
                assert env != "ARBITER__STORE__DSN", name
    assert postgres_refs(manifests, "arbiter-vault") == [
        ("ARBITER__VAULT__STORE_DSN", "arbiter-postgresql-vault", "dsn")]
    # Tenants' saga pods, built by the operator: the Secret of their own tenant's role
    store = parse_platform(yaml.safe_load(platform_yaml(manifests))).store
    assert store is not None and store.namespace == "trading"  # copied from the release's
    store_secret = {"name": store.secret.name, "key": store.secret.key}
    assert store_secret == TENANT_SECRET
    assert store.source("acme") == SecretKey("arbiter-postgresql-tenant-acme", "dsn")
    acme = secret_data(manifests, store_secret["name"].replace("{tenant}", "acme"))
    assert conninfo_to_dict(acme[store_secret["key"]])["user"] == tenant_role("acme")


def test_external_postgres_names_each_tenants_dsn_secret() -> None:
    platform = yaml.safe_load(platform_yaml(render_ci(EXTERNAL)))
    store = parse_platform(platform).store
    assert store is not None and store.secret == SecretKey("arbiter-store-{tenant}", "dsn")
    values = yaml.safe_load(EXTERNAL.read_text())
    values["postgresql"]["external"]["tenantDsnSecret"]["name"] = "arbiter-store"  # no {tenant}
    with pytest.raises(helm.HelmValuesError, match="tenantDsnSecret/name"):
        render(values)


def test_the_vault_env_is_what_its_config_reads() -> None:
    [(env, _, _)] = postgres_refs(render_ci(DEFAULT), "arbiter-vault")
    config = load_config(environ={env: "host=db user=arbiter_vault"})
    assert config.vault.store_dsn.get_secret_value() == "host=db user=arbiter_vault"


def test_external_postgres_needs_the_vault_roles_dsn_for_the_vault() -> None:
    assert postgres_refs(render_ci(EXTERNAL), "arbiter-vault") == [
        ("ARBITER__VAULT__STORE_DSN", "arbiter-postgres-vault-dsn", "dsn")]
    values = yaml.safe_load(EXTERNAL.read_text())
    del values["postgresql"]["external"]["vaultDsnSecret"]
    with pytest.raises(helm.HelmError, match="postgresql.external.vaultDsnSecret.name is required"):
        render(values)
    values["services"]["vault"] = {"enabled": False}
    assert not [m for m in render(values) if m["metadata"]["name"] == "arbiter-vault"]


def test_init_job_runs_after_install_and_upgrade_with_owner_admin_and_passwords() -> None:
    manifests = render_ci(DEFAULT)
    job = find(manifests, "Job", "arbiter-store-init")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["python", "-m", "arbiter.platform.store", "init"]
    assert container["image"] == find(manifests, "Deployment", "arbiter-orderbook")[
        "spec"]["template"]["spec"]["containers"][0]["image"]
    assert job_env(manifests) == {
        init.ENV_WAIT_SECONDS: "300",
        init.ENV_OWNER_DSN: {"name": "arbiter-postgresql-owner", "key": "dsn"},
        init.ENV_ADMIN_DSN: {"name": "arbiter-bundled-postgresql", "key": "admin-dsn"},
        init.ENV_OWNER_PASSWORD: {"name": "arbiter-postgresql-owner", "key": "password"},
        init.ENV_VAULT_PASSWORD: {"name": "arbiter-postgresql-vault", "key": "password"},
    }
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    # Hardened like every pod; a run-to-completion Job has no probes to serve
    assert [p for p in pod_violations(pod) if "Probe" not in p] == []


def test_the_job_env_and_tenant_files_are_what_the_init_command_reads(tmp_path: Path) -> None:
    manifests = render(TENANTS)
    env = job_env(manifests)
    assert env[init.ENV_TENANT_PASSWORDS_DIR] == "/var/run/arbiter/store-tenants"
    pod = find(manifests, "Job", "arbiter-store-init")["spec"]["template"]["spec"]
    [mount] = [m for m in pod["containers"][0]["volumeMounts"]
               if m["mountPath"] == env[init.ENV_TENANT_PASSWORDS_DIR]]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    # Lay the projected Secrets out as the kubelet would, then read them as the Job does
    for source in volume["projected"]["sources"]:
        [item] = source["secret"]["items"]
        data = secret_data(manifests, source["secret"]["name"])
        (tmp_path / item["path"]).write_text(data[item["key"]])
    fake = {name: "x" for name in env}
    fake[init.ENV_WAIT_SECONDS] = env[init.ENV_WAIT_SECONDS]
    fake[init.ENV_TENANT_PASSWORDS_DIR] = str(tmp_path)
    settings = init.InitSettings.from_env(fake)
    assert settings.admin_dsn and settings.owner_dsn and settings.wait_seconds == 300
    assert set(settings.passwords or {}) == {"arbiter_owner", "arbiter_vault"}
    assert settings.tenant_passwords == {
        tenant: secret_data(manifests, f"arbiter-postgresql-tenant-{tenant}")["password"]
        for tenant in ("acme", LONG_ID)}
    # Without tenants the Job mounts nothing and adds none
    assert init.ENV_TENANT_PASSWORDS_DIR not in job_env(render_ci(DEFAULT))


def test_external_postgres_has_no_role_secrets_and_migrates_only_with_an_owner_dsn() -> None:
    external = render_ci(EXTERNAL)
    assert not [m for m in external
                if m["kind"] == "Secret" and "postgresql" in m["metadata"]["name"]]
    assert not [m for m in external if m["kind"] == "Job"]

    values = yaml.safe_load(EXTERNAL.read_text())
    owner_ref = {"name": "arbiter-postgres-owner", "key": "uri"}
    values["postgresql"]["external"]["ownerDsnSecret"] = owner_ref
    migrating = render(values)
    assert job_env(migrating) == {
        init.ENV_WAIT_SECONDS: "300",
        init.ENV_OWNER_DSN: owner_ref,
    }


def test_the_init_job_can_be_switched_off() -> None:
    manifests = render({"postgresql": {"enabled": True, "init": {"enabled": False}}})
    assert not [m for m in manifests if m["kind"] == "Job"]
    assert find(manifests, "Secret", "arbiter-postgresql-vault")


@pytest.mark.parametrize(("values", "path"), [
    ({"postgresql": {"enabled": True, "init": {"backoffLimit": -1}}},
     "/postgresql/init/backoffLimit"),
    ({"postgresql": {"enabled": True, "init": {"retries": 3}}}, "retries"),
])
def test_bad_init_values_are_schema_errors(values: dict[str, Any], path: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=path):
        render(values)


