"""The chart's mutual TLS (values tls.*), rendered by the real Helm engine in each mode: every
gRPC-serving pod mounts its own certificate Secret and loads `tls.*` pointing at it; in
certManager mode a Certificate per shared service names the identity that pod's config runs
as; in chart mode the generated CA is one the operator can sign with, and the template keeps
an existing CA (what `lookup` hands it in a real install) instead of making a new one."""

from __future__ import annotations

import base64
import shutil
from typing import Any

import helm_python as helm
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from arbiter.operator.certificates import MOUNT_DIR, parse_tls
from arbiter.operator.platform import PlatformError, parse_platform
from arbiter.operator.validation import pod_configs
from arbiter.platform.peers import Issued, issue_service_cert, peer_of_cert

from .conftest import CHART, NAMESPACE, Manifest, find, platform_yaml, render
from .test_observability_chart import validate

GRPC_SERVICES = {"gateway-polymarket", "gateway-kalshi", "vault", "control"}
MODES = ("chart", "certManager", "disabled")


def _tls(mode: str, **extra: Any) -> dict[str, Any]:
    return {"tls": {"mode": mode, **extra}}


def _kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _mounted_secret(deployment: Manifest, path: str) -> tuple[str, str]:
    """(Secret name, key) of the file `path` as the pod's first container sees it."""
    pod = deployment["spec"]["template"]["spec"]
    directory, _, key = path.rpartition("/")
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[directory])
    return volume["secret"]["secretName"], key


@pytest.mark.parametrize("mode", MODES)
def test_every_grpc_pod_mounts_its_own_certificate_and_loads_tls_paths_to_it(mode: str) -> None:
    manifests = render(_tls(mode))
    configs = pod_configs(manifests)
    deployments = _kind(manifests, "Deployment")
    for where, config in configs.items():
        name, service = where.split("/")
        if mode == "disabled" or service not in GRPC_SERVICES:
            assert not config.tls.enabled, where
            assert all("secret" not in v for v in
                       deployments[name]["spec"]["template"]["spec"]["volumes"]), where
            continue
        assert config.tls.enabled, where
        files = (config.tls.ca_path, config.tls.cert_path, config.tls.key_path)
        assert [_mounted_secret(deployments[name], p) for p in files] == [
            (f"{name}-tls", "ca.crt"), (f"{name}-tls", "tls.crt"), (f"{name}-tls", "tls.key")]
        assert all(p.startswith(f"{MOUNT_DIR}/") for p in files)
    served = {w.split("/")[1] for w, c in configs.items() if c.tls.enabled}
    assert served == (set() if mode == "disabled" else GRPC_SERVICES)
    for manifest in manifests:
        validate(manifest)


def test_cert_manager_mode_has_a_certificate_per_shared_service_naming_its_identity() -> None:
    manifests = render(_tls("certManager"))
    configs = pod_configs(manifests)
    certificates = _kind(manifests, "Certificate")
    leaves = {n: c for n, c in certificates.items() if not c["spec"].get("isCA")}
    assert set(leaves) == {f"arbiter-{s}-tls" for s in GRPC_SERVICES}
    for service in GRPC_SERVICES:
        spec = leaves[f"arbiter-{service}-tls"]["spec"]
        config = configs[f"arbiter-{service}/{service}"]
        # the identity `arbiter serve` checks its certificate against (distributed._check_identity)
        assert (spec["commonName"], spec["subject"]["organizations"]) == (
            service, [config.tenant.id])
        host = f"arbiter-{service}"
        assert spec["dnsNames"] == [host, f"{host}.{NAMESPACE}", f"{host}.{NAMESPACE}.svc",
                                    f"{host}.{NAMESPACE}.svc.cluster.local"]
        assert spec["usages"] == ["server auth", "client auth"]
        assert spec["privateKey"]["algorithm"] == "ECDSA"
        assert spec["secretName"] == f"arbiter-{service}-tls"
        assert spec["issuerRef"] == {"name": f"arbiter-{NAMESPACE}-ca", "kind": "ClusterIssuer",
                                     "group": "cert-manager.io"}
    # the CA issuer is bootstrapped from a self-signed one, its CA kept where a ClusterIssuer
    # reads it (cert-manager's cluster resource namespace)
    ca = certificates["arbiter-tls-ca"]
    assert ca["spec"]["isCA"] and ca["metadata"]["namespace"] == "cert-manager"
    issuers = _kind(manifests, "ClusterIssuer")
    assert issuers[f"arbiter-{NAMESPACE}-ca"]["spec"] == {"ca": {"secretName": "arbiter-tls-ca"}}
    assert ca["spec"]["issuerRef"]["name"] in issuers
    assert issuers[ca["spec"]["issuerRef"]["name"]]["spec"] == {"selfSigned": {}}
    # the operator renders tenants' Certificates from the same issuer
    platform = parse_tls(yaml.safe_load(platform_yaml(manifests))["tls"])
    assert dict(platform.issuer_ref) == leaves["arbiter-vault-tls"]["spec"]["issuerRef"]
    assert "arbiter-tls-ca" not in _kind(manifests, "Secret")  # cert-manager writes it


