"""Envelope encryption and its self-describing, versioned byte format.

One random 256-bit data key per sealed credential encrypts the secret with AES-256-GCM; the
backend wraps the data key under its active KEK version. Format 1, big-endian:

    offset  size  field
    0       4     magic b"ARBV"
    4       1     format version (1)
    5       4     KEK version (u32)
    9       1     tenant id length T, then T bytes (ASCII)
    .       1     credential id length C, then C bytes (ASCII)
    .       2     wrapped data key length W (u16), then W bytes (backend specific)
    .       12    AES-GCM nonce
    .       4     sealed length S (u32), then S bytes: ciphertext || 16-byte tag

Every byte before the sealed payload is the GCM associated data, so the tenant, the credential
and the key version are authenticated, and the ids are readable without any key, which lets
"this ciphertext belongs elsewhere" fail with its own error before any decryption. The
declared lengths make truncation detectable as such rather than as a bad tag.
"""

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from arbiter.vault.errors import (
    CiphertextBindingMismatch,
    CiphertextFormatError,
    CiphertextTampered,
    CiphertextTruncated,
)
from arbiter.vault.keybackend import KeyBackend

MAGIC = b"ARBV"
FORMAT_VERSION = 1
_PREFIX = struct.Struct(">4sBI")
_NONCE = 12
_TAG = 16


def wipe(buffer: bytearray) -> None:
    """Overwrite a mutable buffer with zeros, in place."""
    buffer[:] = bytes(len(buffer))


@dataclass(frozen=True)
class Binding:
    """Who a sealed secret belongs to; part of the associated data of both GCM layers."""

    tenant_id: str
    credential_id: str

    def wrap_context(self) -> bytes:
        return b"\x00".join((b"arbiter-vault/dek", self.tenant_id.encode(),
                             self.credential_id.encode()))


@dataclass(frozen=True)
class Envelope:
    key_version: int
    binding: Binding
    wrapped_key: bytes
    nonce: bytes
    sealed: bytes

    def header(self) -> bytes:
        tenant, cred = self.binding.tenant_id.encode(), self.binding.credential_id.encode()
        return b"".join((
            _PREFIX.pack(MAGIC, FORMAT_VERSION, self.key_version),
            bytes([len(tenant)]), tenant,
            bytes([len(cred)]), cred,
            struct.pack(">H", len(self.wrapped_key)), self.wrapped_key,
            self.nonce,
            struct.pack(">I", len(self.sealed)),
        ))

    def to_bytes(self) -> bytes:
        return self.header() + self.sealed


class _Reader:
    def __init__(self, blob: bytes) -> None:
        self._blob, self._pos = blob, 0

    def take(self, size: int, what: str) -> bytes:
        end = self._pos + size
        if end > len(self._blob):
            raise CiphertextTruncated(
                f"ciphertext is truncated: {what} needs {size} bytes at offset {self._pos}, "
                f"{len(self._blob) - self._pos} remain"
            )
        chunk, self._pos = self._blob[self._pos:end], end
        return chunk

    def rest(self) -> int:
        return len(self._blob) - self._pos


def parse(blob: bytes) -> Envelope:
    """Decode an envelope, checking structure only (no key is needed)."""
    reader = _Reader(bytes(blob))
    magic, fmt, key_version = _PREFIX.unpack(reader.take(_PREFIX.size, "header"))
    if magic != MAGIC:
        raise CiphertextFormatError("ciphertext does not start with the Arbiter envelope magic")
    if fmt != FORMAT_VERSION:
        raise CiphertextFormatError(f"ciphertext format version {fmt} is not supported (know 1)")
    try:
        tenant = reader.take(reader.take(1, "tenant length")[0], "tenant id").decode("ascii")
        cred = reader.take(reader.take(1, "credential length")[0], "credential id").decode("ascii")
    except UnicodeDecodeError:
        raise CiphertextTampered("ciphertext header holds a non-ASCII id") from None
    (wrapped_len,) = struct.unpack(">H", reader.take(2, "wrapped key length"))
    wrapped = reader.take(wrapped_len, "wrapped key")
    nonce = reader.take(_NONCE, "nonce")
    (sealed_len,) = struct.unpack(">I", reader.take(4, "sealed length"))
    if sealed_len < _TAG:
        raise CiphertextTampered(f"sealed length {sealed_len} is shorter than the GCM tag")
    sealed = reader.take(sealed_len, "sealed payload")
    if reader.rest():
        raise CiphertextTampered(f"ciphertext has {reader.rest()} unexpected trailing bytes")
    return Envelope(key_version, Binding(tenant, cred), wrapped, nonce, sealed)


def seal(backend: KeyBackend, binding: Binding, plaintext: bytes | bytearray) -> bytes:
    """Encrypt `plaintext` for `binding` under a fresh data key wrapped by the active KEK."""
    data_key = bytearray(os.urandom(32))
    try:
        version, wrapped = backend.wrap(data_key, binding.wrap_context())
        nonce = os.urandom(_NONCE)
        draft = Envelope(version, binding, wrapped, nonce, b"\x00" * (len(plaintext) + _TAG))
        sealed = AESGCM(data_key).encrypt(nonce, bytes(plaintext), draft.header())
    finally:
        wipe(data_key)
    return Envelope(version, binding, wrapped, nonce, sealed).to_bytes()


def open_sealed(backend: KeyBackend, binding: Binding, blob: bytes) -> bytearray:
    """Decrypt an envelope sealed for `binding`; the caller owns and must wipe the result."""
    envelope = parse(blob)
    if envelope.binding != binding:
        raise CiphertextBindingMismatch(
            f"ciphertext belongs to tenant {envelope.binding.tenant_id!r} credential "
            f"{envelope.binding.credential_id!r}, not tenant {binding.tenant_id!r} credential "
            f"{binding.credential_id!r}"
        )
    data_key = backend.unwrap(envelope.key_version, envelope.wrapped_key, binding.wrap_context())
    plaintext = bytearray(len(envelope.sealed) - _TAG)
    try:
        AESGCM(data_key).decrypt_into(envelope.nonce, envelope.sealed, envelope.header(), plaintext)
    except InvalidTag:
        raise CiphertextTampered(
            f"ciphertext of tenant {binding.tenant_id!r} credential {binding.credential_id!r} "
            "failed authentication (a byte was changed)"
        ) from None
    finally:
        wipe(data_key)
    return plaintext

