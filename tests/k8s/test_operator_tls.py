"""The operator as the plane's issuer (tls.mode=chart) and as cert-manager's client
(certManager), run by kopf against kmock: the leaves it writes are signed by the CA the chart
generated, name the service and tenant that `peers.peer_of_cert` reads back, and are what a
real gRPC server behind `PeerAuthInterceptor` accepts or refuses; it renews one near its end
and rolls the pod; the Tenant's go with it."""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import kmock
import pytest
import yaml
from cryptography import x509
from vault.payloads import clob_auth_request, scope

from arbiter.operator.certificates import SERIAL_ANNOTATION, service_hosts
from arbiter.platform.peers import (
    Issued,
    PeerAuthInterceptor,
    TlsMaterial,
    issue_service_cert,
    peer_of_cert,
)
from arbiter.platform.rpc import start_server
from arbiter.platform.tenancy import METADATA_TENANT, METADATA_TIER
from arbiter.v1 import signing_pb2_grpc
from arbiter.vault import build_vault_service
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

from . import test_operator_kmock
from .conftest import CHART, NAMESPACE, find, platform_yaml, render_ci
from .test_observability_chart import validate
from .test_operator_kmock import EXAMPLE, NS, TENANTS, Cluster, eventually

cluster = test_operator_kmock.cluster  # the operator against kmock, with chart_values below
vault_addr = test_operator_kmock.vault_addr

SECRETS = "v1/secrets"
CERTIFICATES = "cert-manager.io/v1/certificates"
ACME_PLANE = {"acme-saga", "acme-risk", "acme-gateway-kalshi", "acme-gateway-polymarket"}
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def _tls_secrets(cluster: Cluster) -> set[str]:
    """The Secrets the operator wrote in the tenant's namespace, but its store copy."""
    return cluster.names(SECRETS) - {"acme-store"}


@pytest.fixture()
def tls_mode() -> str:
    return "chart"


@pytest.fixture()
def chart_values(tmp_path: Path, tls_mode: str) -> Path:
    """The default release in `tls_mode`, looking at certificates every second."""
    path = tmp_path / f"tls-{tls_mode}-values.yaml"
    path.write_text(yaml.safe_dump({"tls": {"mode": tls_mode, "checkIntervalSeconds": 1}}))
    return path


def _object(cluster: Cluster, resource: str, name: str, namespace: str) -> Any:
    """An object as the operator left it, in any namespace (Cluster.live: the tenants')."""
    wanted = kmock.resource(resource)
    return next((obj.raw for (res, ns, n), obj in list(cluster.server.objects.items())
                 if (res, ns, n) == (wanted, namespace, name) and not obj.deleted), None)


def _secret(cluster: Cluster, name: str, namespace: str = NS) -> dict[str, bytes] | None:
    """A Secret's decoded data."""
    found = _object(cluster, SECRETS, name, namespace)
    if found is None:
        return None
    return {k: base64.b64decode(v) for k, v in (found.get("data") or {}).items()}


def _rolled_to(deployment: Any) -> str | None:
    """The certificate serial a Deployment's pods are to hold."""
    return ((deployment or {}).get("spec", {}).get("template", {}).get("metadata", {})
            .get("annotations", {}).get(SERIAL_ANNOTATION))


async def _cert_manager_writes(cluster: Cluster, namespace: str, name: str, service: str,
                               tenant: str, hosts: tuple[str, ...]) -> str:
    """Play cert-manager: write a leaf into the Secret `name`; returns its serial."""
    leaf = issue_service_cert(_ca(CHART / "ci" / "default-values.yaml"), service, tenant, hosts)
    await cluster.request("POST", f"/api/v1/namespaces/{namespace}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "data": {"tls.crt": base64.b64encode(leaf.cert_pem).decode()}})
    return format(x509.load_pem_x509_certificate(leaf.cert_pem).serial_number, "x")


def _ca(chart_values: Path) -> Issued:
    data = find(render_ci(chart_values), "Secret", "arbiter-tls-ca")["data"]
    return Issued(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))


def _cert(data: dict[str, bytes]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data["tls.crt"])


