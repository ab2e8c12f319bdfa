"""Arbiter credentials vault: sealed venue keys per tenant, signing as a service, key rotation.

See docs/vault.md. `build_vault_service` is the entry point for `arbiter serve vault`; the
`arbiter vault` commands live in `arbiter.vault.cli`.
"""

from arbiter.vault.bootstrap import VaultService, build_vault_service
from arbiter.vault.credentials import CredentialKind, CredentialKindSpec, credential_kinds
from arbiter.vault.policy import (
    SigningPolicy,
    SigningRefused,
    TenantPolicies,
    TenantPolicy,
    VenueScope,
    policies_of,
)
from arbiter.vault.rotation import Rotation, RotationReport
from arbiter.vault.signer import Signature, Signer
from arbiter.vault.transit import TransitSettings
from arbiter.vault.vault import CredentialVault

__all__ = [
    "CredentialKind",
    "CredentialKindSpec",
    "CredentialVault",
    "Rotation",
    "RotationReport",
    "Signature",
    "Signer",
    "SigningPolicy",
    "SigningRefused",
    "TenantPolicies",
    "TenantPolicy",
    "TransitSettings",
    "VaultService",
    "VenueScope",
    "build_vault_service",
    "credential_kinds",
    "policies_of",
]
