"""Gateway-side access to keys that stay in the vault: each signature is one gRPC call.

A `VaultCredential` is one tenant's credential as the vault describes it (its kind, public
side, key version) and asks the vault to sign a *payload*: an order, an auth message, a
request line (`SignRequest.payload`), never bytes; the vault checks it with the credential
kind's signing policy. `VaultRequestSigner` signs venue requests (Kalshi and any venue whose
requests are signed as timestamp + method + path, and the body too). Venue packages wrap a
`VaultCredential` in the signer their gateway uses (Polymarket's order signer, say). They work
over a `grpc.aio` `SignerStub` and over `arbiter.platform.rpc.LocalStub` alike. Each factory
asks the vault once for a credential's public side and checks it is of the kind the venue asked
for (kinds are declared by the venue plugins), so a misconfigured credential id fails at
gateway start, not at the first order.

Polymarket's L2 HMAC is computed in the gateway: the venue's user WebSocket demands the L2
secret in clear anyway, and that secret, derived at start with a vault-signed L1 request,
cannot sign orders.
"""

from __future__ import annotations

from typing import Any, Protocol

import grpc
from google.protobuf.message import Message

from arbiter.platform.tenancy import METADATA_TENANT, METADATA_TIER
from arbiter.v1 import common_pb2, signing_pb2
from arbiter.vault.credentials import CredentialKind, credential_kind


class SignerStubLike(Protocol):
    """The `arbiter.v1.Signer` calls, as a generated stub or a `LocalStub` offers them."""

    async def Sign(self, request: signing_pb2.SignRequest, **kwargs: Any) -> Any: ...

    async def GetCredentialInfo(
        self, request: signing_pb2.CredentialInfoRequest, **kwargs: Any
    ) -> Any: ...


class VaultCredentialError(RuntimeError):
    """The vault refused or failed a call about one credential; says which and why."""

    def __init__(self, tenant_id: str, credential_id: str, action: str, reason: str,
                 code: grpc.StatusCode | None = None) -> None:
        status = f" ({code.name})" if code is not None else ""
        super().__init__(f"vault credential {credential_id!r} of tenant {tenant_id!r}: "
                         f"{action} failed{status}: {reason}")
        self.tenant_id = tenant_id
        self.credential_id = credential_id
        self.code = code


class VaultCredential:
    """One credential in the vault, addressed as one tenant: its public side and `sign`."""

    def __init__(self, stub: SignerStubLike, tenant: common_pb2.TenantContext,
                 credential_id: str, public_info: dict[str, str],
                 key_version: int = 0) -> None:
        self._stub = stub
        self._tenant = tenant
        self.credential_id = credential_id
        self.public_info = public_info
        self.key_version = key_version  # as of the last call; rotation moves it forward

    async def sign(self, **payload: Message) -> bytes:
        """The vault's signature over one payload (`polymarket_order=...`, ...); a refusal
        is a `VaultCredentialError` naming the failed check."""
        (field, message), = payload.items()
        request = signing_pb2.SignRequest(tenant=self._tenant, credential_id=self.credential_id)
        getattr(request, field).CopyFrom(message)
        response = await _call(self._stub.Sign, request, self._tenant, self.credential_id,
                               f"sign:{field}")
        self.key_version = response.key_version
        return bytes(response.signature)

    def error(self, action: str, reason: str) -> VaultCredentialError:
        return VaultCredentialError(self._tenant.tenant_id, self.credential_id, action, reason)


class VaultRequestSigner:
    """Venue request auth with a vault key: the vault checks the request line (method, path,
    timestamp) against the venue's policy and signs what the venue signs."""

    def __init__(self, credential: VaultCredential) -> None:
        self.credential = credential

    @property
    def public_info(self) -> dict[str, str]:
        return self.credential.public_info

    async def sign_request(self, timestamp_ms: int, method: str, path: str,
                           body: bytes = b"") -> bytes:
        """Raw signature bytes over the venue's pre-sign text of this request."""
        return await self.credential.sign(venue_request=signing_pb2.VenueRequest(
            timestamp_ms=timestamp_ms, method=method, path=path, body=body))


async def vault_credential(
    stub: SignerStubLike, tenant: common_pb2.TenantContext, credential_id: str, *,
    kind: CredentialKind,
) -> VaultCredential:
    """A vault credential of `kind`, after one `GetCredentialInfo` call; its `public_info`
    holds the kind's public fields. `VaultCredentialError` names the credential if the vault
    does not let this tenant use it, or if it is another kind of key."""
    version, info = await _info(stub, tenant, credential_id, kind)
    return VaultCredential(stub, tenant, credential_id, info, version)


async def _info(stub: SignerStubLike, tenant: common_pb2.TenantContext, credential_id: str,
                kind: CredentialKind) -> tuple[int, dict[str, str]]:
    """(key version, public info) of a credential, checked to be of `kind`."""
    if not tenant.tenant_id:
        raise ValueError("a vault signer needs a tenant context with a tenant_id")
    request = signing_pb2.CredentialInfoRequest(tenant=tenant, credential_id=credential_id)
    info = await _call(stub.GetCredentialInfo, request, tenant, credential_id, "info")
    if info.kind != kind:
        raise VaultCredentialError(tenant.tenant_id, credential_id, "info",
                                   f"it is a {info.kind or 'unknown'} credential, "
                                   f"this signer needs a {kind} credential")
    public = dict(info.public_info)
    missing = [name for name in credential_kind(kind).public_fields if not public.get(name)]
    if missing:
        raise VaultCredentialError(tenant.tenant_id, credential_id, "info",
                                   f"vault answered no {', '.join(missing)}")
    return info.key_version, public


async def _call(method: Any, request: Any, tenant: common_pb2.TenantContext,
                credential_id: str, action: str) -> Any:
    """One vault call, the tenant in its metadata too (a channel without the tenant
    interceptor still passes the server's check); RPC errors name the credential."""
    metadata = ((METADATA_TENANT, tenant.tenant_id), (METADATA_TIER, tenant.tier))
    try:
        return await method(request, metadata=metadata)
    except grpc.RpcError as exc:
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        raise VaultCredentialError(tenant.tenant_id, credential_id, action,
                                   details or "no details", code) from exc
