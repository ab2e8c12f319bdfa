"""Rotation steps, refusal of an early retire, and resuming an interrupted rotation."""

import pytest

from arbiter.vault.errors import RotationIncomplete, UnknownKeyVersion
from arbiter.vault.keybackend import VersionState
from arbiter.vault.rotation import Rotation
from arbiter.vault.signer import Signature, Signer
from arbiter.vault.vault import CredentialVault
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

from .conftest import HARDHAT_KEY, NOW_MS
from .payloads import order, order_request, payload

EOA = POLYMARKET_EOA


def sign(signer: Signer, tenant: str, credential: str) -> Signature:
    return signer.sign("gw", tenant, credential, *payload(
        order_request(tenant, credential, order(NOW_MS))))


@pytest.fixture
def filled(vault: CredentialVault) -> CredentialVault:
    for tenant in ("acme", "zeta"):
        for n in range(5):
            vault.put("ops", tenant, f"poly-{n}", EOA, HARDHAT_KEY.encode())
    return vault


async def test_explicit_steps_move_every_credential_and_destroy_the_old_key(
    filled: CredentialVault, signer: Signer
) -> None:
    before = filled._repo.get("acme", "poly-0")
    assert before is not None
    rotation = Rotation(filled, "ops", batch_size=3)

    new = rotation.add_version()
    assert filled.backend.status().state(new) is VersionState.PENDING
    assert await rotation.reseal() == 0, "nothing moves before activation"

    rotation.activate(new)
    assert sign(signer, "acme", "poly-0").key_version == 1
    assert await rotation.reseal() == 10
    assert filled.status().credentials_by_version == {2: 10}
    assert sign(signer, "acme", "poly-0").key_version == 2

    rotation.retire()
    assert rotation.remove_retired() == (1,)
    assert filled.backend.status().versions == (2,)
    # An old backup restored into the store can no longer be opened by anyone
    filled._repo.put(before.metadata, before.ciphertext)
    with pytest.raises(UnknownKeyVersion, match="key version 1 does not exist"):
        sign(signer, "acme", "poly-0")
    actions = [e.action for e in filled.audit("*")]
    assert actions == ["rotate:remove", "rotate:retire", "rotate:activate", "rotate:add-version"]


async def test_retire_is_refused_while_a_credential_is_under_the_old_key(
    filled: CredentialVault,
) -> None:
    rotation = Rotation(filled, "ops")
    rotation.activate(rotation.add_version())
    before = filled.backend.status()
    with pytest.raises(RotationIncomplete, match=r"other key versions \{1: 10\}"):
        rotation.retire()
    assert filled.backend.status() == before


async def test_interrupted_rotation_resumes_without_adding_a_version(
    filled: CredentialVault, signer: Signer
) -> None:
    rotation = Rotation(filled, "ops", batch_size=4)
    rotation.activate(rotation.add_version())
    assert filled.reseal_batch("ops", 4) == (4, 4)  # then the process "crashes"

    report = await Rotation(filled, "ops", batch_size=4).run()
    assert (report.to_version, report.resealed, report.removed_versions) == (2, 6, (1,))
    assert filled.backend.status().versions == (2,)
    assert sign(signer, "zeta", "poly-4").key_version == 2


async def test_pending_version_is_finished_by_run(filled: CredentialVault) -> None:
    Rotation(filled, "ops").add_version()
    report = await Rotation(filled, "ops").run()
    assert (report.from_version, report.to_version, report.resealed) == (1, 2, 10)
    report = await Rotation(filled, "ops").run()
    assert (report.from_version, report.to_version, report.removed_versions) == (2, 3, (2,))


def test_batch_size_must_be_positive(vault: CredentialVault) -> None:
    with pytest.raises(ValueError, match="batch_size must be at least 1, was 0"):
        Rotation(vault, "ops", batch_size=0)
