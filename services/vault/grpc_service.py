"""gRPC edge of the vault: `arbiter.v1.Signer` over the domain `Signer`.

Thin by design: check the tenant context, translate the payload, run the (CPU-bound,
blocking) signing in a worker thread so the event loop keeps serving, and map domain errors to
status codes. A credential that is unknown and one owned by another tenant get the same
PERMISSION_DENIED answer, so a tenant cannot probe another tenant's credential ids.
`GetCredentialInfo` goes through the same checks and audit and answers public material only.
"""

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from arbiter.platform.peers import current_peer
from arbiter.v1 import signing_pb2, signing_pb2_grpc
from arbiter.vault.errors import (
    BackendUnavailable,
    CredentialNotFound,
    InvalidIdentifier,
    PayloadMismatch,
    StoreUnavailable,
    VaultError,
)
from arbiter.vault.signer import Eip712Digest, HmacMessage, RsaPssMessage, Signer, SignPayload
from arbiter.vault.vault import CredentialVault

T = TypeVar("T")

_STATUS: tuple[tuple[type[VaultError], grpc.StatusCode], ...] = (
    (InvalidIdentifier, grpc.StatusCode.INVALID_ARGUMENT),
    (PayloadMismatch, grpc.StatusCode.INVALID_ARGUMENT),
    (CredentialNotFound, grpc.StatusCode.PERMISSION_DENIED),
    (BackendUnavailable, grpc.StatusCode.UNAVAILABLE),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
)


def _payload(request: signing_pb2.SignRequest) -> SignPayload | None:
    which = request.WhichOneof("payload")
    if which == "eip712_digest":
        return Eip712Digest(request.eip712_digest)
    if which == "rsa_pss_message":
        return RsaPssMessage(request.rsa_pss_message)
    if which == "hmac_message":
        return HmacMessage(request.hmac_message)
    return None


class SignerService(signing_pb2_grpc.SignerServicer):
    """Serve `Sign` and `GetCredentialInfo` for every tenant; no tenant context, no answer."""

    def __init__(self, signer: Signer, vault: CredentialVault) -> None:
        self._signer = signer
        self._vault = vault

    async def Sign(
        self, request: signing_pb2.SignRequest, context: grpc.aio.ServicerContext
    ) -> signing_pb2.SignResponse:
        await _require_tenant(request, "SignRequest", context)
        payload = _payload(request)
        if payload is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "payload is required: eip712_digest, rsa_pss_message or hmac_message",
            )
        assert payload is not None
        signature = await _call_vault(request, context, self._signer.sign, payload)
        return signing_pb2.SignResponse(signature=signature.signature,
                                        key_version=signature.key_version)

    async def GetCredentialInfo(
        self, request: signing_pb2.CredentialInfoRequest, context: grpc.aio.ServicerContext
    ) -> signing_pb2.CredentialInfo:
        await _require_tenant(request, "CredentialInfoRequest", context)
        info = await _call_vault(request, context, self._vault.describe)
        return signing_pb2.CredentialInfo(credential_id=info.credential_id, kind=str(info.kind),
                                          key_version=info.key_version,
                                          public_info=info.public_info)


async def _require_tenant(request: Any, name: str, context: grpc.aio.ServicerContext) -> None:
    if not request.HasField("tenant") or not request.tenant.tenant_id:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f"tenant context is required ({name}.tenant.tenant_id)")


async def _call_vault(
    request: Any, context: grpc.aio.ServicerContext, call: Callable[..., T], *args: Any
) -> T:
    """Run `call(actor, tenant, credential, *args)` off the event loop; vault errors become
    status codes, and a missing or foreign credential one answer that names neither owner."""
    tenant_id, credential_id = request.tenant.tenant_id, request.credential_id
    # in process (rpc.LocalStub) there is no peer address to audit; over mutual TLS the
    # audit names the calling service and tenant its certificate proves
    caller = current_peer()
    actor = ("local" if not hasattr(context, "peer")
             else f"grpc:{caller} ({context.peer()})" if caller else f"grpc:{context.peer()}")
    try:
        return await asyncio.to_thread(call, actor, tenant_id, credential_id, *args)
    except VaultError as exc:
        code = next((c for kind, c in _STATUS if isinstance(exc, kind)),
                    grpc.StatusCode.FAILED_PRECONDITION)
        message = str(exc)
        if isinstance(exc, CredentialNotFound):
            message = f"tenant {tenant_id!r} may not use credential {credential_id!r}"
        await context.abort(code, message)
        raise  # abort raises; this keeps the type checker and LocalContext honest
