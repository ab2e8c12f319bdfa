"""Gateway-side signers that keep venue keys in the vault: each signature is one gRPC call.

The classes match, by shape only, what the gateways sign with (an EIP-712 signer with
`address` and `sign_digest`, a request signer with `sign`), so a gateway swaps its
in-process key for the vault without importing this module's types. They work over a
`grpc.aio` `SignerStub` and over `arbiter.platform.rpc.LocalStub` alike. Each factory asks the
vault once for a credential's public side (address, key id) and checks it is of the kind the
venue asked for (kinds are declared by the venue plugins), so a misconfigured credential id
fails at gateway start, not at the first order.

Polymarket's L2 HMAC is computed in the gateway: the venue's user WebSocket demands the L2
secret in clear anyway, and that secret, derived at start with a vault-signed L1 request,
cannot sign orders.
"""

from __future__ import annotations

from typing import Any, Protocol

import grpc

from arbiter.platform.tenancy import METADATA_TENANT, METADATA_TIER
from arbiter.v1 import common_pb2, signing_pb2
from arbiter.vault.credentials import CredentialKind, credential_kind

EIP712_SIGNATURE_LENGTH = 65


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


class _VaultCredential:
    """One credential in the vault, addressed as one tenant; the calls and their errors."""

    def __init__(self, stub: SignerStubLike, tenant: common_pb2.TenantContext,
                 credential_id: str, key_version: int) -> None:
        self._stub = stub
        self._tenant = tenant
        self.credential_id = credential_id
        self.key_version = key_version  # as of the last call; rotation moves it forward

    async def _sign(self, action: str, **payload: bytes) -> bytes:
        request = signing_pb2.SignRequest(tenant=self._tenant, credential_id=self.credential_id,
                                          **payload)
        response = await _call(self._stub.Sign, request, self._tenant, self.credential_id,
                               action)
        self.key_version = response.key_version
        return bytes(response.signature)

    def _error(self, action: str, reason: str) -> VaultCredentialError:
        return VaultCredentialError(self._tenant.tenant_id, self.credential_id, action, reason)


class VaultDigestSigner(_VaultCredential):
    """Polymarket EIP-712 (orders, ClobAuth) with a `polymarket-eoa` key in the vault."""

    def __init__(self, stub: SignerStubLike, tenant: common_pb2.TenantContext,
                 credential_id: str, address: str, key_version: int = 0) -> None:
        super().__init__(stub, tenant, credential_id, key_version)
        self._address = address

    @property
    def address(self) -> str:
        """Checksummed address of the vault-held key."""
        return self._address

    async def sign_digest(self, digest: bytes) -> bytes:
        """65-byte r||s||v (v = 27/28) over a 32-byte EIP-712 digest."""
        if len(digest) != 32:
            raise self._error("sign:eip712", f"digest must be 32 bytes, was {len(digest)} bytes")
        signature = await self._sign("sign:eip712", eip712_digest=digest)
        if len(signature) != EIP712_SIGNATURE_LENGTH:
            raise self._error("sign:eip712", f"vault answered {len(signature)} signature bytes, "
                                             f"expected {EIP712_SIGNATURE_LENGTH}")
        return signature


_MESSAGE_FIELDS = {"sign:rsa-pss": "rsa_pss_message", "sign:hmac": "hmac_message"}
"""The `SignRequest` payload field of each action that signs request pre-sign bytes."""


class VaultMessageSigner(_VaultCredential):
    """Request auth over pre-sign bytes (`action`: sign:hmac or sign:rsa-pss) with a vault
    key; `public_info` is what the vault told about it (its key id, say)."""

    def __init__(self, stub: SignerStubLike, tenant: common_pb2.TenantContext,
                 credential_id: str, action: str, public_info: dict[str, str],
                 key_version: int = 0) -> None:
        if action not in _MESSAGE_FIELDS:
            raise ValueError(f"{action!r} does not sign messages; one of {sorted(_MESSAGE_FIELDS)}")
        super().__init__(stub, tenant, credential_id, key_version)
        self.action = action
        self.public_info = public_info

    async def sign(self, message: bytes) -> bytes:
        return await self._sign(self.action, **{_MESSAGE_FIELDS[self.action]: message})


class VaultRequestSigner(_VaultCredential):
    """RSA-PSS request auth (SHA-256) with a `kalshi-rsa`-shaped key in the vault."""

    def __init__(self, stub: SignerStubLike, tenant: common_pb2.TenantContext,
                 credential_id: str, key_id: str, public_key_pem: str,
                 key_version: int = 0) -> None:
        super().__init__(stub, tenant, credential_id, key_version)
        self.key_id = key_id  # the KALSHI-ACCESS-KEY header
        self.public_key_pem = public_key_pem

    async def sign(self, message: bytes) -> bytes:
        """Raw RSA-PSS signature over the Kalshi pre-sign bytes (timestamp + METHOD + path)."""
        return await self._sign("sign:rsa-pss", rsa_pss_message=message)


async def vault_digest_signer(
    stub: SignerStubLike, tenant: common_pb2.TenantContext, credential_id: str, *,
    kind: CredentialKind,
) -> VaultDigestSigner:
    """An EIP-712 digest signer over a vault key of `kind` (whose public side has an
    `address`); one `GetCredentialInfo` call. `VaultCredentialError` names the credential if
    the vault does not let this tenant use it, or if it is another kind of key."""
    version, info = await _info(stub, tenant, credential_id, kind)
    return VaultDigestSigner(stub, tenant, credential_id, info["address"], version)


async def vault_request_signer(
    stub: SignerStubLike, tenant: common_pb2.TenantContext, credential_id: str, *,
    kind: CredentialKind,
) -> VaultRequestSigner:
    """An RSA-PSS request signer over a vault key of `kind` (see `vault_digest_signer`)."""
    version, info = await _info(stub, tenant, credential_id, kind)
    return VaultRequestSigner(stub, tenant, credential_id, info["key_id"],
                              info["public_key_pem"], version)


async def vault_message_signer(
    stub: SignerStubLike, tenant: common_pb2.TenantContext, credential_id: str,
    kind: CredentialKind, action: str = "sign:hmac",
) -> VaultMessageSigner:
    """A signer of request pre-sign bytes over a vault key of `kind` (see
    `vault_digest_signer`); its `public_info` holds the kind's public fields."""
    version, info = await _info(stub, tenant, credential_id, kind)
    return VaultMessageSigner(stub, tenant, credential_id, action, info, version)


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
