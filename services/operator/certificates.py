"""The mutual-TLS identities of the pods the operator renders, and of the release's shared
services in the chart's `tls.mode=chart`: which certificate each pod holds (CN = the service,
O = the tenant, `platform.peers`), where it is mounted, what a cert-manager Certificate or an
issued Secret of it looks like, and when a held one is due for renewal.

Pure, like children.py: issuer.py does the reading and writing. Every pod mounts the same
kubernetes.io/tls layout (tls.crt, tls.key, ca.crt) whoever wrote it, so its config is the same
in both modes: `tls.*` pointing at the mount.
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from arbiter.operator.spec import is_reserved_env
from arbiter.platform.peers import Issued, peer_of_cert

Manifest = dict[str, Any]

MODES = ("chart", "certManager", "disabled")
MOUNT_DIR = "/etc/arbiter-tls"
CA_KEY, CERT_KEY, KEY_KEY = "ca.crt", "tls.crt", "tls.key"
TLS_ENV = {"ARBITER__TLS__CA_PATH": f"{MOUNT_DIR}/{CA_KEY}",
           "ARBITER__TLS__CERT_PATH": f"{MOUNT_DIR}/{CERT_KEY}",
           "ARBITER__TLS__KEY_PATH": f"{MOUNT_DIR}/{KEY_KEY}"}
# On a pod template: the serial of the certificate its pods should hold; changing it rolls
# them (a process loads its certificate once, at start).
SERIAL_ANNOTATION = "arbiter.dev/tls-serial"
TLS_LABEL = "arbiter.dev/tls"
# Kinds the operator writes besides its CHILD_KINDS (not listed, not drift-watched).
TLS_KINDS: dict[str, tuple[str, str]] = {
    "Secret": ("v1", "secrets"),
    "Certificate": ("cert-manager.io/v1", "certificates"),
}
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class TlsSettingsError(ValueError):
    """The platform file's tls section has a missing key or a bad value."""


@dataclass(frozen=True)
class Identity:
    """One certificate a pod holds: who it names, where it is kept, where it is served."""

    service: str
    tenant: str
    namespace: str
    deployment: str
    secret: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class TlsSettings:
    """The chart's tls values as the operator needs them (platform.yaml `tls:`)."""

    mode: str = "disabled"
    duration: datetime.timedelta = datetime.timedelta(days=90)
    renew_before: datetime.timedelta = datetime.timedelta(days=30)
    check_interval: float = 3600.0
    ca_secret: tuple[str, str] = ("", "")  # (namespace, name), chart mode
    issuer_ref: Mapping[str, str] = field(default_factory=dict)  # certManager mode
    shared_labels: Mapping[str, str] = field(default_factory=dict)
    shared: tuple[Identity, ...] = ()  # the release's services (issued in chart mode)

    @property
    def enabled(self) -> bool:
        return self.mode != "disabled"


