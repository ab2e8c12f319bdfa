"""The real kopf operator against kmock's in-memory Kubernetes API, and a live OpenBao for
tenants' Vault roles.

kmock stores objects and streams watch events, but it is not an API server: it does not bump
`metadata.generation` (the tests do, as the API server would on a spec change), runs no
garbage collector for ownerReferences (the operator's finalizer deletes children explicitly,
which is what these tests observe), and enforces no CRD schema (see test_tenant_schema.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import hvac
import kmock
import kopf
import kubernetes_validate
import pytest
import yaml

import arbiter.operator.handlers  # registers the handlers with kopf; its delays are tuned
from arbiter.operator.platform import PLATFORM_ENV

from .conftest import CHART, NAMESPACE, find, platform_yaml, policy, render_ci, role

NS = "desk-acme"
RELEASE_NS = "trading"  # the chart is rendered into it (conftest.NAMESPACE)
ACME_DSN = "postgresql://arbiter_t_acme:pw@db/arbiter"
TENANT_STORE = "arbiter-postgresql-tenant-acme"
OTHER_TENANTS = ("bad", "greedy", "alpha", "beta")  # the chart's Secret of acme's login role
TENANTS = "/apis/arbiter.dev/v1alpha1"
RESOURCES = {
    "arbiter.dev/v1alpha1/tenants": ("Tenant", ["status"]),
    "v1/serviceaccounts": ("ServiceAccount", []),
    "v1/configmaps": ("ConfigMap", []),
    "v1/services": ("Service", []),
    "v1/secrets": ("Secret", []),
    "apps/v1/deployments": ("Deployment", []),
    "policy/v1/poddisruptionbudgets": ("PodDisruptionBudget", []),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", []),
    "cert-manager.io/v1/certificates": ("Certificate", []),
    "v1/events": ("Event", []),
}
# Cluster-scoped resources kopf's backbone waits for before it starts watching anything.
BACKBONE = {
    "v1/namespaces": "Namespace",
    "apiextensions.k8s.io/v1/customresourcedefinitions": "CustomResourceDefinition",
}
VERBS = ["list", "watch", "get", "create", "patch", "delete"]
EXAMPLE = yaml.safe_load((CHART.parents[1] / "services" / "operator" / "examples" / "tenant.yaml").read_text())


class Cluster:
    """Test-side view of the mock API: the objects as the operator left them.

    kmock runs no controllers, so `run_deployments` plays the Deployment controller: while
    `pods_start` is set, every Deployment's status reports its replicas available (a cluster
    whose pods never start: clear it)."""

    def __init__(self, server: kmock.KubernetesEmulator) -> None:
        self.server = server
        self.pods_start = True

    async def run_deployments(self) -> None:
        while True:
            if self.pods_start:
                for name, deployment in self._existing("apps/v1/deployments").items():
                    wanted = int(deployment.get("spec", {}).get("replicas", 1))
                    if (deployment.get("status") or {}).get("availableReplicas") != wanted:
                        await self.request(
                            "PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/{name}",
                            {"status": {"replicas": wanted, "availableReplicas": wanted}},
                            patch=True)
            await asyncio.sleep(0.05)

    def _existing(self, resource: str, namespace: str = NS) -> dict[str, Any]:
        wanted = kmock.resource(resource)
        return {
            name: obj.raw
            for (res, ns, name), obj in list(self.server.objects.items())
            if res == wanted and ns == namespace and not obj.deleted
        }

    def live(self, resource: str, name: str, namespace: str = NS) -> dict[str, Any] | None:
        raw = self._existing(resource, namespace).get(name)
        return copy.deepcopy(dict(raw)) if raw is not None else None

    def names(self, resource: str, namespace: str = NS) -> set[str]:
        return set(self._existing(resource, namespace))

    async def put_secret(self, name: str, data: dict[str, str], namespace: str = RELEASE_NS
                         ) -> None:
        """Create or replace a Secret (as `kubectl apply` would), values in plain text."""
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        path = f"/api/v1/namespaces/{namespace}/secrets"
        if self.live("v1/secrets", name, namespace) is None:
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": name, "namespace": namespace}, "data": encoded}
            await self.request("POST", path, body)
        else:
            await self.request("PATCH", f"{path}/{name}", {"data": encoded}, patch=True)

    def secret_value(self, name: str, key: str, namespace: str = NS) -> str | None:
        secret = self.live("v1/secrets", name, namespace)
        value = (secret or {}).get("data", {}).get(key)
        return base64.b64decode(value).decode() if value is not None else None

    async def request(self, method: str, path: str, body: Any = None, patch: bool = False) -> Any:
        headers = {"Content-Type": "application/merge-patch+json"} if patch else {}
        async with self.server.request(method, path, json=body, headers=headers) as response:
            assert response.status < 400, await response.text()
            return await response.json()

    async def create_tenant(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": "arbiter.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1,
                         "resourceVersion": "1"},
            "spec": spec,
        }
        await self.request("POST", f"{TENANTS}/namespaces/{NS}/tenants", body)

    async def update_spec(self, name: str, spec_patch: dict[str, Any]) -> None:
        generation = self.live("arbiter.dev/v1alpha1/tenants", name)["metadata"]["generation"]
        patch = {"metadata": {"generation": generation + 1}, "spec": spec_patch}
        await self.request("PATCH", f"{TENANTS}/namespaces/{NS}/tenants/{name}", patch, patch=True)

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        tenant = self.live("arbiter.dev/v1alpha1/tenants", name) or {}
        conditions = tenant.get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == kind), {})


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll until `check()` is truthy (state, not logs), failing with its last value. The
    timeout is generous: kmock keeps resourceVersion at 1, so kopf re-handles each queued
    event of a Tenant (about a second each on a loaded machine) before it sees the next."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not reached in {timeout}s (last value: {result!r})")
        await asyncio.sleep(0.05)


@pytest.fixture()
def vault_addr(openbao: dict[str, str]) -> str:
    """Where the platform says Vault is (a test parametrizes it to a dead address)."""
    return openbao["VAULT_ADDR"]


@pytest.fixture()
def chart_values() -> Path:
    """The values file the release is rendered with (its platform.yaml and CA Secret)."""
    return CHART / "ci" / "default-values.yaml"


@pytest.fixture()
async def cluster(
    kmock: kmock.KubernetesEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    openbao: dict[str, str], vault: tuple[hvac.Client, str], vault_addr: str,
    chart_values: Path,
) -> AsyncIterator[Cluster]:
    """kmock with the operator's resources declared, the release's store, Vault token and CA
    (tls.mode=chart) Secrets in its namespace, and the operator running against it and
    OpenBao."""
    for resource, (kind, subresources) in RESOURCES.items():
        kmock.resources[resource] = kmock.ResourceInfo(
            kind=kind, namespaced=True, verbs=VERBS, subresources=subresources
        )
    for resource, kind in BACKBONE.items():
        kmock.resources[resource] = kmock.ResourceInfo(kind=kind, namespaced=False, verbs=VERBS)
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "kmock",
        "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url).rstrip("/")}}],
        "users": [{"name": "kmock", "user": {}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    release = render_ci(chart_values)
    platform = yaml.safe_load(platform_yaml(release))
    platform["vault"].update(addr=vault_addr, authMount=vault[1])
    (tmp_path / "platform.yaml").write_text(yaml.safe_dump(platform))
    for secret in (m for m in release if m["kind"] == "Secret"
                   and m["metadata"]["name"] == "arbiter-tls-ca"):
        async with kmock.request("POST", f"/api/v1/namespaces/{NAMESPACE}/secrets",
                                 json=find(release, "Secret", secret["metadata"]["name"])):
            pass
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv(PLATFORM_ENV, str(tmp_path / "platform.yaml"))

    # a tenant whose pods are starting (or whose Secret is missing) is looked at again soon
    monkeypatch.setattr(arbiter.operator.handlers, "AVAILABILITY_DELAY", 0.2)
    monkeypatch.setattr(arbiter.operator.handlers, "RETRY_DELAY", 0.5)
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready)
    )
    await asyncio.wait_for(ready.wait(), timeout=10)
    cluster = Cluster(kmock)
    await cluster.put_secret(TENANT_STORE, {"dsn": ACME_DSN})
    for other in OTHER_TENANTS:  # the other tenants the tests create, provisioned too
        await cluster.put_secret(f"arbiter-postgresql-tenant-{other}",
                                 {"dsn": f"postgresql://arbiter_t_{other}:pw@db/arbiter"})
    await cluster.put_secret("arbiter-bundled-vault", {"token": openbao["VAULT_TOKEN"]})
    controller = asyncio.create_task(cluster.run_deployments())
    try:
        yield cluster
    finally:
        controller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await controller
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


async def test_tenant_lifecycle_create_update_drift_delete(
    cluster: Cluster, vault: tuple[hvac.Client, str]
) -> None:
    deployments = "apps/v1/deployments"
    # 1st stage: creation provisions the tenant's namespace (a copy of the store Secret, its
    # Vault role) and builds the whole execution plane; it is not Ready (nor Degraded) while
    # its pods are pending, the one condition that does not hold naming them, and Ready once
    # every Deployment is available.
    cluster.pods_start = False
    await cluster.create_tenant("acme", copy.deepcopy(EXAMPLE["spec"]))
    pending = await eventually(lambda: cluster.condition("acme", "Ready").get("reason")
                               == "Progressing" and cluster.condition("acme", "Ready"))
    assert pending["status"] == "False" and "acme-saga (0/1)" in pending["message"]
    assert pending["message"].startswith("DeploymentsAvailable: waiting for 4 deployments")
    assert cluster.condition("acme", "Degraded")["status"] == "False"
    assert {kind: cluster.condition("acme", kind)["status"] for kind in (
        "ConfigLoads", "StoreCredentialsReady", "VaultRoleReady", "DeploymentsAvailable")} == {
        "ConfigLoads": "True", "StoreCredentialsReady": "True", "VaultRoleReady": "True",
        "DeploymentsAvailable": "False"}
    # the store Secret, copied next to the pods that read it, owned by the Tenant
    assert cluster.secret_value("acme-store", "dsn") == ACME_DSN
    copied = cluster.live("v1/secrets", "acme-store")
    assert copied["metadata"]["ownerReferences"][0]["uid"] == "uid-acme"
    saga_env = {e["name"]: e for e in cluster.live(deployments, "acme-saga")["spec"]["template"][
        "spec"]["containers"][0]["env"]}
    assert saga_env["ARBITER__STORE__DSN"]["valueFrom"]["secretKeyRef"] == {
        "name": "acme-store", "key": "dsn"}
    # the Vault role on OpenBao: the tenant's account in its namespace, its own policy
    created = role(vault, "arbiter-tenant-acme")
    assert created is not None
    assert created["bound_service_account_names"] == ["acme-execution"]
    assert created["bound_service_account_namespaces"] == [NS]
    assert "arbiter-tenant-acme" in created["token_policies"]
    assert 'path "transit/encrypt/arbiter-tenant-acme"' in (policy(vault, "arbiter-tenant-acme")
                                                            or "")
    cluster.pods_start = True
    await eventually(lambda: cluster.condition("acme", "Ready").get("status") == "True")
    assert cluster.names(deployments) == {
        "acme-saga", "acme-risk", "acme-gateway-kalshi", "acme-gateway-polymarket"
    }
    assert cluster.names("v1/services") == cluster.names(deployments)
    assert cluster.names("v1/serviceaccounts") == {"acme-execution"}
    assert cluster.names("v1/configmaps") == {"acme-config"}
    assert cluster.names("policy/v1/poddisruptionbudgets") == set()  # standard: 1 replica each
    tenant = cluster.live("arbiter.dev/v1alpha1/tenants", "acme")
    assert tenant["status"]["observedGeneration"] == 1
    assert tenant["status"]["topicPrefix"] == "tenant-acme."
    assert "arbiter.dev/tenant-cleanup" in tenant["metadata"]["finalizers"]
    saga = cluster.live(deployments, "acme-saga")
    assert saga["metadata"]["ownerReferences"][0]["uid"] == "uid-acme"
    assert saga["spec"]["replicas"] == 1

    # 2nd stage: a spec edit (pause, trade Polymarket only, move to pro) is rolled out and
    # pruned: no pair has a Kalshi leg any more, so its gateway goes. The store password was
    # rotated meanwhile: the copy follows its source.
    await cluster.put_secret(TENANT_STORE, {"dsn": ACME_DSN + "?rotated"})
    pair = copy.deepcopy(EXAMPLE["spec"]["market"]["pairs"][0])
    pair["b"] = {**pair["a"], "condition_id": "0x" + "cd" * 32}
    await cluster.update_spec("acme", {"paused": True, "market": {"pairs": [pair]},
                                       "tenant": {"tier": "pro"}, "venues": {"kalshi": None}})
    await eventually(lambda: cluster.live("arbiter.dev/v1alpha1/tenants", "acme")
                     .get("status", {}).get("observedGeneration") == 2)
    assert cluster.condition("acme", "Ready")["reason"] == "Paused"
    assert cluster.names(deployments) == {"acme-saga", "acme-risk", "acme-gateway-polymarket"}
    assert all(cluster.live(deployments, n)["spec"]["replicas"] == 0
               for n in cluster.names(deployments))
    assert cluster.names("policy/v1/poddisruptionbudgets") == set()  # paused: nothing to protect
    assert cluster.secret_value("acme-store", "dsn") == ACME_DSN + "?rotated"

    # 3rd stage: unpaused pro tier gets two gateway replicas and their PDB.
    await cluster.update_spec("acme", {"paused": False})
    await eventually(lambda: cluster.names("policy/v1/poddisruptionbudgets")
                     == {"acme-gateway-polymarket", "acme-risk"})
    assert cluster.live(deployments, "acme-gateway-polymarket")["spec"]["replicas"] == 2

    # 4th stage: drift. A deleted child comes back; a hand-scaled one is scaled back.
    await cluster.request("DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/acme-risk")
    await eventually(lambda: cluster.live(deployments, "acme-risk"))
    await cluster.request("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/acme-saga",
                          {"spec": {"replicas": 5}}, patch=True)
    await eventually(lambda: cluster.live(deployments, "acme-saga")["spec"]["replicas"] == 1)
    await cluster.request("DELETE", f"/api/v1/namespaces/{NS}/configmaps/acme-config")
    await eventually(lambda: cluster.live("v1/configmaps", "acme-config"))

    # 5th stage: deletion goes through the finalizer, which removes every child, the store
    # Secret's copy (not its source) and the Vault role and policy.
    await cluster.request("DELETE", f"{TENANTS}/namespaces/{NS}/tenants/acme")
    await eventually(lambda: cluster.live("arbiter.dev/v1alpha1/tenants", "acme") is None)
    for resource in RESOURCES:
        if resource != "v1/events":
            assert cluster.names(resource) == set(), resource
    assert {n for n in cluster.names("v1/secrets", RELEASE_NS)  # the shared plane's TLS aside
            if not n.endswith("-tls") and n != "arbiter-tls-ca"} == {
        TENANT_STORE, "arbiter-bundled-vault",
        *(f"arbiter-postgresql-tenant-{other}" for other in OTHER_TENANTS)}
    assert role(vault, "arbiter-tenant-acme") is None
    assert policy(vault, "arbiter-tenant-acme") is None


async def test_invalid_tenant_is_degraded_naming_the_field_and_creates_nothing(
    cluster: Cluster,
) -> None:
    spec = copy.deepcopy(EXAMPLE["spec"])
    spec["risk"]["max_position_per_market"] = spec["risk"]["max_position_total"] + 1
    await cluster.create_tenant("bad", spec)
    degraded = await eventually(lambda: cluster.condition("bad", "Degraded"))
    assert degraded["status"] == "True"
    assert degraded["reason"] == "InvalidSpec"
    assert "spec.risk.max_position_total" in degraded["message"]
    assert cluster.condition("bad", "Ready")["status"] == "False"
    for resource in RESOURCES:
        if resource not in ("arbiter.dev/v1alpha1/tenants", "v1/events"):
            assert cluster.names(resource) == set(), resource

    # Fixing the spec converges it; the Degraded condition clears.
    await cluster.update_spec("bad", {"risk": {"max_position_per_market": 1}})
    await eventually(lambda: cluster.condition("bad", "Ready").get("status") == "True")
    assert cluster.condition("bad", "Degraded")["status"] == "False"
    assert "bad-saga" in cluster.names("apps/v1/deployments")


async def test_a_tenant_whose_config_would_not_load_is_not_ready_and_not_rolled_out(
    cluster: Cluster,
) -> None:
    """Well-formed, but beyond its tier: every pod would stop at start on the ConfigError."""
    spec = copy.deepcopy(EXAMPLE["spec"])
    spec["tenant"] = {"tier": "paper"}
    spec["risk"].update(max_open_sagas=9, max_exposure_usd=100)
    await cluster.create_tenant("greedy", spec)
    ready = await eventually(lambda: cluster.condition("greedy", "Ready"))
    assert (ready["status"], ready["reason"]) == ("False", "InvalidConfig")
    assert ("greedy-saga/saga: invalid configuration: tenant 'greedy' on tier 'paper': "
            "risk.max_open_sagas=9 exceeds the tier's cap of 4") in ready["message"]
    assert cluster.condition("greedy", "Degraded")["status"] == "True"
    for resource in RESOURCES:
        if resource not in ("arbiter.dev/v1alpha1/tenants", "v1/events"):
            assert cluster.names(resource) == set(), resource

    # Within the tier it converges.
    await cluster.update_spec("greedy", {"risk": {"max_open_sagas": 4}})
    await eventually(lambda: cluster.condition("greedy", "Ready").get("status") == "True")
    assert "greedy-saga" in cluster.names("apps/v1/deployments")


async def test_tenants_coexist_and_deleting_one_keeps_the_other(cluster: Cluster) -> None:
    for name in ("alpha", "beta"):
        await cluster.create_tenant(name, copy.deepcopy(EXAMPLE["spec"]))
    for name in ("alpha", "beta"):
        await eventually(lambda n=name: cluster.condition(n, "Ready").get("status") == "True")
    await cluster.request("DELETE", f"{TENANTS}/namespaces/{NS}/tenants/alpha")
    await eventually(lambda: "alpha-saga" not in cluster.names("apps/v1/deployments"))
    assert {n for n in cluster.names("apps/v1/deployments") if n.startswith("beta-")} == {
        "beta-saga", "beta-risk", "beta-gateway-kalshi", "beta-gateway-polymarket"
    }


async def test_extra_env_is_rolled_out_and_a_reserved_name_is_refused(cluster: Cluster) -> None:
    spec = copy.deepcopy(EXAMPLE["spec"])
    spec["extraEnv"] = [{"name": "OTEL_TRACES_SAMPLER", "value": "always_off"},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]
    await cluster.create_tenant("acme", spec)
    await eventually(lambda: cluster.condition("acme", "Ready").get("status") == "True")
    for name in cluster.names("apps/v1/deployments"):
        live = cluster.live("apps/v1/deployments", name)
        pod = live["spec"]["template"]
        assert pod["spec"]["containers"][0]["env"][-2:] == spec["extraEnv"], name
        assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true", name
        # What the operator stored is what the API server's schema accepts.
        body = {k: v for k, v in live.items() if k in ("apiVersion", "kind", "spec")}
        kubernetes_validate.validate({**body, "metadata": {"name": name}}, "1.30", strict=True)

    # Overriding what the operator sets is refused, naming the key; what runs stays.
    await cluster.update_spec("acme", {"extraEnv": [{"name": "ARBITER__BUS__KIND", "value": "memory"}]})
    degraded = await eventually(lambda: cluster.condition("acme", "Degraded").get("reason")
                                == "InvalidSpec" and cluster.condition("acme", "Degraded"))
    assert "spec.extraEnv[0].name: ARBITER__BUS__KIND is set by the operator" in degraded["message"]
    saga = cluster.live("apps/v1/deployments", "acme-saga")
    assert saga["spec"]["template"]["spec"]["containers"][0]["env"][-2:] == spec["extraEnv"]


async def test_a_missing_store_secret_is_named_and_copied_once_it_exists(
    cluster: Cluster,
) -> None:
    """Without the tenant's own store Secret (its database role not provisioned yet) the
    tenant is not Ready, naming the Secret; once it exists it is copied. No tenant falls
    back to another's credentials."""
    await cluster.request("DELETE", f"/api/v1/namespaces/{RELEASE_NS}/secrets/{TENANT_STORE}")
    await cluster.create_tenant("acme", copy.deepcopy(EXAMPLE["spec"]))
    ready = await eventually(lambda: cluster.condition("acme", "StoreCredentialsReady")
                             and cluster.condition("acme", "Ready"))
    assert (ready["status"], ready["reason"]) == ("False", "StoreSecretMissing")
    assert (f"StoreCredentialsReady: no store Secret to copy into Secret acme-store: "
            f"trading/{TENANT_STORE} does not exist") in ready["message"]
    assert cluster.condition("acme", "Degraded")["status"] == "True"
    assert cluster.live("v1/secrets", "acme-store") is None
    assert "acme-saga" in cluster.names("apps/v1/deployments")  # rolled out, waiting

    await cluster.put_secret(TENANT_STORE, {"dsn": "postgresql://acme@db/x"})
    await eventually(lambda: cluster.condition("acme", "Ready").get("status") == "True")
    assert cluster.secret_value("acme-store", "dsn") == "postgresql://acme@db/x"
    assert cluster.condition("acme", "StoreCredentialsReady")["message"].startswith(
        f"trading/{TENANT_STORE} key 'dsn' is in Secret acme-store")


