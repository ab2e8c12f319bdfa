"""Signing on behalf of gateways: meaning in, a signature out, the key opened only for the call.

A request names what it wants signed (a `SignRequest` payload: an order, an auth message, a
request line), never bytes. The credential's kind, declared by its venue plugin, holds a
`SigningPolicy` per payload it signs; the policy checks the payload against the credential and
the tenant's signing scope (see `arbiter.vault.policy`) and computes the bytes to sign itself.
Only an approved payload opens the key. Every signature and every refusal is audited with the
caller and what the payload meant.

About wiping: the vault decrypts into a `bytearray` and zeroes it when the call ends, which
shortens how long the key sits in memory we control. CPython limits what that buys:
the signing libraries take immutable `bytes`, so each call makes a short-lived copy that is
freed but not zeroed (eth-keys also keeps the scalar as a Python int; OpenSSL clears its own RSA
key on free), the allocator may leave old copies in freed pages, and nothing stops a swap-out or
a core dump. Real protection is process isolation: keys never leave the vault process.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.protobuf.message import Message

from arbiter.vault.credentials import credential_kind
from arbiter.vault.errors import PayloadMismatch, VaultError
from arbiter.vault.ids import validate_credential_id, validate_tenant_id
from arbiter.vault.policy import (
    CredentialPublic,
    PolicyViolation,
    SigningPolicy,
    SigningRefused,
    TenantPolicies,
)
from arbiter.vault.vault import CredentialVault


@dataclass(frozen=True)
class Signature:
    signature: bytes
    key_version: int


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def audit_action(payload: str, meaning: Mapping[str, str]) -> str:
    """`sign:<payload> key=value ...`: the audit's action names what was (to be) signed."""
    return " ".join([f"sign:{payload}", *(f"{k}={v}" for k, v in meaning.items())])


def _outcome(exc: VaultError) -> str:
    return f"refused:{exc.check}" if isinstance(exc, SigningRefused) else \
        f"error:{type(exc).__name__}"


class Signer:
    """Sign checked payloads with tenant credentials held by a `CredentialVault`; `policies`
    gives each tenant's signing scope, `now_ms` the clock timestamps are judged by."""

    def __init__(self, vault: CredentialVault, policies: TenantPolicies,
                 now_ms: Callable[[], int] = wall_ms) -> None:
        self._vault = vault
        self._policies = policies
        self._now_ms = now_ms

    def sign(self, actor: str, tenant_id: str, credential_id: str, payload_name: str,
             payload: Message) -> Signature:
        """Sign `payload` (the `SignRequest` oneof field `payload_name`) if its policy
        approves; `SigningRefused` names the failed check, and nothing is opened."""
        tenant_id = validate_tenant_id(tenant_id)
        credential_id = validate_credential_id(credential_id)
        action = audit_action(payload_name, {})
        try:
            meta = self._vault.metadata(tenant_id, credential_id)
            policy = self._policy(meta.kind, credential_id, payload_name)
            action = audit_action(payload_name, policy.describe(payload))
            scope = self._policies(tenant_id)
            if scope is None:
                raise PolicyViolation("tenant-policy", "this vault holds no signing policy for "
                                      f"tenant {tenant_id!r}")
            approved = policy.check(payload, CredentialPublic(
                tenant_id, credential_id, meta.kind, meta.public_id), scope, self._now_ms())
        except VaultError as exc:
            self._vault.audit_event(actor, action, tenant_id, credential_id, _outcome(exc))
            raise
        action = audit_action(payload_name, approved.meaning)
        with self._vault.unsealed(actor, action, tenant_id, credential_id,
                                  meta.kind) as (opened, key):
            if opened.public_id != meta.public_id:  # replaced between the check and now
                raise PayloadMismatch(f"credential {credential_id!r} changed while signing; "
                                      "ask again")
            return Signature(policy.sign(key, approved.message), opened.key_version)

    @staticmethod
    def _policy(kind: str, credential_id: str, payload_name: str) -> SigningPolicy:
        signs = credential_kind(kind).signs
        policy = signs.get(payload_name)
        if policy is None:
            raise PayloadMismatch(
                f"credential {credential_id!r} is a {kind} key, which signs "
                f"{', '.join(sorted(signs)) or 'nothing'}, not {payload_name}")
        return policy