def test_a_shared_tenant_id_in_the_config_is_the_certificates_organization() -> None:
    manifests = render({**_tls("certManager"), "config": {"tenant": {"id": "desk"}}})
    configs = pod_configs(manifests)
    assert configs["arbiter-vault/vault"].tenant.id == "desk"
    vault = find(manifests, "Certificate", "arbiter-vault-tls")
    assert vault["spec"]["subject"]["organizations"] == ["desk"]


def test_a_namespaced_release_uses_namespaced_issuers_and_a_users_issuer_replaces_them() -> None:
    namespaced = render({**_tls("certManager"), "operator": {"watch": "release-namespace"}})
    assert not _kind(namespaced, "ClusterIssuer")
    assert set(_kind(namespaced, "Issuer")) == {f"arbiter-{NAMESPACE}-selfsigned",
                                                f"arbiter-{NAMESPACE}-ca"}
    assert find(namespaced, "Certificate", "arbiter-tls-ca")["metadata"]["namespace"] == NAMESPACE

    ref = {"name": "corp-pki", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    own = render(_tls("certManager", certManager={"issuerRef": ref}))
    assert not _kind(own, "ClusterIssuer") and not _kind(own, "Issuer")
    assert {c["spec"]["issuerRef"]["name"] for c in _kind(own, "Certificate").values()} == {
        "corp-pki"}
    # a namespaced issuer cannot sign for tenants elsewhere
    with pytest.raises(helm.HelmRenderError, match="need a ClusterIssuer"):
        render(_tls("certManager", certManager={"issuerRef": {**ref, "kind": "Issuer"}}))


def _ca(secret: Manifest) -> Issued:
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert data["ca.crt"] == data["tls.crt"]
    return Issued(data["tls.crt"], data["tls.key"])


def test_chart_mode_generates_an_ecdsa_ca_the_operator_signs_with_and_keeps_it() -> None:
    manifests = render()
    secret = find(manifests, "Secret", "arbiter-tls-ca")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    ca = _ca(secret)
    cert = x509.load_pem_x509_certificate(ca.cert_pem)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    leaf = issue_service_cert(ca, "vault", "default", ["arbiter-vault.trading.svc"])
    x509.load_pem_x509_certificate(leaf.cert_pem).verify_directly_issued_by(cert)
    assert str(peer_of_cert(leaf.cert_pem)) == "vault@default"
    # the operator is told where the CA is and which shared certificates to issue: the
    # Secrets the shared pods mount
    tls = parse_tls(yaml.safe_load(platform_yaml(manifests))["tls"])
    assert tls.ca_secret == (NAMESPACE, "arbiter-tls-ca")
    assert {(i.service, i.tenant, i.secret) for i in tls.shared} == {
        (s, "default", f"arbiter-{s}-tls") for s in GRPC_SERVICES}
    assert not _kind(manifests, "Certificate")


def test_chart_mode_without_the_operator_is_refused() -> None:
    with pytest.raises(helm.HelmRenderError, match="tls.mode=chart needs operator.enabled"):
        render({"operator": {"enabled": False}})


@pytest.fixture(scope="module")
def probe_chart(tmp_path_factory: pytest.TempPathFactory) -> helm.Chart:
    """A chart with Arbiter as its subchart whose one template hands the CA helper what
    `lookup` returns in a real install: the release's existing CA Secret, or nothing."""
    root = tmp_path_factory.mktemp("probe")
    (root / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "probe", "version": "0.1.0",
        "dependencies": [{"name": "arbiter", "version": yaml.safe_load(
            (CHART / "Chart.yaml").read_text())["version"]}]}))
    shutil.copytree(CHART, root / "charts" / "arbiter")
    (root / "templates").mkdir()
    (root / "templates" / "probe.yaml").write_text(
        '{{- $root := dict "Release" .Release "Values" (dict "tls" (dict "chart" '
        '(dict "caDays" 30))) }}\n'
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata:\n"
        "  existing: |\n"
        '    {{- include "arbiter.tls.caData" (dict "root" $root "existing" .Values.existing)'
        " | nindent 4 }}\n"
        "  none: |\n"
        '    {{- include "arbiter.tls.caData" (dict "root" $root "existing" dict) | nindent 4 }}\n')
    return helm.Chart.load(root)


