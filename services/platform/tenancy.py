"""Tenant context: who a request or message is for, and what that tenant may do.

A tenant (id + subscription tier) travels with every gRPC call as metadata
(`x-arbiter-tenant`, `x-arbiter-tier`) and with every message on a tenant-scoped topic as
Kafka headers (`arbiter-tenant`, `arbiter-tier`). Receivers refuse work that carries none,
and run the work inside `tenant_scope`, so code further down (and the calls it makes, through
`TenantClientInterceptor`) reads the tenant from `current_tenant()` instead of threading it.

Tiers cap what a tenant's configuration may ask for; `Tier.check` says which limit a config
exceeds. The table is pure data, so the operator, config loading and tests share it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import grpc
from google.protobuf.message import Message

from arbiter.platform import topics
from arbiter.platform.bus.base import HEADER_TENANT, Envelope, Handler
from arbiter.platform.telemetry import metrics
from arbiter.v1 import common_pb2

log = logging.getLogger(__name__)

# The one tenant-id rule: it ends up in SQL rows, topic prefixes, metric labels, Vault paths.
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)

METADATA_TENANT = "x-arbiter-tenant"
METADATA_TIER = "x-arbiter-tier"
HEADER_TIER = "arbiter-tier"
# Execution streams: every message belongs to exactly one tenant. Market data is shared.
TENANT_SCOPED_TOPICS = frozenset({topics.EXEC_REPORTS, topics.SAGA_EVENTS})


class TenantError(ValueError):
    """Base of tenant-context errors."""


class MissingTenant(TenantError):
    """Work arrived (or is about to leave) without a tenant."""


class InvalidTenant(TenantError):
    """A tenant id or tier does not follow the rules."""


class UnknownTier(InvalidTenant):
    """A tier name that is not in `TIERS`."""


class TierLimitExceeded(TenantError):
    """A tenant's configuration asks for more than its tier allows."""

    def __init__(self, tenant_id: str, tier: str, limit: str, value: int | Decimal,
                 cap: int | Decimal) -> None:
        super().__init__(
            f"tenant {tenant_id!r} on tier {tier!r}: {limit}={value} exceeds the tier's cap of {cap}")
        self.tenant_id = tenant_id
        self.tier = tier
        self.limit = limit
        self.value = value
        self.cap = cap


def validate_tenant_id(value: object) -> str:
    """Return `value` if it is a well-formed tenant id, else raise `InvalidTenant`."""
    if not isinstance(value, str) or _TENANT_ID.fullmatch(value) is None:
        raise InvalidTenant(
            f"tenant id {str(value)[:80]!r} must match {TENANT_ID_PATTERN} "
            "(lower-case letters, digits, hyphens; 1-63 characters)")
    return value


def tenant(tenant_id: str, tier: str) -> common_pb2.TenantContext:
    """A validated tenant context."""
    tier_named(tier)
    return common_pb2.TenantContext(tenant_id=validate_tenant_id(tenant_id), tier=tier)


# -- tiers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """What a tenant's configuration asks for, by the names and in the units of the config:
    `market.pairs` (counted), `risk.orders_per_second`, `risk.max_exposure_usd` (dollars)
    and `risk.max_open_sagas`."""

    pairs: int
    orders_per_second: int
    max_exposure_usd: Decimal
    max_open_sagas: int


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    caps: TenantLimits

    def caps_by_name(self) -> dict[str, str]:
        """What this tier allows, by the name of the limit it caps (as operators set it)."""
        return {field.name: str(getattr(self.caps, field.name)) for field in fields(TenantLimits)}

    def check(self, tenant_id: str, wanted: TenantLimits) -> None:
        """Raise `TierLimitExceeded` for the first limit in `wanted` above this tier's cap."""
        for field in fields(TenantLimits):
            limit = field.name
            value, cap = getattr(wanted, limit), getattr(self.caps, limit)
            if value > cap:
                raise TierLimitExceeded(tenant_id, self.name, limit, value, cap)


TIERS: Mapping[str, Tier] = {
    t.name: t for t in (
        Tier("paper", TenantLimits(pairs=10, orders_per_second=20,
                                   max_exposure_usd=Decimal(10_000), max_open_sagas=4)),
        Tier("standard", TenantLimits(pairs=50, orders_per_second=50,
                                      max_exposure_usd=Decimal(100_000), max_open_sagas=16)),
        Tier("pro", TenantLimits(pairs=500, orders_per_second=200,
                                 max_exposure_usd=Decimal(2_000_000), max_open_sagas=64)),
    )
}


def tier_named(name: str) -> Tier:
    """The tier called `name`; `UnknownTier` lists the known ones."""
    try:
        return TIERS[name]
    except KeyError:
        raise UnknownTier(f"unknown tier {name!r}; known tiers: {sorted(TIERS)}") from None


# -- the current tenant ------------------------------------------------------------------

_current: contextvars.ContextVar[common_pb2.TenantContext | None] = contextvars.ContextVar(
    "arbiter_tenant", default=None)


def current_tenant() -> common_pb2.TenantContext:
    """The tenant the running request or message is for; `MissingTenant` outside one."""
    found = _current.get()
    if found is None:
        raise MissingTenant("no tenant in context: this code must run inside a request or "
                            "message that carries one (see arbiter.platform.tenancy)")
    return found