@pytest.mark.parametrize("vault_addr", ["http://127.0.0.1:9"])  # discard: nothing listens
async def test_an_unreachable_vault_is_reported_and_retried_not_a_crash(
    cluster: Cluster,
) -> None:
    await cluster.create_tenant("acme", copy.deepcopy(EXAMPLE["spec"]))
    vault_role = await eventually(lambda: cluster.condition("acme", "VaultRoleReady"))
    assert (vault_role["status"], vault_role["reason"]) == ("False", "VaultUnavailable")
    assert vault_role["message"].startswith("Vault at http://127.0.0.1:9: ConnectionError")
    ready = cluster.condition("acme", "Ready")
    assert ready["status"] == "False" and "VaultRoleReady: Vault at" in ready["message"]
    # the plane is rolled out anyway, and the handler keeps retrying
    assert "acme-saga" in cluster.names("apps/v1/deployments")

    def retries() -> int:
        annotations = cluster.live("arbiter.dev/v1alpha1/tenants", "acme")["metadata"].get(
            "annotations", {})
        progress = [json.loads(v) for k, v in annotations.items() if "reconcile" in k]
        return max((p.get("retries", 0) for p in progress), default=0)
    await eventually(lambda: retries() >= 2)
    assert cluster.condition("acme", "VaultRoleReady")["status"] == "False"
