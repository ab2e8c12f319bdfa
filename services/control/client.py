"""A client of the control API for operator tools (`arbiter ctl`, the Telegram bot).

It sends the caller's JWT on every call and finds the API the way an operator would expect:
an explicit address and token first, then `ARBITER_CONTROL_ADDR` / `ARBITER_CONTROL_TOKEN`
(and, for a control service on TLS, the plane's CA: `ARBITER_CONTROL_CA`),
then the endpoint file a running `arbiter run` writes for its tenant (loopback address and
a token of the local operator, mode 0600).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

import grpc
from google.protobuf.message import Message

from arbiter.platform.rpc import insecure_channel, secure_channel
from arbiter.platform.tenancy import METADATA_TENANT, METADATA_TIER
from arbiter.v1 import common_pb2, control_pb2, control_pb2_grpc, risk_pb2

ENV_ADDRESS = "ARBITER_CONTROL_ADDR"
ENV_TOKEN = "ARBITER_CONTROL_TOKEN"
ENV_ENDPOINT_FILE = "ARBITER_CONTROL_FILE"
ENV_CA = "ARBITER_CONTROL_CA"
CALL_TIMEOUT_S = 10.0
R = TypeVar("R")


class EndpointError(Exception):
    """No control API to talk to: nothing given and no running engine's endpoint file, or
    an endpoint file that is unreadable, malformed or open to other users."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str  # host:port
    token: str
    tenant_id: str
    tier: str = "paper"  # sent as call metadata; the server checks the tenant, not this
    ca_path: str = ""  # the plane's CA (a control service on TLS, `tls.*`); "": plaintext


def endpoint_file(tenant_id: str, environ: Mapping[str, str] = os.environ) -> Path:
    """Where `arbiter run` announces its control API for `tenant_id`:
    `$ARBITER_CONTROL_FILE`, else `$XDG_RUNTIME_DIR/arbiter/control-<tenant>.json`, else
    `~/.arbiter/control-<tenant>.json`."""
    if given := environ.get(ENV_ENDPOINT_FILE):
        return Path(given)
    base = environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "arbiter" if base else Path.home() / ".arbiter"
    return folder / f"control-{tenant_id}.json"


def write_endpoint(path: Path, endpoint: Endpoint) -> None:
    """Write the endpoint file readable by its owner only (it holds an admin token)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"address": endpoint.address, "token": endpoint.token,
                   "tenant": endpoint.tenant_id, "tier": endpoint.tier}, handle)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def read_endpoint(path: Path) -> Endpoint:
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except FileNotFoundError:
        raise EndpointError(f"no running engine announced a control API at {path} (start "
                            "`arbiter run`, or pass --address and --token)") from None
    except OSError as exc:
        raise EndpointError(f"{path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EndpointError(f"{path} is readable by other users (mode {oct(mode & 0o777)}); "
                            "it holds a token: chmod 600 it")
    try:
        data = json.loads(text)
        return Endpoint(str(data["address"]), str(data["token"]), str(data["tenant"]),
                        str(data.get("tier") or "paper"))
    except (ValueError, KeyError, TypeError) as exc:
        raise EndpointError(f"{path} is not an endpoint file ({exc})") from None


def resolve_endpoint(address: str | None, token: str | None, tenant_id: str,
                     tier: str = "paper", environ: Mapping[str, str] = os.environ,
                     ca_path: str | None = None) -> Endpoint:
    """Flags, then environment, then the running engine's endpoint file."""
    address = address or environ.get(ENV_ADDRESS) or None
    token = token or environ.get(ENV_TOKEN) or None
    ca_path = ca_path or environ.get(ENV_CA) or ""
    if address and token:
        return Endpoint(address, token, tenant_id, tier, ca_path)
    announced = read_endpoint(endpoint_file(tenant_id, environ))
    if announced.tenant_id != tenant_id:
        raise EndpointError(f"the endpoint file is for tenant {announced.tenant_id!r}, "
                            f"not {tenant_id!r}")
    return Endpoint(address or announced.address, token or announced.token, tenant_id,
                    announced.tier, ca_path)