@contextlib.contextmanager
def tenant_scope(context: common_pb2.TenantContext) -> Iterator[common_pb2.TenantContext]:
    """Run a block as work for `context` (restored on exit, per asyncio task)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def _from_pairs(tenant_id: str | None, tier: str | None, where: str) -> common_pb2.TenantContext:
    """Validate a tenant read from the wire; errors say where it was read from."""
    if not tenant_id:
        raise MissingTenant(f"no tenant in {where}")
    try:
        return tenant(tenant_id, tier or "")
    except InvalidTenant as exc:
        raise type(exc)(f"{where}: {exc}") from None


# -- gRPC --------------------------------------------------------------------------------


class TenantClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Puts the current tenant (else `default`) into every call's metadata.

    With neither, the call fails before it leaves the process: no tenantless request goes out.
    """

    def __init__(self, default: common_pb2.TenantContext | None = None) -> None:
        self._default = default

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        context = _current.get() or self._default
        if context is None:
            raise MissingTenant(f"call to {client_call_details.method!r} has no tenant to send")
        metadata = [(k, v) for k, v in (client_call_details.metadata or ())
                    if k not in (METADATA_TENANT, METADATA_TIER)]
        metadata += [(METADATA_TENANT, context.tenant_id), (METADATA_TIER, context.tier)]
        return await continuation(client_call_details._replace(metadata=metadata), request)


Check = Callable[[Any, grpc.aio.ServicerContext], Awaitable[contextlib.AbstractContextManager[Any]]]


def guard(handler: grpc.RpcMethodHandler, check: Check) -> grpc.RpcMethodHandler:
    """Wrap a unary or server-streaming handler so `check` runs first and the call runs (a
    stream: is iterated) inside what it returns.

    `check` aborts the call (context.abort) to refuse it. Client-streaming methods have no
    single request to check: a guard is not built for them (a wiring error)."""
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with await check(request, context):
                return await unary(request, context)  # type: ignore[arg-type]  # aio handler

        return grpc.unary_unary_rpc_method_handler(
            guarded, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def guarded_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with await check(request, context):
                async for reply in stream(request, context):  # type: ignore[attr-defined]
                    yield reply

        return grpc.unary_stream_rpc_method_handler(
            guarded_stream, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
    raise TypeError("tenant and auth guards support unary and server-streaming methods only")


def invocation_metadata(details: grpc.HandlerCallDetails) -> dict[str, str]:
    return {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}


class TenantServerInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a valid tenant in metadata; serves the rest in its scope.

    A request message whose own `tenant` field names a different tenant than the metadata
    is refused too, so the two can never disagree downstream."""

    def __init__(self, exempt_prefixes: Sequence[str] = ("/grpc.health.v1.Health/",)) -> None:
        self._exempt = tuple(exempt_prefixes)

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(self._exempt):
            return handler
        metadata = invocation_metadata(handler_call_details)

        async def check(request: Any, context: grpc.aio.ServicerContext) -> contextlib.AbstractContextManager[Any]:
            where = f"call to {method} (metadata {METADATA_TENANT!r})"
            try:
                caller = _from_pairs(metadata.get(METADATA_TENANT), metadata.get(METADATA_TIER), where)
            except MissingTenant as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            except InvalidTenant as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            named = request_tenant(request)
            if named and named != caller.tenant_id:
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method}: request is for tenant {named!r} but the call is from "
                    f"tenant {caller.tenant_id!r}")
            return tenant_scope(caller)

        return guard(handler, check)


def request_tenant(request: Message) -> str:
    """The tenant id a request message names in its `tenant` field ('' if none)."""
    named = getattr(request, "tenant", None)
    return named.tenant_id if isinstance(named, common_pb2.TenantContext) else ""


# -- Kafka headers -----------------------------------------------------------------------


def tenant_headers(context: common_pb2.TenantContext | None = None) -> dict[str, str]:
    """Headers that put a message on a tenant-scoped topic for `context` (default: current)."""
    context = context or current_tenant()
    return {HEADER_TENANT: context.tenant_id, HEADER_TIER: context.tier}


def tenant_from_headers(headers: Mapping[str, str]) -> common_pb2.TenantContext:
    """The tenant a delivered message is for; `MissingTenant` / `InvalidTenant` if unusable."""
    return _from_pairs(headers.get(HEADER_TENANT), headers.get(HEADER_TIER),
                       f"message headers ({HEADER_TENANT!r})")


def tenant_scoped(
    topic: str, group: str, handler: Handler[Any], serves: str | None = None
) -> Handler[Any]:
    """`handler` for a subscription, refusing messages that carry no valid tenant.

    Shared topics (market data) pass through unchanged. On a tenant-scoped topic a message
    without a usable tenant header, or (with `serves`) for another tenant, is dropped with an
    error log and a `arbiter_bus_messages_dropped_total{group}` count; it is not retried,
    since no retry can add the missing header. Accepted messages run in `tenant_scope`."""
    if topic not in TENANT_SCOPED_TOPICS:
        return handler
    dropped = metrics.BUS_DROPPED.labels(group=group)

    async def scoped(envelope: Envelope[Any]) -> None:
        try:
            context = tenant_from_headers(envelope.headers)
            if serves is not None and context.tenant_id != serves:
                raise InvalidTenant(f"message is for tenant {context.tenant_id!r}, "
                                    f"this consumer serves {serves!r}")
        except TenantError as exc:
            dropped.inc()
            log.error("dropping %s on %s for group %s: %s",
                      envelope.message_id, envelope.topic, group, exc)
            return
        with tenant_scope(context):
            await handler(envelope)

    return scoped
