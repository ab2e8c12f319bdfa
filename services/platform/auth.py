"""Who may call the control API: JWT bearer tokens with tenant and role claims.

Operators (CLI, Telegram bot, dashboards) send `authorization: Bearer <jwt>`. A token names
its subject (`sub`), one tenant (`tenant`), one role (`role`: viewer < trader < admin) and an
expiry (`exp`); all four are required. Tokens are HS256 with a shared secret of at least 32
bytes or RS256 against a public key (the issuer keeps the private key), and only the
algorithms whose key is configured are accepted, so a token cannot pick its own verification.

`JwtServerInterceptor` authenticates every call to a protected service, refuses a token for
another tenant than the request names (a tenant's token never sees another tenant), checks the
method's minimum role, and exposes the caller as `current_principal()` for audit lines.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from arbiter.platform.tenancy import (
    METADATA_TENANT,
    InvalidTenant,
    guard,
    invocation_metadata,
    request_tenant,
    validate_tenant_id,
)

MIN_HS256_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
REQUIRED_CLAIMS = ("sub", "tenant", "role", "exp")


class Role(enum.IntEnum):
    """Ordered: each role may do everything the roles below it may."""

    VIEWER = 1
    TRADER = 2
    ADMIN = 3


# The minimum role per method. A method of a listed service that is missing here is refused,
# so a new RPC stays closed until someone decides who may call it.
CONTROL_METHOD_ROLES: Mapping[str, Role] = {
    "/arbiter.v1.Control/Status": Role.VIEWER,
    "/arbiter.v1.Control/Positions": Role.VIEWER,
    "/arbiter.v1.Control/Sagas": Role.VIEWER,
    "/arbiter.v1.Control/Saga": Role.VIEWER,
    "/arbiter.v1.Control/Audit": Role.VIEWER,
    "/arbiter.v1.Control/Events": Role.VIEWER,
    "/arbiter.v1.Control/SetPaused": Role.TRADER,
    "/arbiter.v1.Control/CancelAll": Role.TRADER,
    # Reading limits is open to viewers; changing them is checked in the servicer (admin).
    "/arbiter.v1.Control/Limits": Role.VIEWER,
    "/arbiter.v1.Control/KillSwitch": Role.ADMIN,
    "/arbiter.v1.Control/ResetHardStop": Role.ADMIN,
}
LIMIT_CHANGE_ROLE = Role.ADMIN


class AuthConfigError(ValueError):
    """The verification keys are unusable (too short, wrong type, malformed)."""


class Unauthenticated(Exception):
    """No usable token: missing, malformed, expired, bad signature, missing claim."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    tenant_id: str
    role: Role
    expires_at: int  # unix seconds


