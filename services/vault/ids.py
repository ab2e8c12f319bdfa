"""Tenant and credential ids.

Ids end up in SQL rows, audit lines, envelope headers and, in a cluster, Vault policy paths, so
they are restricted to a DNS-label-like alphabet. Path characters get their own error: they are
the signature of a traversal attempt, not of a typo.
"""

import re

from arbiter.vault.errors import IdentifierPathCharacters, InvalidIdentifier

# Lower-case letter or digit first, then up to 62 letters, digits or hyphens (63 in all)
_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PATH_MARKERS = ("/", "\\", "..", "\x00")


def _validate(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{field} must be a string, was {type(value).__name__}")
    shown = value[:80]
    if any(marker in value for marker in _PATH_MARKERS):
        raise IdentifierPathCharacters(
            f"{field} {shown!r} contains path characters ('/', '\\', '..' or NUL)"
        )
    if _ID_PATTERN.fullmatch(value) is None:
        raise InvalidIdentifier(
            f"{field} {shown!r} must match ^[a-z0-9][a-z0-9-]{{0,62}}$ "
            "(lower-case letters, digits, hyphens; 1-63 characters)"
        )
    return value


def validate_tenant_id(value: object) -> str:
    """Return `value` if it is a valid tenant id, else raise."""
    return _validate("tenant_id", value)


def validate_credential_id(value: object) -> str:
    """Return `value` if it is a valid credential id, else raise."""
    return _validate("credential_id", value)