def test_an_existing_ca_is_kept_and_only_a_missing_one_is_generated(
    probe_chart: helm.Chart,
) -> None:
    first = _ca(find(render(), "Secret", "arbiter-tls-ca"))
    existing = {"data": {"tls.crt": base64.b64encode(first.cert_pem).decode(),
                         "tls.key": base64.b64encode(first.key_pem).decode()}}
    # offline, lookup finds nothing: each render makes a new CA (helm template, --dry-run)
    assert _ca(find(render(), "Secret", "arbiter-tls-ca")).cert_pem != first.cert_pem
    outputs = [doc for text in probe_chart.render(
        {"existing": existing}, name="arbiter", namespace=NAMESPACE).values()
        for doc in yaml.safe_load_all(text)]
    probe = next(d for d in outputs if d and d["metadata"]["name"] == "probe")["data"]
    kept = _ca({"data": yaml.safe_load(probe["existing"])})
    assert kept == first  # an upgrade signs with the CA it had
    made = _ca({"data": yaml.safe_load(probe["none"])})
    assert made.cert_pem != first.cert_pem
    assert x509.load_pem_x509_certificate(made.cert_pem).extensions.get_extension_for_class(
        x509.BasicConstraints).value.ca


def test_the_chart_ci_values_files_cover_every_mode() -> None:
    modes = {(yaml.safe_load(p.read_text()) or {}).get("tls", {}).get("mode", "chart")
             for p in sorted((CHART / "ci").glob("*-values.yaml"))}
    assert modes == set(MODES)


def test_rbac_lets_the_operator_write_secrets_by_name_but_not_list_them() -> None:
    """Secrets are needed in every mode (each tenant's store copy); certificates only for
    cert-manager. No mode may grant list or watch on Secrets."""
    for mode, certs in (("chart", False), ("certManager", True), ("disabled", False)):
        role = find(render(_tls(mode)), "ClusterRole", "arbiter-operator")
        rules = {(g, r): set(rule["verbs"]) for rule in role["rules"]
                 for g in rule["apiGroups"] for r in rule["resources"]}
        assert rules[("", "secrets")] == {"get", "create", "patch", "delete"}
        assert (("cert-manager.io", "certificates") in rules) is certs


@pytest.mark.parametrize(("tls", "message"), [
    ({"mode": "chart", "duration": "720h", "renewBefore": "720h", "caSecret":
      {"namespace": "n", "name": "ca"}}, r"renewBefore \(720h\) must be shorter"),
    ({"mode": "chart", "duration": "90d", "renewBefore": "1h"}, "duration like 2160h"),
    ({"mode": "chart", "duration": "2h", "renewBefore": "1h"}, "tls.caSecret is required"),
    ({"mode": "certManager", "duration": "2h", "renewBefore": "1h", "issuerRef": {"kind": "X"}},
     "issuerRef.name is required"),
    ({"mode": "vault"}, "mode must be one of"),
])
def test_a_broken_tls_section_stops_the_operator_naming_the_key(
    tls: dict[str, Any], message: str,
) -> None:
    data = yaml.safe_load(platform_yaml(render()))
    with pytest.raises(PlatformError, match=message):
        parse_platform({**data, "tls": tls})
