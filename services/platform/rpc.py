"""gRPC plumbing shared by services: servers, channels and the in-process stand-in.

Services always talk to each other through generated-stub-shaped objects
(`await stub.CheckRisk(request)`). Distributed, that is a grpc.aio stub on a channel;
embedded, `LocalStub` calls the very same servicer object directly, so the request and
response messages, tenant checks and error paths are identical without a socket hop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from arbiter.v1 import common_pb2


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

    def __getattr__(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        method = getattr(self._servicer, name)

        async def call(request: Any, **_: Any) -> Any:
            return await method(request, self._context)

        return call


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


async def start_server(port: int, register: list[Callable[[grpc.aio.Server], None]]) -> tuple[grpc.aio.Server, int]:
    """Start a grpc.aio server with the given servicers; returns it and the bound port."""
    server = grpc.aio.server()
    for add in register:
        add(server)
    bound = server.add_insecure_port(f"0.0.0.0:{port}")
    await server.start()
    return server, bound
