"""Vault error classes.

Each failure the issue names has its own class so callers (gRPC status mapping, the CLI, tests)
can tell them apart without parsing text. Messages name the field, the value when it is not
secret, and what to do; they never carry key material, plaintext or ciphertext bytes.
"""


class VaultError(Exception):
    """Base of every vault failure."""


class InvalidIdentifier(VaultError, ValueError):
    """A tenant or credential id does not match the allowed pattern."""


class IdentifierPathCharacters(InvalidIdentifier):
    """An id contains path characters (`/`, `\\`, `..`, NUL): refused before any lookup."""


class MasterSecretError(VaultError):
    """The master secret file is missing, too short, or readable by others."""


class WrongMasterSecret(VaultError):
    """The master secret does not derive the keys this keyring was created with."""


class KeyringStateError(VaultError):
    """The keyring state file is unreadable or inconsistent."""


class UnknownKeyVersion(VaultError):
    """A key version that the backend does not hold (never created, or deleted)."""


class RetiredKeyVersion(VaultError):
    """A key version below the backend's minimum decryption version."""


class KeyVersionStateError(VaultError):
    """A key-version transition that would break decryption (e.g. retiring the active one)."""


class BackendUnavailable(VaultError):
    """The key backend (HashiCorp Vault) could not be reached or refused the call."""


class StoreUnavailable(VaultError):
    """The credential store (PostgreSQL) could not be reached or dropped the connection;
    retrying later may succeed, unlike every other store error."""


class CiphertextError(VaultError):
    """A stored ciphertext cannot be opened."""


class CiphertextFormatError(CiphertextError):
    """Not an Arbiter envelope, or an envelope format this code does not know."""


class CiphertextTruncated(CiphertextError):
    """The envelope is shorter than its own header says."""


class CiphertextTampered(CiphertextError):
    """Authentication failed: a byte of the envelope or of the wrapped key was changed."""


class CiphertextBindingMismatch(CiphertextError):
    """The envelope belongs to another tenant or credential than the one asked for."""


class InvalidCredential(VaultError, ValueError):
    """Secret material that cannot be a credential of the declared kind."""


class MalformedPem(InvalidCredential):
    """Text that is not a loadable PEM private key."""


class PassphraseError(InvalidCredential):
    """An encrypted PEM without its passphrase, a wrong passphrase, or a passphrase for a
    PEM that is not encrypted."""


class WrongKeyType(InvalidCredential):
    """A valid key of the wrong algorithm or curve (e.g. P-256 given as a Polymarket key)."""


class InvalidKeyLength(InvalidCredential):
    """A raw private key of the wrong size or outside the curve order."""


class CredentialNotFound(VaultError):
    """The tenant holds no credential with this id (also the answer for another tenant's id)."""


class PayloadMismatch(VaultError, ValueError):
    """A signing payload that does not fit the credential (wrong kind, wrong digest size)."""


class RotationIncomplete(VaultError):
    """A rotation step that must wait until every credential is under the active key."""
