"""Who may call which service: mutual TLS with one certificate per service and tenant.

In the distributed topology every gRPC server asks its caller for a certificate signed by
the plane's CA (`tls.ca_path`); the certificate's subject says who the caller is: common
name = the service (`saga`, `control`, `gateway-kalshi`, ...), organization = the tenant
it works for. `PeerAuthInterceptor` refuses a call from a service that `SERVICE_CALLERS`
does not name for the method, or from another tenant than the request names, so only
tenant T's gateways get T's signatures, only T's saga places T's orders and only control
changes limits or resets a HardStop. The control API also accepts callers without a
certificate (operators authenticate with a JWT there; `platform.auth`).

`issue_ca` and `issue_service_cert` make the certificates (the tests, `arbiter pki`, and in
a cluster the operator, `arbiter.operator.issuer`); in-process calls in the embedded topology
need none.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import functools
import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from arbiter.platform.tenancy import (
    METADATA_TENANT,
    guard,
    invocation_metadata,
    request_tenant,
)

GATEWAYS = "gateway-*"
"""Any venue's gateway."""

# The services allowed to call each method. A method of a listed service that is missing
# here is refused, so a new RPC stays closed until someone decides who may call it.
SERVICE_CALLERS: Mapping[str, frozenset[str]] = {
    f"/arbiter.v1.{method}": frozenset(callers) for method, callers in {
        "Risk/CheckRisk": {"saga"},
        "Risk/RecordFill": {"saga"},
        "Risk/RecordSettlement": {"saga"},
        "Risk/CloseSaga": {"saga"},
        # the saga latches on an unreconciled order; only control pauses, resumes, resets
        "Risk/HardStop": {"saga", "control"},
        "Risk/MarkReady": {"saga", GATEWAYS},
        "Risk/SeedPositions": {"saga"},
        "Risk/ReportBalance": {GATEWAYS},
        "Risk/UpdateLimits": {"control"},
        "Risk/PausePair": {"control"},
        "Risk/Snapshot": {"control"},
        "Risk/Audit": {"control"},
        "OrderEntry/PlaceOrder": {"saga"},
        "OrderEntry/PlaceOrders": {"saga"},
        "OrderEntry/CancelOrder": {"saga"},
        "OrderEntry/ReconcileOrder": {"saga"},
        "OrderEntry/CancelOrphans": {"saga"},
        "OrderEntry/FetchPositions": {"saga"},
        "OrderEntry/FetchSettlements": {"saga"},
        "OrderEntry/CancelAll": {"saga", "control"},
        "Signer/Sign": {GATEWAYS},
        "Signer/GetCredentialInfo": {GATEWAYS},
    }.items()}

OPERATOR_SERVICES = frozenset({"arbiter.v1.Control"})
"""Services whose callers are people with JWTs: a client certificate is not required."""

CERT_DAYS = 365


class PeerAuthError(ValueError):
    """TLS material that cannot be used: a missing file, a key that is not the
    certificate's, a certificate without a service or tenant."""


@dataclass(frozen=True, slots=True)
class Peer:
    """An authenticated calling service."""

    service: str
    tenant_id: str

    def __str__(self) -> str:
        return f"{self.service}@{self.tenant_id}"


def may_call(service: str, callers: frozenset[str]) -> bool:
    return service in callers or (GATEWAYS in callers and service.startswith("gateway-"))


# -- certificates ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def issue_ca(name: str = "arbiter-plane-ca", days: int = CERT_DAYS) -> Issued:
    """A self-signed CA that signs one plane's service certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_service_cert(ca: Issued, service: str, tenant_id: str, hosts: Sequence[str],
                       days: float = CERT_DAYS) -> Issued:
    """A certificate of `service` working for `tenant_id`, valid as a server for `hosts`
    (DNS names or IP addresses) and as a client anywhere in the plane."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise PeerAuthError("the CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, tenant_id)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@functools.lru_cache(maxsize=256)
def peer_of_cert(pem: bytes) -> Peer:
    """The service and tenant a certificate names (its CN and O)."""
    cert = x509.load_pem_x509_certificate(pem)
    service = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    tenant = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not service or not tenant:
        raise PeerAuthError("the certificate names no service (CN) or no tenant (O)")
    return Peer(str(service[0].value), str(tenant[0].value))


# -- the material a process serves and calls with --------------------------------------
@dataclass(frozen=True, slots=True)
class TlsMaterial:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def load(cls, ca_path: str, cert_path: str, key_path: str) -> TlsMaterial:
        def read(path: str, what: str) -> bytes:
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise PeerAuthError(f"tls.{what}={path!r}: {exc.strerror}") from None
        material = cls(read(ca_path, "ca_path"), read(cert_path, "cert_path"),
                       read(key_path, "key_path"))
        material.identity()  # a certificate that names nobody is refused at start
        return material

    def identity(self) -> Peer:
        try:
            return peer_of_cert(self.cert_pem)
        except ValueError as exc:
            raise PeerAuthError(f"tls.cert_path: {exc}") from None

    def server_credentials(self, require_client_cert: bool = True) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key_pem, self.cert_pem)],
                                           root_certificates=self.ca_pem,
                                           require_client_auth=require_client_cert)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.cert_pem)


# -- the server side --------------------------------------------------------------------
_peer_var: contextvars.ContextVar[Peer | None] = contextvars.ContextVar("arbiter_peer",
                                                                        default=None)


def current_peer() -> Peer | None:
    """The authenticated calling service of the running call (None in process, or for an
    operator's call to the control API)."""
    return _peer_var.get()


@contextlib.contextmanager
def _peer_scope(peer: Peer | None) -> Iterator[None]:
    token = _peer_var.set(peer)
    try:
        yield
    finally:
        _peer_var.reset(token)


def _caller(context: Any) -> Peer | None:
    auth = context.auth_context() or {}
    certs = auth.get("x509_pem_cert") or []
    return peer_of_cert(bytes(certs[0])) if certs else None


class PeerAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses a service call whose certificate does not name an allowed caller of the
    method working for the request's tenant (see `SERVICE_CALLERS`)."""

    def __init__(self, callers: Mapping[str, frozenset[str]] = SERVICE_CALLERS,
                 exempt_prefixes: Sequence[str] = ("/grpc.health.v1.Health/",)) -> None:
        self._callers = dict(callers)
        self._exempt = tuple(exempt_prefixes)

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        service = method.rsplit("/", 1)[0].lstrip("/")
        if handler is None or method.startswith(self._exempt) or service in OPERATOR_SERVICES:
            return handler
        metadata = invocation_metadata(handler_call_details)
        allowed = self._callers.get(method)

        async def check(request: Any, context: grpc.aio.ServicerContext) -> contextlib.AbstractContextManager[None]:
            try:
                peer = _caller(context)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{method}: {exc}")
            if peer is None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                    f"{method}: the caller presented no service certificate")
            named = {request_tenant(request), metadata.get(METADATA_TENANT, "")} - {""}
            if named != {peer.tenant_id}:
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method}: {peer.service} works for tenant {peer.tenant_id!r}, not "
                    f"{', '.join(sorted(named)) or 'no tenant'}")
            if allowed is None or not may_call(peer.service, allowed):
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method} may not be called by {peer.service} (allowed: "
                    f"{', '.join(sorted(allowed)) if allowed else 'no one'})")
            return _peer_scope(peer)

        return guard(handler, check)