async def test_tenant_leaves_are_signed_by_the_chart_ca_and_name_service_and_tenant(
    cluster: Cluster, chart_values: Path,
) -> None:
    ca = x509.load_pem_x509_certificate(_ca(chart_values).cert_pem)
    await cluster.create_tenant("acme", copy.deepcopy(EXAMPLE["spec"]))
    await eventually(lambda: cluster.condition("acme", "Ready").get("status") == "True")
    assert _tls_secrets(cluster) == {f"{d}-tls" for d in ACME_PLANE}
    for deployment in ACME_PLANE:
        data = _secret(cluster, f"{deployment}-tls")
        assert data is not None and data["ca.crt"] == _ca(chart_values).cert_pem
        cert = _cert(data)
        cert.verify_directly_issued_by(ca)
        service = deployment.removeprefix("acme-")
        assert str(peer_of_cert(data["tls.crt"])) == f"{service}@acme"
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == list(service_hosts(deployment, NS))
        live = cluster.live(SECRETS, f"{deployment}-tls")
        assert live["type"] == "kubernetes.io/tls"
        assert live["metadata"]["ownerReferences"][0]["uid"] == "uid-acme"
        # the pod mounts it, and started on this very certificate
        pod = cluster.live("apps/v1/deployments", deployment)["spec"]["template"]
        assert {"name": "tls", "secret": {"secretName": f"{deployment}-tls",
                                          "defaultMode": 0o440}} in pod["spec"]["volumes"]
        assert _rolled_to({"spec": {"template": pod}}) == format(cert.serial_number, "x")
    # the shared services' leaves (chart mode), in the release's namespace
    for service in ("vault", "control", "gateway-kalshi", "gateway-polymarket"):
        data = await eventually(lambda s=service: _secret(cluster, f"arbiter-{s}-tls",
                                                          NAMESPACE))
        _cert(data).verify_directly_issued_by(ca)
        assert str(peer_of_cert(data["tls.crt"])) == f"{service}@default"

    # deleting the Tenant deletes its certificates (and only its)
    await cluster.request("DELETE", f"{TENANTS}/namespaces/{NS}/tenants/acme")
    await eventually(lambda: cluster.live("arbiter.dev/v1alpha1/tenants", "acme") is None)
    assert _tls_secrets(cluster) == set()
    assert _secret(cluster, "arbiter-vault-tls", NAMESPACE) is not None


