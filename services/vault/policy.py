"""Signing policies: what the vault checks before a key signs anything.

The vault never signs caller-supplied bytes. A `SignRequest` carries what is meant (an order,
an auth message, a request line); the credential's kind, declared by its venue plugin, names a
`SigningPolicy` per payload it accepts. The policy's `check` decodes the payload, refuses it
with the check that failed, or answers the exact bytes the key signs (it computes them itself)
plus what the audit records. A check is a pure function of (payload, the credential's public
side, the tenant's signing scope, now), so it is tested as a property, not by example.

The tenant's scope comes from its configuration (the instruments of its approved pairs, its
risk limits), handed to the vault by the composition root: the vault names no venue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.platform.config import VenueSettings
from arbiter.vault.errors import VaultError


@dataclass(frozen=True)
class CredentialPublic:
    """What a policy knows of the credential: whose it is and its public id (an EOA's
    address, an API key id); never key material."""

    tenant_id: str
    credential_id: str
    kind: str
    public_id: str


@dataclass(frozen=True)
class VenueScope:
    """One venue as a tenant trades it: the instruments of its approved pairs (token ids,
    tickers, market ids) and its venue section (a Polymarket funder, say)."""

    instruments: frozenset[str] = frozenset()
    settings: VenueSettings | None = None


@dataclass(frozen=True)
class TenantPolicy:
    """One tenant's signing limits: per venue the approved instruments, and per order the
    largest notional (micro-dollars) and size (micro-contracts)."""

    tenant_id: str
    max_order_notional_micros: int
    max_order_qty_micros: int
    venues: Mapping[str, VenueScope] = field(default_factory=dict)

    def venue(self, slug: str) -> VenueScope:
        """The tenant's scope on `slug`; a venue it does not trade approves nothing."""
        return self.venues.get(slug, VenueScope())


@dataclass(frozen=True)
class Approved:
    """A payload that passed every check: the bytes the key signs, and what it means."""

    message: bytes
    meaning: Mapping[str, str]


Check = Callable[[Any, CredentialPublic, TenantPolicy, int], Approved]
"""(payload, credential, tenant scope, now in Unix ms) -> approved bytes, or raises a
`SigningRefused` naming the failed check. The payload is the `SignRequest` oneof message the
policy is registered for (each policy takes its own message type, hence `Any`)."""
Describe = Callable[[Any], Mapping[str, str]]
"""What a payload claims to be, for the audit of a refusal too (no secret, never raises)."""
SignWith = Callable[[bytearray, bytes], bytes]
"""(opened material, the approved bytes) -> signature bytes."""


@dataclass(frozen=True)
class SigningPolicy:
    """How one kind of credential signs one kind of payload."""

    check: Check
    describe: Describe
    sign: SignWith


class SigningRefused(VaultError):
    """A payload the policy refuses; `check` names the rule, the message says why."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(f"refused by check {check!r}: {reason}")
        self.check = check


class MalformedPayload(SigningRefused, ValueError):
    """A payload that cannot be what it claims (a bad address, an unknown side): answered
    INVALID_ARGUMENT."""


class PolicyViolation(SigningRefused):
    """A well-formed payload the tenant may not have signed (a foreign maker, an unapproved
    token, over the cap, a stale timestamp): answered PERMISSION_DENIED."""


TenantPolicies = Callable[[str], TenantPolicy | None]
"""A tenant id -> its signing scope, or None when this vault was given none for it."""


def policies_of(*policies: TenantPolicy) -> TenantPolicies:
    """A fixed set of tenants' scopes, by tenant id."""
    by_tenant = {policy.tenant_id: policy for policy in policies}
    return by_tenant.get


NO_POLICIES = policies_of()
"""No tenant's scope: a vault built with it stores and describes credentials, signs nothing."""
