"""Credential store: onboarding checks, tenant scoping, audit; bad input changes nothing."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from arbiter.vault.errors import (
    CredentialNotFound,
    IdentifierPathCharacters,
    InvalidCredential,
    InvalidIdentifier,
    InvalidKeyLength,
    MalformedPem,
    PassphraseError,
    WrongKeyType,
)
from arbiter.vault.ids import validate_tenant_id
from arbiter.vault.local_keyring import LocalKeyring
from arbiter.vault.sqlite_repository import SqliteCredentialRepository
from arbiter.vault.vault import CredentialVault
from arbiter.venues.kalshi.credentials import KALSHI_RSA
from arbiter.venues.polymarket.credentials import POLYMARKET_API, POLYMARKET_EOA

from .conftest import API_SECRET, HARDHAT_ADDRESS, HARDHAT_KEY, api_creds_json, pem

EOA = POLYMARKET_EOA


@pytest.mark.parametrize("tenant", ["../etc", "a/b", "a\\b", "acme..x", "x\x00"])
def test_tenant_id_with_path_characters_has_its_own_error(tenant: str) -> None:
    with pytest.raises(IdentifierPathCharacters, match="tenant_id .* path characters"):
        validate_tenant_id(tenant)


@pytest.mark.parametrize("tenant", ["", "Acme", "-acme", "a" * 64, "acme_1", "acme 1"])
def test_tenant_id_outside_the_pattern_is_refused(tenant: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"\^\[a-z0-9\]"):
        validate_tenant_id(tenant)


@pytest.mark.parametrize("tenant", ["a", "acme-capital", "0" * 63])
def test_valid_tenant_ids(tenant: str) -> None:
    assert validate_tenant_id(tenant) == tenant


def test_put_stores_metadata_apart_and_ciphertext_without_the_secret(
    vault: CredentialVault,
) -> None:
    meta = vault.put("alice", "acme", "poly-main", EOA, HARDHAT_KEY.encode())
    assert (meta.public_id, meta.key_version, meta.revision) == (HARDHAT_ADDRESS, 1, 1)
    stored = vault._repo.get("acme", "poly-main")
    assert stored is not None and bytes.fromhex(HARDHAT_KEY[2:]) not in stored.ciphertext
    with vault.unsealed("alice", "test", "acme", "poly-main", EOA) as (_, material):
        assert material == bytes.fromhex(HARDHAT_KEY[2:])
        held = material
    assert held == bytearray(32), "plaintext buffer is wiped after the block"


def test_a_tenant_cannot_open_another_tenants_credential(vault: CredentialVault) -> None:
    vault.put("alice", "acme", "poly-main", EOA, HARDHAT_KEY.encode())
    with (pytest.raises(CredentialNotFound, match="tenant 'rival' has no credential 'poly-main'"),
          vault.unsealed("mallory", "sign", "rival", "poly-main", EOA)):
            pass
    assert [c.tenant_id for c in vault.list_credentials()] == ["acme"]
    assert vault.list_credentials("rival") == []


def test_replacing_a_credential_bumps_the_revision_and_keeps_created_at(
    vault: CredentialVault,
) -> None:
    first = vault.put("alice", "acme", "poly-main", EOA, HARDHAT_KEY.encode())
    second = vault.put("alice", "acme", "poly-main", EOA, ("0x" + "11" * 32).encode())
    assert second.revision == 2 and second.created_at == first.created_at
    assert second.public_id != first.public_id


def test_audit_records_who_what_outcome_and_never_the_secret(vault: CredentialVault) -> None:
    vault.put("alice", "acme", "poly-api", POLYMARKET_API, api_creds_json())
    with pytest.raises(MalformedPem):
        vault.put("bob", "acme", "kalshi", KALSHI_RSA, b"-----BEGIN junk", "kid")
    events = vault.audit("acme")
    assert [(e.actor, e.action, e.credential_id, e.outcome) for e in events] == [
        ("bob", "put", "kalshi", "error:MalformedPem"),
        ("alice", "put", "poly-api", "ok"),
    ]
    assert all(e.at for e in events)
    assert not any(API_SECRET in str(e) or "pass-1" in str(e) for e in events)


def _secp256r1_pem() -> bytes:
    return pem(ec.generate_private_key(ec.SECP256R1()))


@pytest.mark.parametrize(
    ("kind", "raw", "key_id", "error", "message"),
    [
        (EOA, b"0x" + b"ab" * 31, None, InvalidKeyLength, "must be 32 bytes, was 31"),
        (EOA, b"0x" + b"ab" * 33, None, InvalidKeyLength, "must be 32 bytes, was 33"),
        (EOA, b"0x" + b"00" * 32, None, InvalidKeyLength, "outside the secp256k1 range"),
        (EOA, b"zz" * 32, None, InvalidCredential, "64 hex digits"),
        (EOA, _secp256r1_pem(), None, WrongKeyType, "needs curve secp256k1, was secp256r1"),
        (EOA, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", None,
         MalformedPem, "not a valid PEM"),
        (KALSHI_RSA, b"-----BEGIN RSA PRIVATE KEY-----\nnope\n", "kid",
         MalformedPem, "not a valid PEM"),
        (KALSHI_RSA, _secp256r1_pem(), "kid", WrongKeyType, "needs an RSA key"),
        (POLYMARKET_API, b"[1]", None, InvalidCredential, "JSON object"),
        (POLYMARKET_API, b'{"apiKey": "k", "secret": "s"}', None,
         InvalidCredential, "'passphrase' is missing"),
        (POLYMARKET_API, api_creds_json("not base64!"), None, InvalidCredential,
         "not URL-safe base64"),
    ],
)
def test_bad_credential_input_gets_a_specific_error_and_changes_nothing(
    vault: CredentialVault, kind: str, raw: bytes, key_id: str | None,
    error: type[Exception], message: str,
) -> None:
    vault.put("alice", "acme", "existing", EOA, HARDHAT_KEY.encode())
    before = (vault.list_credentials(), vault._repo.get("acme", "existing"), vault.status())
    for credential_id in ("existing", "fresh"):
        with pytest.raises(error, match=message):
            vault.put("alice", "acme", credential_id, kind, raw, key_id)
    assert (vault.list_credentials(), vault._repo.get("acme", "existing"), vault.status()) == before


def test_kalshi_key_needs_a_key_id_and_2048_bits(vault: CredentialVault, rsa_pem: bytes) -> None:
    with pytest.raises(InvalidCredential, match="--key-id"):
        vault.put("alice", "acme", "kalshi", KALSHI_RSA, rsa_pem, None)
    small = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(InvalidKeyLength, match="1024 bits"):
        vault.put("alice", "acme", "kalshi", KALSHI_RSA, small, "kid")
    meta = vault.put("alice", "acme", "kalshi", KALSHI_RSA, rsa_pem, "kid-1")
    assert meta.public_id == "kid-1"


def test_eoa_accepts_a_secp256k1_pem(vault: CredentialVault) -> None:
    key = ec.derive_private_key(int(HARDHAT_KEY, 16), ec.SECP256K1())
    assert vault.put("alice", "acme", "poly", EOA, pem(key)).public_id == HARDHAT_ADDRESS


def test_store_survives_reopen(local_keyring: LocalKeyring, tmp_path: Path) -> None:
    path = tmp_path / "vault.db"
    first = CredentialVault(local_keyring, SqliteCredentialRepository(path))
    first.put("alice", "acme", "poly", EOA, HARDHAT_KEY.encode())
    first.close()
    again = CredentialVault(local_keyring, SqliteCredentialRepository(path))
    with again.unsealed("alice", "t", "acme", "poly", EOA) as (meta, material):
        assert meta.public_id == HARDHAT_ADDRESS and len(material) == 32
    again.close()


def _encrypted(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase))


def test_an_encrypted_pem_needs_its_passphrase_and_a_wrong_one_changes_nothing(
    vault: CredentialVault, rsa_key: rsa.RSAPrivateKey, rsa_pem: bytes,
) -> None:
    locked = _encrypted(rsa_key, b"correct horse")
    kalshi = KALSHI_RSA
    before = vault.list_credentials()
    for passphrase, message in [(None, "PEM is encrypted: give its passphrase"),
                                (b"wrong", "wrong passphrase for the encrypted kalshi-rsa PEM")]:
        with pytest.raises(PassphraseError, match=message):
            vault.put("alice", "acme", "kalshi", kalshi, locked, "kid-1", passphrase)
    with pytest.raises(PassphraseError, match="passphrase was given but the kalshi-rsa PEM is "
                                              "not encrypted"):
        vault.put("alice", "acme", "kalshi", kalshi, rsa_pem, "kid-1", b"correct horse")
    assert vault.list_credentials() == before

    vault.put("alice", "acme", "kalshi", kalshi, locked, "kid-1", b"correct horse")
    # stored re-sealed by the vault: the same key as the plain PEM gives
    vault.put("alice", "acme", "plain", kalshi, rsa_pem, "kid-1")
    with vault.unsealed("t", "test", "acme", "kalshi") as (_, a), \
            vault.unsealed("t", "test", "acme", "plain") as (_, b):
        assert bytes(a) == bytes(b)


def test_an_encrypted_secp256k1_pem_opens_with_its_passphrase(vault: CredentialVault) -> None:
    key = ec.derive_private_key(int(HARDHAT_KEY, 16), ec.SECP256K1())
    locked = _encrypted(key, b"pw")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        vault.put("alice", "acme", "poly", EOA, locked, None, b"nope")
    assert vault.put("alice", "acme", "poly", EOA, locked, None, b"pw").public_id == \
        HARDHAT_ADDRESS
    with pytest.raises(PassphraseError, match="hex, not an encrypted PEM"):
        vault.put("alice", "acme", "poly2", EOA, HARDHAT_KEY.encode(), None, b"pw")