class TokenVerifier:
    """Verifies control-API tokens against the configured HS256 secret and/or RS256 key."""

    def __init__(
        self,
        hs256_secret: str | bytes | None = None,
        rs256_public_key_pem: str | bytes | None = None,
        leeway_seconds: int = 0,
    ) -> None:
        self._keys: dict[str, Any] = {}
        if hs256_secret:
            secret = hs256_secret.encode() if isinstance(hs256_secret, str) else hs256_secret
            if len(secret) < MIN_HS256_SECRET_BYTES:
                raise AuthConfigError(
                    f"HS256 secret is {len(secret)} bytes; at least {MIN_HS256_SECRET_BYTES} "
                    "are required (e.g. `head -c 48 /dev/urandom | base64`)")
            self._keys["HS256"] = secret
        if rs256_public_key_pem:
            self._keys["RS256"] = _rsa_public_key(rs256_public_key_pem)
        if not self._keys:
            raise AuthConfigError("no token verification key: set an HS256 secret or an RS256 "
                                  "public key")
        self._leeway = leeway_seconds

    def verify(self, token: str) -> Principal:
        """The principal a token proves, or `Unauthenticated` saying what is wrong with it."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"malformed token: {exc}") from None
        if not isinstance(algorithm, str):
            raise Unauthenticated("token header names no algorithm")
        key = self._keys.get(algorithm)
        if key is None:
            raise Unauthenticated(
                f"token algorithm {algorithm!r} is not accepted here (accepted: {sorted(self._keys)})")
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm], leeway=self._leeway,
                                options={"require": list(REQUIRED_CLAIMS)})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token has expired") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("token signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the required claim {exc.claim!r}") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        return _principal(claims)


def _principal(claims: Mapping[str, Any]) -> Principal:
    subject, tenant_id, role = claims["sub"], claims["tenant"], claims["role"]
    try:
        validate_tenant_id(tenant_id)
    except InvalidTenant as exc:
        raise Unauthenticated(f"token claim 'tenant': {exc}") from None
    names = [r.name.lower() for r in Role]
    if role not in names:
        raise Unauthenticated(f"token claim 'role' is {role!r}; expected one of {names}")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("token claim 'sub' must be a non-empty string")
    return Principal(subject, tenant_id, Role[role.upper()], int(claims["exp"]))


def _rsa_public_key(pem: str | bytes) -> RSAPublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = load_pem_public_key(data)
    except ValueError as exc:
        raise AuthConfigError(f"RS256 public key is not a valid PEM public key: {exc}") from None
    if not isinstance(key, RSAPublicKey):
        raise AuthConfigError(f"RS256 public key is {type(key).__name__}, not an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise AuthConfigError(f"RS256 public key has {key.key_size} bits; at least "
                              f"{MIN_RSA_BITS} are required")
    return key


def mint_token(
    key: str | bytes,
    *,
    subject: str,
    tenant: str,
    role: Role | str,
    ttl_seconds: int = 3600,
    algorithm: str = "HS256",
    now: int | None = None,
) -> str:
    """A signed control-API token (HS256 secret, or RS256 private key PEM)."""
    role_name = role.name.lower() if isinstance(role, Role) else role
    issued = int(time.time()) if now is None else now
    return jwt.encode({"sub": subject, "tenant": tenant, "role": role_name,
                       "iat": issued, "exp": issued + ttl_seconds}, key, algorithm=algorithm)


_principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "arbiter_principal", default=None)


def current_principal() -> Principal | None:
    """The authenticated caller of the running control call (None outside one)."""
    return _principal_var.get()


@contextlib.contextmanager
def _principal_scope(principal: Principal) -> Iterator[None]:
    token = _principal_var.set(principal)
    try:
        yield
    finally:
        _principal_var.reset(token)


def bearer_token(metadata: Mapping[str, str]) -> str:
    """The token of an `authorization: Bearer <jwt>` header; `Unauthenticated` if absent."""
    value = metadata.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("call carries no 'authorization: Bearer <token>' metadata")
    return token.strip()


class JwtServerInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates and authorizes every call to the services named in `method_roles`."""

    def __init__(self, verifier: TokenVerifier,
                 method_roles: Mapping[str, Role] = CONTROL_METHOD_ROLES) -> None:
        self._verifier = verifier
        self._roles = dict(method_roles)
        self._services = {method.rsplit("/", 1)[0] for method in method_roles}

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.rsplit("/", 1)[0] not in self._services:
            return handler
        metadata = invocation_metadata(handler_call_details)
        required = self._roles.get(method)

        async def check(request: Any, context: grpc.aio.ServicerContext) -> contextlib.AbstractContextManager[None]:
            try:
                principal = self._verifier.verify(bearer_token(metadata))
            except Unauthenticated as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{method}: {exc}")
            named = {request_tenant(request), metadata.get(METADATA_TENANT, "")} - {""}
            if not named:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"{method}: request names no tenant")
            if named != {principal.tenant_id}:
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method}: token of {principal.subject!r} is for tenant "
                    f"{principal.tenant_id!r}, not {', '.join(sorted(named))}")
            if required is None or principal.role < required:
                needed = required.name.lower() if required else "a role no one has"
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{method} needs {needed}; {principal.subject!r} is "
                    f"{principal.role.name.lower()}")
            return _principal_scope(principal)

        return guard(handler, check)
