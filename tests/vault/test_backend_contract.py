"""One contract for every KeyBackend: the local keyring, and Transit on a live Vault API
(`VAULT_ADDR`, else an OpenBao dev server the tests start)."""

import os

import pytest

from arbiter.vault.envelope import wipe
from arbiter.vault.errors import (
    CiphertextTampered,
    KeyVersionStateError,
    RetiredKeyVersion,
    UnknownKeyVersion,
)
from arbiter.vault.keybackend import KeyBackend, VersionState

CONTEXT = b"tenant-a\x00cred"


def test_wrap_unwrap_round_trip_under_the_active_version(backend: KeyBackend) -> None:
    key = os.urandom(32)
    version, wrapped = backend.wrap(key, CONTEXT)
    assert version == backend.status().active == 1
    assert key not in wrapped
    unwrapped = backend.unwrap(version, wrapped, CONTEXT)
    assert isinstance(unwrapped, bytearray) and unwrapped == key
    wipe(unwrapped)
    assert unwrapped == bytearray(32)


def test_unwrap_with_another_context_is_tampering(backend: KeyBackend) -> None:
    version, wrapped = backend.wrap(os.urandom(32), CONTEXT)
    with pytest.raises(CiphertextTampered):
        backend.unwrap(version, wrapped, b"tenant-b\x00cred")


def test_new_version_is_pending_until_activated(backend: KeyBackend) -> None:
    new = backend.add_version()
    status = backend.status()
    assert new == 2 and status.versions == (1, 2)
    assert status.state(2) is VersionState.PENDING and status.active == 1
    assert backend.wrap(os.urandom(32), CONTEXT)[0] == 1
    backend.activate(2)
    assert backend.wrap(os.urandom(32), CONTEXT)[0] == 2


def test_full_life_cycle_old_version_decrypts_until_retired_then_is_gone(
    backend: KeyBackend,
) -> None:
    key = os.urandom(32)
    old_version, old_wrapped = backend.wrap(key, CONTEXT)
    backend.activate(backend.add_version())
    assert backend.status().state(1) is VersionState.DECRYPT_ONLY
    assert backend.unwrap(old_version, old_wrapped, CONTEXT) == key

    backend.retire_below(2)
    assert backend.status().state(1) is VersionState.RETIRED
    with pytest.raises(RetiredKeyVersion, match="key version 1 is retired"):
        backend.unwrap(old_version, old_wrapped, CONTEXT)

    assert backend.delete_retired() == (1,)
    assert backend.status().versions == (2,)
    with pytest.raises(UnknownKeyVersion, match="key version 1 does not exist"):
        backend.unwrap(old_version, old_wrapped, CONTEXT)
    assert backend.delete_retired() == ()


def test_refused_transitions_change_nothing(backend: KeyBackend) -> None:
    backend.add_version()
    before = backend.status()
    with pytest.raises(KeyVersionStateError, match="active version 1 would be retired"):
        backend.retire_below(2)
    with pytest.raises(UnknownKeyVersion):
        backend.activate(7)
    assert backend.status() == before
    backend.activate(2)
    backend.retire_below(2)
    with pytest.raises(KeyVersionStateError, match="retired and cannot be activated"):
        backend.activate(1)
    assert backend.status().active == 2


def test_unwrap_of_an_unknown_version_is_refused(backend: KeyBackend) -> None:
    _, wrapped = backend.wrap(os.urandom(32), CONTEXT)
    with pytest.raises((UnknownKeyVersion, CiphertextTampered)):
        backend.unwrap(9, wrapped, CONTEXT)
