"""What signing meaning instead of bytes costs the vault (ADR 0012).

For a Polymarket order and a Kalshi request, times in one run:

* `bare_sign` — the cryptography alone on the already-decoded message (the baseline: what a
  vault that signed digests would spend);
* `policy_check` — decoding the structured payload and checking it against the tenant's scope;
* `vault_sign` — `Signer.sign` end to end: metadata read, check, unsealing the key (local
  keyring), signing and the audit row (SQLite in memory).

Prints one JSON object with the median and p99 microseconds of each.

    .venv/bin/python tools/bench_vault_sign.py --repeat 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from vault.payloads import order, order_request, payload, scope, venue_request  # the tests'

from arbiter.vault.credentials import credential_kind
from arbiter.vault.local_keyring import LocalKeyring
from arbiter.vault.policy import CredentialPublic
from arbiter.vault.signer import Signer
from arbiter.vault.sqlite_repository import SqliteCredentialRepository
from arbiter.vault.vault import CredentialVault
from arbiter.venues.kalshi.credentials import KALSHI_RSA
from arbiter.venues.polymarket.credentials import POLYMARKET_EOA

# Public Hardhat account #0 (the Polymarket SDK vectors' key); never a real wallet.
HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
NOW_MS = 1_765_000_000_000


def timed(repeat: int, call: Callable[[], object]) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {"p50_us": round(statistics.median(samples), 1),
            "p99_us": round(samples[int(len(samples) * 0.99) - 1], 1)}


def bench(signer: Signer, vault: CredentialVault, credential_id: str,
          request: Any, repeat: int) -> dict[str, Any]:
    name, message = payload(request)
    meta = vault.metadata("acme", credential_id)
    policy = credential_kind(meta.kind).signs[name]
    public = CredentialPublic("acme", credential_id, meta.kind, meta.public_id)
    approved = policy.check(message, public, scope("acme"), NOW_MS)
    with vault.unsealed("bench", "bench", "acme", credential_id) as (_, key):
        key_copy = bytearray(key)
    return {
        "bare_sign": timed(repeat, lambda: policy.sign(key_copy, approved.message)),
        "policy_check": timed(repeat, lambda: policy.check(message, public, scope("acme"),
                                                           NOW_MS)),
        "vault_sign": timed(repeat, lambda: signer.sign("bench", "acme", credential_id,
                                                        name, message)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        secret = Path(folder) / "master.key"
        secret.write_bytes(os.urandom(32))
        secret.chmod(0o600)
        vault = CredentialVault(LocalKeyring(secret), SqliteCredentialRepository(":memory:"))
        rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        vault.put("ops", "acme", "poly", POLYMARKET_EOA, HARDHAT_KEY.encode())
        vault.put("ops", "acme", "kalshi", KALSHI_RSA, rsa_pem, "kid-1")
        signer = Signer(vault, scope, now_ms=lambda: NOW_MS)
        result = {
            "repeat": args.repeat,
            "polymarket_order": bench(signer, vault, "poly", order_request(
                "acme", "poly", order(NOW_MS - 1_000)), args.repeat),
            "kalshi_request": bench(signer, vault, "kalshi", venue_request(
                "acme", "kalshi", NOW_MS), args.repeat),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