def parse_duration(text: str, where: str) -> datetime.timedelta:
    """A Go duration in hours, minutes and seconds ("2160h", "1h30m"), as the chart writes it."""
    match = _DURATION.match(str(text))
    if not text or match is None:
        raise TlsSettingsError(f"{where} must be a duration like 2160h or 90m, got {text!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return datetime.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if not data.get(key):
        raise TlsSettingsError(f"{where}.{key} is required")
    return data[key]


def parse_tls(data: Mapping[str, Any]) -> TlsSettings:
    """TlsSettings from platform.yaml's `tls:` mapping (absent: disabled, an older chart)."""
    where = "platform.tls"
    mode = str(data.get("mode", "disabled"))
    if mode not in MODES:
        raise TlsSettingsError(f"{where}.mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "disabled":
        return TlsSettings()
    duration = parse_duration(_require(data, "duration", where), f"{where}.duration")
    renew_before = parse_duration(_require(data, "renewBefore", where), f"{where}.renewBefore")
    if renew_before >= duration:
        raise TlsSettingsError(f"{where}.renewBefore ({data['renewBefore']}) must be shorter "
                               f"than {where}.duration ({data['duration']})")
    shared = tuple(
        Identity(service=str(s["service"]), tenant=str(s["tenant"]),
                 namespace=str(s["namespace"]), deployment=str(s["deployment"]),
                 secret=str(s["secretName"]), hosts=tuple(map(str, s["dnsNames"])))
        for s in data.get("shared") or ())
    settings = TlsSettings(mode=mode, duration=duration, renew_before=renew_before,
                           check_interval=float(data.get("checkIntervalSeconds", 3600)),
                           shared=shared)
    if mode == "certManager":
        ref = _require(data, "issuerRef", where)
        _require(ref, "name", f"{where}.issuerRef")
        return TlsSettings(**{**settings.__dict__, "issuer_ref": dict(ref)})
    ca = _require(data, "caSecret", where)
    return TlsSettings(**{**settings.__dict__,
                          "ca_secret": (str(_require(ca, "namespace", f"{where}.caSecret")),
                                        str(_require(ca, "name", f"{where}.caSecret"))),
                          "shared_labels": dict(data.get("sharedLabels") or {})})


def service_hosts(name: str, namespace: str | None) -> tuple[str, ...]:
    """The DNS names a Service `name` is reached at, from its namespace and from others."""
    if not namespace:
        return (name,)
    return (name, f"{name}.{namespace}", f"{name}.{namespace}.svc",
            f"{name}.{namespace}.svc.cluster.local")


def _serve_deployments(children: Iterable[Manifest]) -> list[Manifest]:
    return [m for m in children if m["kind"] == "Deployment"
            and m["spec"]["template"]["spec"]["containers"][0].get("args", [""])[0] == "serve"]


def tenant_identities(children: Iterable[Manifest], tenant: str,
                      namespace: str) -> list[Identity]:
    """One identity per `arbiter serve` Deployment of a tenant's children (each serves gRPC)."""
    return [Identity(service=d["spec"]["template"]["spec"]["containers"][0]["name"],
                     tenant=tenant, namespace=namespace, deployment=d["metadata"]["name"],
                     secret=f"{d['metadata']['name']}-tls",
                     hosts=service_hosts(d["metadata"]["name"], namespace))
            for d in _serve_deployments(children)]


def mount(children: Sequence[Manifest], settings: TlsSettings) -> None:
    """Give every `arbiter serve` pod among `children` its certificate Secret and `tls.*`.
    In place, before the children are adopted: the drift handler rebuilds the same pods."""
    if not settings.enabled:
        return
    for deployment in _serve_deployments(children):
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        # With the operator's variables: the Tenant's extraEnv stays last.
        env = container["env"]
        at = next((i for i, e in enumerate(env) if not is_reserved_env(e["name"])), len(env))
        env[at:at] = [{"name": k, "value": v} for k, v in sorted(TLS_ENV.items())]
        container["volumeMounts"].append({"name": "tls", "mountPath": MOUNT_DIR,
                                          "readOnly": True})
        # Until cert-manager or the operator writes it, the kubelet retries the mount.
        pod["volumes"].append({"name": "tls", "secret": {
            "secretName": f"{deployment['metadata']['name']}-tls", "defaultMode": 0o440}})


def certificate(identity: Identity, settings: TlsSettings,
                labels: Mapping[str, str]) -> Manifest:
    """The cert-manager Certificate of one identity (certManager mode)."""
    return {
        "apiVersion": TLS_KINDS["Certificate"][0], "kind": "Certificate",
        "metadata": {"name": identity.secret, "namespace": identity.namespace,
                     "labels": {**labels, TLS_LABEL: "leaf"}},
        "spec": {
            "secretName": identity.secret,
            "commonName": identity.service,
            "subject": {"organizations": [identity.tenant]},
            "dnsNames": list(identity.hosts),
            "duration": _go_duration(settings.duration),
            "renewBefore": _go_duration(settings.renew_before),
            "usages": ["server auth", "client auth"],
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "issuerRef": dict(settings.issuer_ref),
        },
    }


def _go_duration(delta: datetime.timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600}h{seconds % 3600 // 60}m{seconds % 60}s"


def secret(identity: Identity, issued: Issued, ca_pem: bytes,
           labels: Mapping[str, str]) -> Manifest:
    """The kubernetes.io/tls Secret holding an issued certificate (chart mode)."""
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": identity.secret, "namespace": identity.namespace,
                     "labels": {**labels, TLS_LABEL: "leaf"}},
        "data": {CERT_KEY: b64(issued.cert_pem), KEY_KEY: b64(issued.key_pem),
                 CA_KEY: b64(ca_pem)},
    }


def decoded(secret_data: Mapping[str, str] | None, key: str) -> bytes:
    """One key of a Secret's data, decoded (empty when absent)."""
    return base64.b64decode((secret_data or {}).get(key, ""))


def serial(cert_pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(cert_pem).serial_number, "x")


def renewal_reason(secret_data: Mapping[str, str] | None, identity: Identity, ca_pem: bytes,
                   now: datetime.datetime, renew_before: datetime.timedelta) -> str | None:
    """Why the Secret's certificate must be (re)issued, or None when it may be kept: it is
    missing or unreadable, from another CA (the CA was rotated), names someone else or other
    hosts, or ends within `renew_before`."""
    pem = decoded(secret_data, CERT_KEY)
    if not pem or not decoded(secret_data, KEY_KEY):
        return "no certificate yet"
    try:
        cert = x509.load_pem_x509_certificate(pem)
        peer = peer_of_cert(pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except ValueError as exc:
        return f"unreadable certificate ({exc})"
    except x509.ExtensionNotFound:
        return "the certificate names no hosts"
    if decoded(secret_data, CA_KEY) != ca_pem or cert.issuer != ca.subject:
        return "issued by another CA"
    if (peer.service, peer.tenant_id) != (identity.service, identity.tenant):
        return f"names {peer}, not {identity.service}@{identity.tenant}"
    if sorted(names.get_values_for_type(x509.DNSName)) != sorted(identity.hosts):
        return "names other hosts"
    if cert.not_valid_after_utc - renew_before <= now:
        return f"ends {cert.not_valid_after_utc.isoformat()}"
    return None

