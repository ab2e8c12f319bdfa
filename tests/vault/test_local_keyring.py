"""Local keyring: master secret checks, persistence, and sharing with another process."""

import json
import os
import stat
from pathlib import Path

import pytest

from arbiter.vault.errors import KeyringStateError, MasterSecretError, WrongMasterSecret
from arbiter.vault.local_keyring import LocalKeyring

from .conftest import write_secret


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_master_secret_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_secret(tmp_path / "master.key", os.urandom(32), mode)
    with pytest.raises(MasterSecretError, match=f"has mode {mode:04o}.*chmod 600"):
        LocalKeyring(path)
    assert not (tmp_path / "master.key.keyring.json").exists()


def test_short_master_secret_is_refused(tmp_path: Path) -> None:
    path = write_secret(tmp_path / "master.key", os.urandom(31))
    with pytest.raises(MasterSecretError, match="holds 31 bytes; at least 32"):
        LocalKeyring(path)


def test_missing_master_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MasterSecretError, match="does not exist"):
        LocalKeyring(tmp_path / "nope.key")


def test_wrong_master_secret_fails_at_open_and_leaves_the_keyring_alone(
    master_secret: Path, tmp_path: Path
) -> None:
    LocalKeyring(master_secret)
    state_file = Path(f"{master_secret}.keyring.json")
    before = state_file.read_bytes()
    impostor = write_secret(tmp_path / "other.key", os.urandom(32))
    with pytest.raises(WrongMasterSecret, match="key check of version 1 failed"):
        LocalKeyring(impostor, state_file)
    assert state_file.read_bytes() == before


def test_state_file_is_private_and_holds_no_key_material(master_secret: Path) -> None:
    keyring = LocalKeyring(master_secret)
    keyring.add_version()
    state_file = Path(f"{master_secret}.keyring.json")
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    state = json.loads(state_file.read_text())
    assert sorted(state["versions"]) == ["1", "2"]
    assert master_secret.read_bytes().hex() not in state_file.read_text()
    assert not list(master_secret.parent.glob("*.tmp"))


def test_reopened_keyring_unwraps_what_it_wrapped(master_secret: Path) -> None:
    version, wrapped = LocalKeyring(master_secret).wrap(b"k" * 32, b"ctx")
    assert LocalKeyring(master_secret).unwrap(version, wrapped, b"ctx") == b"k" * 32


def test_a_rotation_by_another_process_is_seen_without_restart(master_secret: Path) -> None:
    server, cli = LocalKeyring(master_secret), LocalKeyring(master_secret)
    cli.activate(cli.add_version())
    version, wrapped = cli.wrap(b"k" * 32, b"ctx")
    assert version == 2
    assert server.status().active == 2
    assert server.unwrap(version, wrapped, b"ctx") == b"k" * 32


def test_corrupt_state_file_is_a_clear_error(master_secret: Path) -> None:
    LocalKeyring(master_secret)
    Path(f"{master_secret}.keyring.json").write_text("{not json")
    with pytest.raises(KeyringStateError, match="unreadable"):
        LocalKeyring(master_secret)
