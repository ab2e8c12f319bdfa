"""Zero-downtime KEK rotation as explicit, individually callable steps.

    add_version -> activate -> reseal (background, batch by batch) -> retire -> remove_retired

Signing never pauses: until `retire`, both the old and the new version decrypt, and a signer
that raced a re-seal re-reads the row (see `CredentialVault.unsealed`). Progress is the data
itself (which rows are under which version), so an interrupted rotation resumes by running
again: `run()` finishes a pending version or an unfinished re-seal before starting a new one.
"""

import asyncio
from dataclasses import dataclass

from arbiter.vault.vault import ANY, CredentialVault


@dataclass(frozen=True)
class RotationReport:
    from_version: int
    to_version: int
    resealed: int
    removed_versions: tuple[int, ...]


class Rotation:
    """Drive one rotation of the vault's key backend."""

    def __init__(self, vault: CredentialVault, actor: str, batch_size: int = 100) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, was {batch_size}")
        self._vault = vault
        self._backend = vault.backend
        self._actor = actor
        self._batch_size = batch_size

    def _audit(self, action: str, outcome: str) -> None:
        self._vault.audit_event(self._actor, action, ANY, ANY, outcome)

    def add_version(self) -> int:
        version = self._backend.add_version()
        self._audit("rotate:add-version", f"ok:v{version}")
        return version

    def activate(self, version: int) -> None:
        self._backend.activate(version)
        self._audit("rotate:activate", f"ok:v{version}")

    async def reseal(self) -> int:
        """Re-seal every credential under the active version, yielding between batches."""
        total = 0
        while True:
            examined, moved = await asyncio.to_thread(
                self._vault.reseal_batch, self._actor, self._batch_size
            )
            total += moved
            if examined == 0:
                return total
            await asyncio.sleep(0)

    def retire(self) -> None:
        """Stop decrypting with every version below the active one."""
        active = self._backend.status().active
        self._vault.require_all_at(active)
        self._backend.retire_below(active)
        self._audit("rotate:retire", f"ok:below-v{active}")

    def remove_retired(self) -> tuple[int, ...]:
        removed = self._backend.delete_retired()
        self._audit("rotate:remove", "ok:" + ",".join(f"v{v}" for v in removed))
        return removed

    async def run(self) -> RotationReport:
        """Run (or resume) a full rotation; blocking steps run in a worker thread."""
        status = await asyncio.to_thread(self._backend.status)
        pending = [v for v in status.versions if v > status.active]
        counts = (await asyncio.to_thread(self._vault.status)).credentials_by_version
        if pending:
            target = max(pending)
        elif any(v != status.active for v in counts):
            target = status.active
        else:
            target = await asyncio.to_thread(self.add_version)
        if target != status.active:
            await asyncio.to_thread(self.activate, target)
        resealed = await self.reseal()
        await asyncio.to_thread(self.retire)
        removed = await asyncio.to_thread(self.remove_retired)
        return RotationReport(status.active, target, resealed, removed)
