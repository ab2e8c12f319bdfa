"""Tenant and JWT interceptors over real sockets (grpc.aio on 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from arbiter.platform.auth import (
    CONTROL_METHOD_ROLES,
    AuthConfigError,
    JwtServerInterceptor,
    Role,
    TokenVerifier,
    current_principal,
    mint_token,
)
from arbiter.platform.tenancy import (
    MissingTenant,
    TenantClientInterceptor,
    TenantServerInterceptor,
    current_tenant,
    tenant,
    tenant_scope,
)
from arbiter.v1 import common_pb2, control_pb2, control_pb2_grpc

SECRET = "s" * 40
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PRIVATE = RSA_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
RSA_PUBLIC = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
TENANT_A = tenant("tenant-a", "standard")


class EchoControl(control_pb2_grpc.ControlServicer):
    """Answers with what the interceptors exposed: the tenant in scope and the caller."""

    async def Status(self, request: Any, context: Any) -> control_pb2.StatusReply:
        principal = current_principal()
        return control_pb2.StatusReply(tenant_id=current_tenant().tenant_id,
                                       hard_stop_reason=principal.subject if principal else "")

    SetPaused = KillSwitch = Status


async def serve(*interceptors: grpc.aio.ServerInterceptor) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server(interceptors=interceptors)
    control_pb2_grpc.add_ControlServicer_to_server(EchoControl(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
async def control() -> AsyncIterator[control_pb2_grpc.ControlStub]:
    """A Control server behind both interceptors, and a client sending tenant-a."""
    verifier = TokenVerifier(hs256_secret=SECRET, rs256_public_key_pem=RSA_PUBLIC)
    server, address = await serve(TenantServerInterceptor(), JwtServerInterceptor(verifier))
    async with grpc.aio.insecure_channel(
            address, interceptors=[TenantClientInterceptor(TENANT_A)]) as channel:
        yield control_pb2_grpc.ControlStub(channel)
    await server.stop(None)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def token(role: str = "viewer", tenant_id: str = "tenant-a", **kwargs: Any) -> str:
    return mint_token(SECRET, subject="alice", tenant=tenant_id, role=role, **kwargs)


def status_request(tenant_id: str = "tenant-a") -> control_pb2.StatusRequest:
    return control_pb2.StatusRequest(tenant=common_pb2.TenantContext(tenant_id=tenant_id))


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_good_token_works_and_exposes_tenant_and_caller(control: Any) -> None:
    reply = await control.Status(status_request(), metadata=bearer(token()))
    assert (reply.tenant_id, reply.hard_stop_reason) == ("tenant-a", "alice")


async def test_call_without_tenant_metadata_is_refused() -> None:
    server, address = await serve(TenantServerInterceptor())
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            error = await refused(control_pb2_grpc.ControlStub(channel).Status(status_request()))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "x-arbiter-tenant" in (error.details() or "")
        async with grpc.aio.insecure_channel(address) as channel:
            stub = control_pb2_grpc.ControlStub(channel)
            error = await refused(stub.Status(status_request(), metadata=[
                ("x-arbiter-tenant", "../tenant-b"), ("x-arbiter-tier", "pro")]))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "'../tenant-b' must match" in (error.details() or "")
            error = await refused(stub.Status(status_request(), metadata=[
                ("x-arbiter-tenant", "tenant-a"), ("x-arbiter-tier", "platinum")]))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "unknown tier 'platinum'" in (error.details() or "")
    finally:
        await server.stop(None)


async def test_request_naming_another_tenant_than_metadata_is_refused() -> None:
    server, address = await serve(TenantServerInterceptor())
    try:
        async with grpc.aio.insecure_channel(
                address, interceptors=[TenantClientInterceptor(TENANT_A)]) as channel:
            stub = control_pb2_grpc.ControlStub(channel)
            error = await refused(stub.Status(status_request("tenant-b")))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED
            with tenant_scope(tenant("tenant-b", "pro")):  # the tenant in scope wins
                assert (await stub.Status(status_request("tenant-b"))).tenant_id == "tenant-b"
    finally:
        await server.stop(None)


async def test_client_refuses_to_send_without_tenant() -> None:
    async with grpc.aio.insecure_channel("127.0.0.1:1",
                                         interceptors=[TenantClientInterceptor()]) as channel:
        with pytest.raises(MissingTenant, match="no tenant to send"):
            await control_pb2_grpc.ControlStub(channel).Status(status_request())


@pytest.mark.parametrize(("metadata", "detail"), [
    ([], "no 'authorization: Bearer <token>'"),
    ([("authorization", "Basic abc")], "no 'authorization: Bearer <token>'"),
    (bearer("not.a.jwt"), "malformed token"),
    (bearer(token(now=int(time.time()) - 7200)), "token has expired"),
    (bearer(mint_token("x" * 40, subject="alice", tenant="tenant-a", role="admin")),
     "signature does not verify"),
    (bearer(mint_token(RSA_PRIVATE, subject="alice", tenant="tenant-a", role="admin",
                       algorithm="RS256")[:-4] + "AAAA"), "signature does not verify"),
    (bearer(token(role="root")), "claim 'role' is 'root'"),
    (bearer(token(tenant_id="Tenant/B")), "claim 'tenant'"),
])
async def test_bad_tokens_are_unauthenticated(control: Any, metadata: list[tuple[str, str]],
                                              detail: str) -> None:
    error = await refused(control.Status(status_request(), metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert detail in (error.details() or "")


def forge(header: Mapping[str, Any], claims: Mapping[str, Any], key: bytes) -> str:
    """A hand-built HS256-style token (for what pyjwt itself refuses to mint)."""
    def part(data: Any) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


async def test_forged_algorithms_and_missing_claims_are_refused(control: Any) -> None:
    claims = {"sub": "mallory", "tenant": "tenant-a", "role": "admin", "exp": int(time.time()) + 60}
    unsigned = forge({"alg": "none", "typ": "JWT"}, claims, b"").rsplit(".", 1)[0] + "."
    confused = forge({"alg": "HS256", "typ": "JWT"}, claims, RSA_PUBLIC)  # public key as secret
    no_role = forge({"alg": "HS256", "typ": "JWT"},
                    {k: v for k, v in claims.items() if k != "role"}, SECRET.encode())
    for forged, detail in ((unsigned, "algorithm 'none' is not accepted"),
                           (confused, "signature does not verify"),
                           (no_role, "lacks the required claim 'role'")):
        error = await refused(control.KillSwitch(
            control_pb2.KillSwitchRequest(tenant=TENANT_A), metadata=bearer(forged)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, detail
        assert detail in (error.details() or "")


async def test_token_of_another_tenant_is_permission_denied(control: Any) -> None:
    other = token(role="admin", tenant_id="tenant-b")
    error = await refused(control.Status(status_request(), metadata=bearer(other)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "is for tenant 'tenant-b', not tenant-a" in (error.details() or "")
    # Asking for B's data with B's token through A's tenant context is refused as well.
    error = await refused(control.Status(status_request("tenant-b"), metadata=bearer(other)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(("role", "allowed"), [
    ("viewer", {"Status"}),
    ("trader", {"Status", "SetPaused"}),
    ("admin", {"Status", "SetPaused", "KillSwitch"}),
])
async def test_roles_per_method(control: Any, role: str, allowed: set[str]) -> None:
    calls = {
        "Status": lambda md: control.Status(status_request(), metadata=md),
        "SetPaused": lambda md: control.SetPaused(
            control_pb2.PauseRequest(tenant=TENANT_A, paused=True), metadata=md),
        "KillSwitch": lambda md: control.KillSwitch(
            control_pb2.KillSwitchRequest(tenant=TENANT_A), metadata=md),
    }
    for name, call in calls.items():
        if name in allowed:
            assert (await call(bearer(token(role)))).tenant_id == "tenant-a"
        else:
            error = await refused(call(bearer(token(role))))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, name
            assert f"needs {CONTROL_METHOD_ROLES[f'/arbiter.v1.Control/{name}'].name.lower()}" \
                in (error.details() or "")


async def test_rs256_tokens_and_unlisted_methods() -> None:
    roles = {m: r for m, r in CONTROL_METHOD_ROLES.items() if not m.endswith("/KillSwitch")}
    server, address = await serve(TenantServerInterceptor(),
                                  JwtServerInterceptor(TokenVerifier(rs256_public_key_pem=RSA_PUBLIC), roles))
    try:
        async with grpc.aio.insecure_channel(
                address, interceptors=[TenantClientInterceptor(TENANT_A)]) as channel:
            stub = control_pb2_grpc.ControlStub(channel)
            good = mint_token(RSA_PRIVATE, subject="bob", tenant="tenant-a", role=Role.ADMIN,
                              algorithm="RS256")
            assert (await stub.Status(status_request(), metadata=bearer(good))).tenant_id == "tenant-a"
            error = await refused(stub.Status(status_request(), metadata=bearer(token())))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # HS256 is not configured here
            assert "accepted: ['RS256']" in (error.details() or "")
            error = await refused(stub.KillSwitch(control_pb2.KillSwitchRequest(tenant=TENANT_A),
                                                  metadata=bearer(good)))
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED  # no role is mapped: closed
    finally:
        await server.stop(None)


def test_verifier_rejects_weak_or_wrong_keys() -> None:
    with pytest.raises(AuthConfigError, match="no token verification key"):
        TokenVerifier()
    with pytest.raises(AuthConfigError, match="HS256 secret is 31 bytes; at least 32"):
        TokenVerifier(hs256_secret="k" * 31)
    with pytest.raises(AuthConfigError, match="not a valid PEM public key"):
        TokenVerifier(rs256_public_key_pem=b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    ec_public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(AuthConfigError, match="not an RSA key"):
        TokenVerifier(rs256_public_key_pem=ec_public)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(AuthConfigError, match="1024 bits; at least 2048"):
        TokenVerifier(rs256_public_key_pem=small.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
