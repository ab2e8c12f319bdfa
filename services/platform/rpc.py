"""gRPC plumbing shared by services: servers, channels and the in-process stand-in.

Services always talk to each other through generated-stub-shaped objects
(`await stub.CheckRisk(request)`). Distributed, that is a grpc.aio stub on a channel;
embedded, `LocalStub` calls the very same servicer object directly, so the request and
response messages, tenant checks and error paths are identical without a socket hop.

Trace context crosses a call the same way both ways: the caller writes `traceparent` into
the call's metadata and the serving side opens a SERVER span from it — `LocalStub` does
both in process, `TracingClientInterceptor` / `TracingServerInterceptor` over gRPC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, Protocol

import grpc

from arbiter.platform.telemetry import tracing
from arbiter.platform.tenancy import TenantClientInterceptor, TenantServerInterceptor
from arbiter.v1 import common_pb2


class Context(Protocol):
    """What a servicer uses of a gRPC context (`grpc.aio`'s, or the in-process one)."""

    async def abort(self, code: grpc.StatusCode, details: str) -> NoReturn: ...


class LocalRpcError(grpc.RpcError):
    """What `LocalContext.abort` raises: carries a status code like a real RpcError."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class LocalContext:
    """The part of `grpc.aio.ServicerContext` our servicers use."""

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise LocalRpcError(code, details)


class LocalStub:
    """Exposes a servicer's RPC methods with a stub's call signature."""

    def __init__(self, servicer: object) -> None:
        self._servicer = servicer
        self._context = LocalContext()
        self._service = _proto_service(servicer)

    def __getattr__(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        method = getattr(self._servicer, name)
        path = f"/{self._service}/{name}"

        async def call(request: Any, metadata: Any = None, **_: Any) -> Any:
            if not tracing.enabled():
                return await method(request, self._context)
            carrier = tracing.metadata_carrier(tracing.outgoing_metadata(metadata))
            with tracing.server_span(path, carrier):
                return await method(request, self._context)

        return call


def _proto_service(servicer: object) -> str:
    """`arbiter.v1.Risk` for a subclass of the generated `RiskServicer`."""
    for cls in type(servicer).__mro__:
        if cls.__module__.endswith("_pb2_grpc") and cls.__name__.endswith("Servicer"):
            return f"arbiter.v1.{cls.__name__.removesuffix('Servicer')}"
    return type(servicer).__name__


class TracingClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds the caller's trace context to every unary call's metadata."""

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        if tracing.enabled():
            client_call_details = client_call_details._replace(
                metadata=tracing.outgoing_metadata(client_call_details.metadata))
        return await continuation(client_call_details, request)


class TracingServerInterceptor(grpc.aio.ServerInterceptor):
    """Serves every unary call inside a SERVER span parented by the caller's context."""

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None or not tracing.enabled():
            return handler
        method = handler_call_details.method
        carrier = tracing.metadata_carrier(handler_call_details.invocation_metadata)
        inner = handler.unary_unary

        async def traced(request: Any, context: Any) -> Any:
            with tracing.server_span(method, carrier):
                return await inner(request, context)

        return handler._replace(unary_unary=traced)


def insecure_channel(
    address: str, tenant: common_pb2.TenantContext | None = None
) -> grpc.aio.Channel:
    """A client channel whose calls carry the trace context."""
    return grpc.aio.insecure_channel(
        address, interceptors=[TracingClientInterceptor(), TenantClientInterceptor(tenant)])


def secure_channel(
    address: str, credentials: grpc.ChannelCredentials,
    tenant: common_pb2.TenantContext | None = None,
) -> grpc.aio.Channel:
    """`insecure_channel` over TLS, presenting this process's certificate."""
    return grpc.aio.secure_channel(
        address, credentials,
        interceptors=[TracingClientInterceptor(), TenantClientInterceptor(tenant)])


async def require_tenant(
    tenant: common_pb2.TenantContext, expected: str, context: Any
) -> None:
    """Refuse work that carries no tenant, or another tenant than this plane serves."""
    if not tenant.tenant_id:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request has no tenant context")
    elif tenant.tenant_id != expected:
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"tenant {tenant.tenant_id!r} is not served here (this plane serves {expected!r})",
        )


async def start_server(
    port: int,
    register: list[Callable[[grpc.aio.Server], None]],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    host: str = "0.0.0.0",
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start a grpc.aio server with the given servicers on `host` (over TLS with
    `credentials`); returns it and the bound port."""
    # every call must carry a tenant in its metadata; `interceptors` add e.g. JWT checks
    server = grpc.aio.server(
        interceptors=[TracingServerInterceptor(), TenantServerInterceptor(), *interceptors])
    for add in register:
        add(server)
    address = f"{host}:{port}"
    bound = (server.add_secure_port(address, credentials) if credentials is not None
             else server.add_insecure_port(address))
    await server.start()
    return server, bound
