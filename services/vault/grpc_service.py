"""gRPC edge of the vault: `arbiter.v1.Signer` over the domain `Signer`.

Thin by design: check the tenant context, translate the payload, run the (CPU-bound,
blocking) signing in a worker thread so the event loop keeps serving, and map domain errors to
status codes. A credential that is unknown and one owned by another tenant get the same
PERMISSION_DENIED answer, so a tenant cannot probe another tenant's credential ids.
"""

import asyncio

import grpc

from arbiter.v1 import signing_pb2, signing_pb2_grpc
from arbiter.vault.errors import (
    BackendUnavailable,
    CredentialNotFound,
    InvalidIdentifier,
    PayloadMismatch,
    VaultError,
)
from arbiter.vault.signer import Eip712Digest, HmacMessage, RsaPssMessage, SignPayload, Signer

_STATUS: tuple[tuple[type[VaultError], grpc.StatusCode], ...] = (
    (InvalidIdentifier, grpc.StatusCode.INVALID_ARGUMENT),
    (PayloadMismatch, grpc.StatusCode.INVALID_ARGUMENT),
    (CredentialNotFound, grpc.StatusCode.PERMISSION_DENIED),
    (BackendUnavailable, grpc.StatusCode.UNAVAILABLE),
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
    """Serve `Sign` for every tenant, refusing any request without a tenant context."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    async def Sign(  # noqa: N802 (gRPC method name)
        self, request: signing_pb2.SignRequest, context: grpc.aio.ServicerContext
    ) -> signing_pb2.SignResponse:
        if not request.HasField("tenant") or not request.tenant.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                "tenant context is required (SignRequest.tenant.tenant_id)")
        payload = _payload(request)
        if payload is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "payload is required: eip712_digest, rsa_pss_message or hmac_message",
            )
        assert payload is not None
        try:
            signature = await asyncio.to_thread(
                self._signer.sign, f"grpc:{context.peer()}", request.tenant.tenant_id,
                request.credential_id, payload,
            )
        except VaultError as exc:
            code = next((c for kind, c in _STATUS if isinstance(exc, kind)),
                        grpc.StatusCode.FAILED_PRECONDITION)
            message = str(exc)
            if isinstance(exc, CredentialNotFound):
                message = (f"tenant {request.tenant.tenant_id!r} may not use credential "
                           f"{request.credential_id!r}")
            await context.abort(code, message)
        return signing_pb2.SignResponse(signature=signature.signature,
                                        key_version=signature.key_version)
