"""Credential kinds, declared by the venue plugins, and the validation of their material.

The vault names no venue: each venue plugin declares its kinds (`VenuePlugin.credential_kinds`,
a `CredentialKindSpec` each: the kind's name, how its onboarding input is checked and
normalised, its public side, and the signing policy of each payload it signs), and the vault and
`arbiter vault put --kind` find them in the venue registry. Material is normalised before it
is sealed (a Polymarket key becomes its 32 raw bytes, a Kalshi key PKCS#8 DER), so signing
never re-parses user input. Every check happens before anything is stored: bad input
changes nothing. Error messages describe the input's shape, never its content.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from arbiter.platform.venues import VENUES
from arbiter.vault.errors import InvalidCredential, MalformedPem, PassphraseError
from arbiter.vault.policy import SigningPolicy

CredentialKind = str
"""A credential kind's name (`polymarket-eoa`, `kalshi-rsa`, ...), as stored with it."""


@dataclass(frozen=True)
class ParsedCredential:
    """Normalised secret material plus its public identifier (address, API key, key id)."""

    material: bytearray
    public_id: str


Parse = Callable[[bytes, str | None, bytes | None], ParsedCredential]
"""(raw input, key id, passphrase of an encrypted PEM) -> normalised material; raises a
`VaultError` naming what is wrong."""
PublicInfo = Callable[[bytearray, str], dict[str, str]]
"""(opened material, public id) -> what a gateway may know (never a secret)."""


@dataclass(frozen=True)
class CredentialKindSpec:
    """One kind of credential a venue needs: `signs` maps each `SignRequest` payload it
    signs (`polymarket_order`, `venue_request`, ...) to the policy that checks and signs it;
    a kind that signs nothing is only stored."""

    name: CredentialKind
    parse: Parse
    public_info: PublicInfo
    public_fields: tuple[str, ...]
    """The keys `public_info` always answers (a gateway's signer checks them at start)."""
    signs: Mapping[str, SigningPolicy]


class UnknownCredentialKind(InvalidCredential):
    """A kind no registered venue declares; the message lists the declared ones."""


def credential_kinds() -> dict[CredentialKind, CredentialKindSpec]:
    """Every kind the registered venue plugins declare, by name."""
    kinds: dict[CredentialKind, CredentialKindSpec] = {}
    for plugin in VENUES:
        for spec in getattr(plugin, "credential_kinds", ()):
            if kinds.setdefault(spec.name, spec) is not spec:
                raise RuntimeError(f"credential kind {spec.name!r} is declared twice "
                                   f"(again by venue {plugin.slug!r})")
    return kinds


def credential_kind(name: str) -> CredentialKindSpec:
    """The declared kind called `name`; `UnknownCredentialKind` lists the known ones."""
    kinds = credential_kinds()
    try:
        return kinds[name]
    except KeyError:
        raise UnknownCredentialKind(f"unknown credential kind {name!r}; the registered venues "
                                    f"declare: {', '.join(sorted(kinds)) or 'none'}") from None


def parse_credential(
    kind: CredentialKind, raw: bytes, key_id: str | None = None,
    passphrase: bytes | None = None,
) -> ParsedCredential:
    """Validate and normalise onboarding input for `kind`; `passphrase` opens an encrypted
    PEM (the key is stored re-sealed by the vault, never with its passphrase)."""
    return credential_kind(kind).parse(raw, key_id, passphrase)


def public_info(kind: CredentialKind, material: bytearray, public_id: str) -> dict[str, str]:
    """The public side of a credential, for the gateway that signs through the vault.

    Derived from the opened material each time rather than stored, so credentials sealed
    before this existed answer too."""
    return credential_kind(kind).public_info(material, public_id)


def load_pem(raw: bytes, kind: CredentialKind, passphrase: bytes | None) -> object:
    """A PEM private key (PKCS#1, SEC1 or PKCS#8), opened with `passphrase` if encrypted;
    the errors say whether the passphrase or the PEM is wrong, for a kind's `parse`."""
    encrypted = b"ENCRYPTED" in raw.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in raw
    if encrypted and passphrase is None:
        raise PassphraseError(f"{kind} PEM is encrypted: give its passphrase "
                              "(--passphrase-from FILE)")
    try:
        return serialization.load_pem_private_key(raw, password=passphrase)
    except TypeError:  # a passphrase for a plain key, or none for an encrypted one
        if passphrase is not None:
            raise PassphraseError(f"a passphrase was given but the {kind} PEM is not "
                                  "encrypted") from None
        raise PassphraseError(f"{kind} PEM is encrypted: give its passphrase "
                              "(--passphrase-from FILE)") from None
    except (ValueError, UnsupportedAlgorithm):
        if encrypted:
            raise PassphraseError(f"wrong passphrase for the encrypted {kind} PEM") from None
        raise MalformedPem(
            f"{kind} input is not a valid PEM private key (PKCS#1, SEC1 or PKCS#8)"
        ) from None
