"""The `CredentialRepository` contract, once per store (SQLite and PostgreSQL)."""

import pytest

from arbiter.vault.credentials import credential_kinds
from arbiter.vault.repository import AuditEvent, CredentialMetadata, CredentialRepository
from arbiter.vault.vault import ANY
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

T1, T2, T3 = ("2025-01-02T03:04:05.678+00:00", "2025-01-02T03:04:06.000+00:00",
              "2025-01-02T03:04:07.123456+00:00")


def meta(tenant: str, cred: str, version: int = 1, at: str = T1,
         public_id: str = "pub") -> CredentialMetadata:
    return CredentialMetadata(tenant, cred, POLYMARKET_EOA, public_id, version, 0,
                              at, at)


def test_put_numbers_revisions_and_keeps_the_creation_time(
    repository: CredentialRepository,
) -> None:
    # Act
    first = repository.put(meta("acme", "poly"), b"sealed-1")
    second = repository.put(meta("acme", "poly", 2, T2, "pub-2"), b"sealed-2")
    # Assert
    assert (first.revision, first.created_at, first.rotated_at) == (1, T1, T1)
    assert (second.revision, second.created_at, second.rotated_at) == (2, T1, T2)
    stored = repository.get("acme", "poly")
    assert stored is not None
    assert (stored.metadata, stored.ciphertext) == (second, b"sealed-2")
    assert repository.get("rival", "poly") is None


def test_replace_ciphertext_is_a_compare_and_swap_on_the_revision(
    repository: CredentialRepository,
) -> None:
    # Prepare
    put = repository.put(meta("acme", "poly"), b"old")
    repository.put(meta("rival", "poly"), b"rivals")
    # Act / Assert: a stale revision, or another tenant's row, changes nothing
    assert not repository.replace_ciphertext("acme", "poly", put.revision + 1, 2, b"new", T3)
    assert not repository.replace_ciphertext("zeta", "poly", put.revision, 2, b"new", T3)
    unchanged = repository.get("acme", "poly")
    assert unchanged is not None and (unchanged.metadata, unchanged.ciphertext) == (put, b"old")
    assert repository.replace_ciphertext("acme", "poly", put.revision, 2, b"new", T3)
    moved = repository.get("acme", "poly")
    assert moved is not None and moved.ciphertext == b"new"
    assert (moved.metadata.revision, moved.metadata.key_version, moved.metadata.rotated_at,
            moved.metadata.created_at) == (2, 2, T3, T1)
    # the same revision cannot win twice
    assert not repository.replace_ciphertext("acme", "poly", put.revision, 3, b"newer", T3)
    rival = repository.get("rival", "poly")
    assert rival is not None and rival.ciphertext == b"rivals"


def test_listing_and_version_counts_span_tenants_in_order(
    repository: CredentialRepository,
) -> None:
    for tenant, cred, version in (("zeta", "b", 1), ("acme", "b", 2), ("acme", "a", 1),
                                  ("zeta", "a", 1)):
        repository.put(meta(tenant, cred, version), f"{tenant}/{cred}".encode())
    assert [(m.tenant_id, m.credential_id) for m in repository.list_metadata()] == [
        ("acme", "a"), ("acme", "b"), ("zeta", "a"), ("zeta", "b")]
    assert [m.credential_id for m in repository.list_metadata("zeta")] == ["a", "b"]
    assert repository.list_metadata("nobody") == []
    assert repository.count_by_version() == {1: 3, 2: 1}
    stale = repository.not_at_version(2, limit=2)
    assert [(s.metadata.tenant_id, s.metadata.credential_id, s.ciphertext) for s in stale] == [
        ("acme", "a", b"acme/a"), ("zeta", "a", b"zeta/a")]
    assert len(repository.not_at_version(2, limit=100)) == 3


def test_audit_is_newest_first_per_tenant_with_platform_events_apart(
    repository: CredentialRepository,
) -> None:
    # Prepare: two events may share a timestamp; insertion order still decides
    events = [AuditEvent(T1, "alice", "put", "acme", "poly", "ok"),
              AuditEvent(T1, "ops", "rotate:add-version", ANY, ANY, "ok:v2"),
              AuditEvent(T1, "gw", "sign", "zeta", "kalshi", "error:CredentialNotFound"),
              AuditEvent(T2, "gw", "sign", "acme", "poly", "ok")]
    for event in events:
        repository.append_audit(event)
    # Act / Assert
    assert repository.audit() == events[::-1]
    assert repository.audit(limit=2) == events[:1:-1]
    assert repository.audit("acme") == [events[3], events[0]]
    assert repository.audit(ANY) == [events[1]]
    assert repository.audit("nobody") == []


@pytest.mark.parametrize("kind", sorted(credential_kinds()))
def test_every_kind_round_trips(repository: CredentialRepository, kind: str) -> None:
    stored = repository.put(CredentialMetadata("acme", "c", kind, "pub", 1, 0, T1, T1), b"x")
    assert repository.list_metadata("acme") == [stored]