@pytest.fixture
def shared_vault(tmp_path: Path) -> Iterator[Any]:
    secret = tmp_path / "master.key"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    built = build_vault_service(":memory:", secret, "local",
                                policies=scope)
    for tenant in ("alpha", "beta"):
        built.vault.put("ops", tenant, "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
    yield built
    built.close()


def _material(data: dict[str, bytes]) -> TlsMaterial:
    return TlsMaterial(data["ca.crt"], data["tls.crt"], data["tls.key"])


@contextlib.asynccontextmanager
async def _served(material: TlsMaterial, register: Any) -> AsyncIterator[int]:
    server, port = await start_server(0, [register], (PeerAuthInterceptor(),),
                                      host="127.0.0.1",
                                      credentials=material.server_credentials())
    try:
        yield port
    finally:
        await server.stop(None)


async def _sign(port: int, host: str, caller: TlsMaterial, tenant: str) -> grpc.StatusCode:
    """Ask the vault at 127.0.0.1:port, verified as `host`, to sign for `tenant`."""
    options = (("grpc.ssl_target_name_override", host),)
    request = clob_auth_request(tenant, "poly", int(time.time()))
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", caller.channel_credentials(),
                                       options=options) as channel:
        try:
            signed = await signing_pb2_grpc.SignerStub(channel).Sign(
                request, metadata=((METADATA_TENANT, tenant), (METADATA_TIER, "standard")), timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    assert len(signed.signature) == 65
    return grpc.StatusCode.OK


async def test_the_issued_material_is_what_the_shared_vault_accepts_and_refuses(
    cluster: Cluster, shared_vault: Any, chart_values: Path,
) -> None:
    for name in ("alpha", "beta"):
        await cluster.create_tenant(name, copy.deepcopy(EXAMPLE["spec"]))
    for name in ("alpha", "beta"):
        await eventually(lambda n=name: cluster.condition(n, "Ready").get("status") == "True",
                         )
    shared = await eventually(lambda: _secret(cluster, "arbiter-vault-tls", NAMESPACE))
    platform = yaml.safe_load(platform_yaml(render_ci(chart_values)))
    # the name tenants' gateways reach the vault at, which its certificate must be valid for
    host = platform["env"]["ARBITER__GRPC__VAULT_ADDR"].rsplit(":", 1)[0]
    gateway = {n: _material(_secret(cluster, f"{n}-gateway-polymarket-tls"))
               for n in ("alpha", "beta")}
    alpha_saga = _material(_secret(cluster, "alpha-saga-tls"))
    async with _served(_material(shared), shared_vault.add_to_server) as port:
        assert await _sign(port, host, gateway["alpha"], "alpha") is grpc.StatusCode.OK
        assert await _sign(port, host, gateway["beta"], "beta") is grpc.StatusCode.OK
        # alpha's gateway asking for beta's signature; alpha's saga asking for its own
        assert await _sign(port, host, gateway["alpha"], "beta") is (
            grpc.StatusCode.PERMISSION_DENIED)
        assert await _sign(port, host, alpha_saga, "alpha") is grpc.StatusCode.PERMISSION_DENIED
        # a host the vault's certificate is not for: the caller does not trust it
        assert await _sign(port, "alpha-risk", gateway["alpha"], "alpha") is (
            grpc.StatusCode.UNAVAILABLE)


async def test_a_certificate_near_its_end_is_renewed_and_its_pod_rolled(
    cluster: Cluster, chart_values: Path,
) -> None:
    await cluster.create_tenant("acme", copy.deepcopy(EXAMPLE["spec"]))
    await eventually(lambda: cluster.condition("acme", "Ready").get("status") == "True")
    before = _cert(_secret(cluster, "acme-risk-tls"))
    kept = _cert(_secret(cluster, "acme-saga-tls")).serial_number
    # one day left, under tls.renewBefore (720h): the next look renews it
    ending = issue_service_cert(_ca(chart_values), "risk", "acme",
                                service_hosts("acme-risk", NS), days=1)
    await cluster.request("PATCH", f"/api/v1/namespaces/{NS}/secrets/acme-risk-tls", {"data": {
        "tls.crt": base64.b64encode(ending.cert_pem).decode(),
        "tls.key": base64.b64encode(ending.key_pem).decode()}}, patch=True)
    ending_serial = x509.load_pem_x509_certificate(ending.cert_pem).serial_number
    renewed = await eventually(lambda: (c := _cert(_secret(cluster, "acme-risk-tls")))
                               .serial_number not in (before.serial_number, ending_serial)
                               and c)
    assert renewed.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > (
        datetime.timedelta(days=80))
    assert str(peer_of_cert(_secret(cluster, "acme-risk-tls")["tls.crt"])) == "risk@acme"
    await eventually(lambda: _rolled_to(cluster.live("apps/v1/deployments", "acme-risk"))
                     == format(renewed.serial_number, "x"))
    assert _cert(_secret(cluster, "acme-saga-tls")).serial_number == kept  # not due: kept


@pytest.mark.parametrize("tls_mode", ["certManager"])
async def test_cert_manager_mode_renders_a_certificate_per_tenant_pod_and_rolls_onto_renewals(
    cluster: Cluster, chart_values: Path,
) -> None:
    await cluster.create_tenant("acme", copy.deepcopy(EXAMPLE["spec"]))
    await eventually(lambda: cluster.condition("acme", "Ready").get("status") == "True")
    assert cluster.names(CERTIFICATES) == {f"{d}-tls" for d in ACME_PLANE}
    for deployment in ACME_PLANE:
        certificate = cluster.live(CERTIFICATES, f"{deployment}-tls")
        spec = certificate["spec"]
        assert (spec["commonName"], spec["subject"]["organizations"]) == (
            deployment.removeprefix("acme-"), ["acme"])
        assert spec["dnsNames"] == list(service_hosts(deployment, NS))
        assert spec["secretName"] == f"{deployment}-tls"
        assert spec["issuerRef"] == {"name": f"arbiter-{NAMESPACE}-ca", "kind": "ClusterIssuer",
                                     "group": "cert-manager.io"}
        assert certificate["metadata"]["ownerReferences"][0]["uid"] == "uid-acme"
        validate({k: certificate[k] for k in ("apiVersion", "kind", "spec")}
                 | {"metadata": {"name": certificate["metadata"]["name"]}})
    assert _tls_secrets(cluster) == set()  # cert-manager writes them, not the operator

    # cert-manager issued one: the pod is rolled onto it
    serial = await _cert_manager_writes(cluster, NS, "acme-risk-tls", "risk", "acme",
                                        service_hosts("acme-risk", NS))
    await eventually(lambda: _rolled_to(cluster.live("apps/v1/deployments", "acme-risk"))
                     == serial)

    await cluster.request("DELETE", f"{TENANTS}/namespaces/{NS}/tenants/acme")
    await eventually(lambda: cluster.live("arbiter.dev/v1alpha1/tenants", "acme") is None)
    assert cluster.names(CERTIFICATES) == set() and _tls_secrets(cluster) == set()

    # a shared service's pod (the chart's Deployment) is rolled onto cert-manager's leaf too
    vault = find(render_ci(chart_values), "Deployment", "arbiter-vault")
    await cluster.request("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", vault)
    shared = await _cert_manager_writes(cluster, NAMESPACE, "arbiter-vault-tls", "vault",
                                        "default", service_hosts("arbiter-vault", NAMESPACE))
    await eventually(lambda: _rolled_to(_object(cluster, "apps/v1/deployments",
                                                "arbiter-vault", NAMESPACE)) == shared)
