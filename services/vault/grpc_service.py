"""gRPC edge of the vault: `arbiter.v1.Signer` over the domain `Signer`.

Thin by design: check the tenant context, hand the payload (whichever `SignRequest.payload`
field is set) to the domain `Signer`, which checks it with the credential kind's policy, run
the (CPU-bound, blocking) signing in a worker thread so the event loop keeps serving, and map
domain errors to status codes: a malformed payload is INVALID_ARGUMENT, one the policy refuses
PERMISSION_DENIED, each naming the failed check. A credential that is unknown and one owned by
another tenant get the same PERMISSION_DENIED answer, so a tenant cannot probe another
tenant's credential ids.
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
from arbiter.vault.policy import MalformedPayload, PolicyViolation
from arbiter.vault.signer import Signer
from arbiter.vault.vault import CredentialVault

T = TypeVar("T")

_STATUS: tuple[tuple[type[VaultError], grpc.StatusCode], ...] = (
    (InvalidIdentifier, grpc.StatusCode.INVALID_ARGUMENT),
    (PayloadMismatch, grpc.StatusCode.INVALID_ARGUMENT),
    (MalformedPayload, grpc.StatusCode.INVALID_ARGUMENT),
    (PolicyViolation, grpc.StatusCode.PERMISSION_DENIED),
    (CredentialNotFound, grpc.StatusCode.PERMISSION_DENIED),
    (BackendUnavailable, grpc.StatusCode.UNAVAILABLE),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
)


PAYLOADS = tuple(field.name for field in
                 signing_pb2.SignRequest.DESCRIPTOR.oneofs_by_name["payload"].fields)
"""What a `SignRequest` may ask to sign; a credential kind's policies say which it signs."""


class SignerService(signing_pb2_grpc.SignerServicer):
    """Serve `Sign` and `GetCredentialInfo` for every tenant; no tenant context, no answer."""

    def __init__(self, signer: Signer, vault: CredentialVault) -> None:
        self._signer = signer
        self._vault = vault

    async def Sign(
        self, request: signing_pb2.SignRequest, context: grpc.aio.ServicerContext
    ) -> signing_pb2.SignResponse:
        await _require_tenant(request, "SignRequest", context)
        which = request.WhichOneof("payload")
        if which is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"payload is required: one of {', '.join(PAYLOADS)} (raw digests and message "
                "bytes are never signed)",
            )
        assert which is not None
        signature = await _call_vault(request, context, self._signer.sign, which,
                                      getattr(request, which))
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
