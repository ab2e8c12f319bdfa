"""Envelope format: round trip, and every kind of damage fails with its own error."""

import pytest

from arbiter.vault.envelope import Binding, open_sealed, parse, seal
from arbiter.vault.errors import (
    CiphertextBindingMismatch,
    CiphertextError,
    CiphertextFormatError,
    CiphertextTampered,
    CiphertextTruncated,
    UnknownKeyVersion,
)
from arbiter.vault.local_keyring import LocalKeyring

SECRET = b"the-secret-material-0123456789"
BINDING = Binding("tenant-a", "poly-main")


@pytest.fixture
def blob(local_keyring: LocalKeyring) -> bytes:
    return seal(local_keyring, BINDING, SECRET)


def test_round_trip_and_header_describes_itself(local_keyring: LocalKeyring, blob: bytes) -> None:
    envelope = parse(blob)
    assert blob[:5] == b"ARBV\x01"
    assert (envelope.key_version, envelope.binding) == (1, BINDING)
    assert SECRET not in blob
    assert open_sealed(local_keyring, BINDING, blob) == SECRET


def test_each_seal_uses_a_fresh_data_key_and_nonce(local_keyring: LocalKeyring) -> None:
    one, two = seal(local_keyring, BINDING, SECRET), seal(local_keyring, BINDING, SECRET)
    assert parse(one).wrapped_key != parse(two).wrapped_key
    assert parse(one).sealed != parse(two).sealed


def test_flipping_any_single_byte_fails_with_a_specific_error(
    local_keyring: LocalKeyring, blob: bytes
) -> None:
    seen: set[type] = set()
    for index in range(len(blob)):
        damaged = bytearray(blob)
        damaged[index] ^= 0x01
        with pytest.raises((CiphertextError, UnknownKeyVersion)) as caught:
            open_sealed(local_keyring, BINDING, bytes(damaged))
        seen.add(caught.type)
    # Magic/format bytes, the key version, the ids and the lengths each hit their own check
    assert {CiphertextFormatError, UnknownKeyVersion, CiphertextBindingMismatch,
            CiphertextTruncated, CiphertextTampered} <= seen


def test_every_truncation_is_reported_as_truncated(
    local_keyring: LocalKeyring, blob: bytes
) -> None:
    for length in range(5, len(blob)):
        with pytest.raises(CiphertextTruncated, match="truncated"):
            open_sealed(local_keyring, BINDING, blob[:length])


def test_appended_bytes_are_tampering(local_keyring: LocalKeyring, blob: bytes) -> None:
    with pytest.raises(CiphertextTampered, match="trailing"):
        open_sealed(local_keyring, BINDING, blob + b"\x00")


@pytest.mark.parametrize("other", [Binding("tenant-b", "poly-main"), Binding("tenant-a", "other")])
def test_ciphertext_moved_to_another_tenant_or_credential_is_refused(
    local_keyring: LocalKeyring, blob: bytes, other: Binding
) -> None:
    with pytest.raises(CiphertextBindingMismatch, match="belongs to tenant 'tenant-a'"):
        open_sealed(local_keyring, other, blob)


def test_rewriting_the_header_ids_to_match_still_fails_authentication(
    local_keyring: LocalKeyring, blob: bytes
) -> None:
    # Same-length id swap: the header parses and matches the caller, but the AAD does not
    forged = blob.replace(b"tenant-a", b"tenant-b", 1)
    with pytest.raises(CiphertextTampered):
        open_sealed(local_keyring, Binding("tenant-b", "poly-main"), forged)


def test_not_an_envelope(local_keyring: LocalKeyring) -> None:
    with pytest.raises(CiphertextFormatError, match="magic"):
        open_sealed(local_keyring, BINDING, b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(CiphertextTruncated):
        open_sealed(local_keyring, BINDING, b"AR")
