"""Shared fixtures: the chart rendered offline once per values file, the platform it yields,
and a live OpenBao for tenants' Vault roles."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import hvac
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hvac import exceptions as hvac_errors
from vault.openbao import vault_api  # tests/ is on sys.path (rootdir)

from arbiter.operator.platform import Platform, parse_platform

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "arbiter"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
NAMESPACE = "trading"

Manifest = dict[str, Any]


def render(values: Mapping[str, Any] | None = None) -> list[Manifest]:
    """Render the chart like `helm template arbiter charts/arbiter -n trading`."""
    chart = helm.Chart.load(CHART)
    files = chart.render(dict(values or {}), name="arbiter", namespace=NAMESPACE)
    return [doc for text in files.values() for doc in yaml.safe_load_all(text) if doc]


_CACHE: dict[str, list[Manifest]] = {}


def render_ci(path: Path) -> list[Manifest]:
    """Rendering costs ~100 ms; the same ci file is rendered once per session."""
    if path.name not in _CACHE:
        _CACHE[path.name] = render(yaml.safe_load(path.read_text()) or {})
    return _CACHE[path.name]


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def platform_yaml(manifests: list[Manifest]) -> str:
    return str(find(manifests, "ConfigMap", "arbiter-operator-platform")["data"]["platform.yaml"])


@pytest.fixture(scope="session")
def platform() -> Platform:
    """The platform exactly as the default chart hands it to the operator."""
    text = platform_yaml(render_ci(CHART / "ci" / "default-values.yaml"))
    return parse_platform(yaml.safe_load(text))


def dummy_ca() -> str:
    """A self-signed CA certificate: the auth config wants one, no API server is called."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dummy-kubernetes-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="session")
def openbao() -> Iterator[dict[str, str]]:
    with vault_api() as env:
        yield env


@pytest.fixture()
def vault(openbao: dict[str, str]) -> Iterator[tuple[hvac.Client, str]]:
    """A root client of the live OpenBao and a Kubernetes auth mount of this test's own,
    configured with a dummy API address (creating roles does not call it)."""
    client = hvac.Client(url=openbao["VAULT_ADDR"], token=openbao["VAULT_TOKEN"])
    mount = f"k8s-{uuid.uuid4().hex[:8]}"
    client.sys.enable_auth_method("kubernetes", path=mount)
    client.auth.kubernetes.configure("https://kubernetes.invalid:6443", mount_point=mount,
                                     kubernetes_ca_cert=dummy_ca(), disable_local_ca_jwt=True)
    yield client, mount
    client.sys.disable_auth_method(mount)


def role(vault: tuple[hvac.Client, str], name: str) -> dict[str, Any] | None:
    client, mount = vault
    try:
        data: dict[str, Any] = client.auth.kubernetes.read_role(name, mount_point=mount)
        return data
    except hvac_errors.InvalidPath:
        return None


def policy(vault: tuple[hvac.Client, str], name: str) -> str | None:
    client, _ = vault
    try:
        return str(client.sys.read_policy(name)["data"]["rules"])
    except hvac_errors.InvalidPath:
        return None