def _trusting(ca_path: str) -> grpc.ChannelCredentials:
    """TLS that trusts the plane's CA; no client certificate (the JWT says who calls)."""
    try:
        return grpc.ssl_channel_credentials(Path(ca_path).read_bytes())
    except OSError as exc:
        raise EndpointError(f"control CA {ca_path!r}: {exc.strerror}") from None


class ControlClient:
    """One tenant's control API. Every method raises `grpc.aio.AioRpcError` with the
    server's status (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT, ...)."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.tenant = common_pb2.TenantContext(tenant_id=endpoint.tenant_id, tier=endpoint.tier)
        self._channel = (secure_channel(endpoint.address, _trusting(endpoint.ca_path),
                                        self.tenant)
                         if endpoint.ca_path else insecure_channel(endpoint.address, self.tenant))
        self._stub = control_pb2_grpc.ControlStub(self._channel)
        self._metadata = (("authorization", f"Bearer {endpoint.token}"),)
        self._timeout = timeout_s

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _call(self, method: Callable[..., Awaitable[R]], request: Message) -> R:
        return await method(request, metadata=self._metadata, timeout=self._timeout)

    async def status(self) -> control_pb2.StatusReply:
        return await self._call(self._stub.Status, control_pb2.StatusRequest(tenant=self.tenant))

    async def positions(self, venue: str = "") -> control_pb2.PositionsReply:
        return await self._call(self._stub.Positions,
                                control_pb2.PositionsQuery(tenant=self.tenant, venue=venue))

    async def sagas(self, state: str = "", pair_id: str = "",
                    limit: int = 0) -> control_pb2.SagasReply:
        return await self._call(self._stub.Sagas, control_pb2.SagasQuery(
            tenant=self.tenant, state=state, pair_id=pair_id, limit=limit))

    async def saga(self, saga_id: str) -> control_pb2.SagaDetail:
        return await self._call(self._stub.Saga,
                                control_pb2.SagaQuery(tenant=self.tenant, saga_id=saga_id))

    async def set_paused(self, paused: bool, reason: str = "",
                         pair_id: str = "") -> control_pb2.StatusReply:
        return await self._call(self._stub.SetPaused, control_pb2.PauseRequest(
            tenant=self.tenant, paused=paused, reason=reason, pair_id=pair_id))

    async def kill(self, reason: str) -> control_pb2.StatusReply:
        return await self._call(self._stub.KillSwitch,
                                control_pb2.KillSwitchRequest(tenant=self.tenant, reason=reason))

    async def reset_hard_stop(self, reason: str,
                              acknowledge: Sequence[str] = ()) -> control_pb2.StatusReply:
        return await self._call(self._stub.ResetHardStop, control_pb2.ResetRequest(
            tenant=self.tenant, reason=reason, acknowledge=list(acknowledge)))

    async def cancel_all(self, venue: str = "") -> control_pb2.CancelAllReply:
        return await self._call(self._stub.CancelAll,
                                control_pb2.CancelAllVenueRequest(tenant=self.tenant, venue=venue))

    async def limits(self, changes: Mapping[str, str] | None = None,
                     reason: str = "") -> control_pb2.LimitsReply:
        return await self._call(self._stub.Limits, control_pb2.LimitsRequest(
            tenant=self.tenant, set=dict(changes or {}), reason=reason))

    async def audit(self, after_seq: int = 0, limit: int = 0) -> risk_pb2.AuditTrail:
        return await self._call(self._stub.Audit, risk_pb2.AuditQuery(
            tenant=self.tenant, after_seq=after_seq, limit=limit))

    async def events(self) -> AsyncIterator[control_pb2.ControlEvent]:
        """Saga changes, alerts and audit records from now on, until the server ends."""
        # the tenant interceptor stamps unary calls only: a stream carries it by hand
        metadata = (*self._metadata, (METADATA_TENANT, self.tenant.tenant_id),
                    (METADATA_TIER, self.tenant.tier))
        call = self._stub.Events(control_pb2.EventsRequest(tenant=self.tenant),
                                 metadata=metadata)
        try:
            async for event in call:
                yield event
        finally:
            call.cancel()


def describe_error(exc: grpc.aio.AioRpcError) -> str:
    """One line for an operator: the status and what the server said."""
    return f"{exc.code().name}: {exc.details()}"
