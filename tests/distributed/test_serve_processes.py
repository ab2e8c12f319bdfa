"""The distributed topology for real: a tansu broker, `arbiter emulator`, and one
`arbiter serve SERVICE` process per service, talking Kafka and gRPC over mutual TLS with
the certificates `arbiter pki init` made (each process its own). Sagas must complete, as in
`arbiter run --bus kafka`, and every pod's health endpoint must answer.

The gateways run live (`venues.mode: live`): the tenant's keys are put into the vault with
`arbiter vault put` as an operator would, and only the vault process ever opens them; every
order and Kalshi request the gateways send is signed there over gRPC."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import aiohttp
import orjson
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.control.client import ControlClient, Endpoint
from arbiter.platform.auth import Role, mint_token
from arbiter.v1 import control_pb2
from arbiter.vault import build_vault_service
from arbiter.venues.kalshi.onboarding import public_pem

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

from .conftest import ARBITER, eventually, free_port, listening, spawn

SERVICES = ("vault", "risk", "gateway-polymarket", "gateway-kalshi", "orderbook", "detector",
            "saga", "control")
LIVE_EOA = "0x" + "6b" * 32

SECRET = "test-only-control-api-secret-0123456789abcdef"


async def test_services_as_processes_complete_sagas(
    tansu_bootstrap: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    pm_port, ks_port = free_port(), free_port()
    ports = {name: (free_port(), free_port()) for name in SERVICES}  # (grpc, health)
    config = {
        "bus": {"kind": "kafka", "kafka_bootstrap": tansu_bootstrap, "session_timeout_ms": 2000},
        "tenant": {"id": "acme", "tier": "standard"},
        "market": {"seed": 5, "step_ms": 50},
        "venues": {"mode": "live",
                   "polymarket": {"url": f"http://127.0.0.1:{pm_port}",
                                  "ws_url": f"ws://127.0.0.1:{pm_port}"},
                   "kalshi": {"url": f"http://127.0.0.1:{ks_port}",
                              "ws_url": f"ws://127.0.0.1:{ks_port}/trade-api/ws/v2"}},
        "vault": {"store_path": str(tmp_path / "vault.db"),
                  "master_secret_path": str(tmp_path / "master.key")},
        "grpc": {"vault_addr": f"127.0.0.1:{ports['vault'][0]}",
                 "risk_addr": f"127.0.0.1:{ports['risk'][0]}",
                 "gateway_addrs": {
                     "polymarket": f"127.0.0.1:{ports['gateway-polymarket'][0]}",
                     "kalshi": f"127.0.0.1:{ports['gateway-kalshi'][0]}"}},
        "saga": {"log_path": str(tmp_path / "saga.db")},
        "auth": {"hs256_secret": SECRET},
        # free-running markets over a test broker lose on stale quotes now and then;
        # this test is about the plumbing, not about HardStop (tests/risk covers that)
        "risk": {"max_consecutive_losses": 1000, "max_cumulative_loss_usd": "100000",
                 "max_daily_loss_usd": "100000", "max_slippage_streak": 1000,
                 "max_rejections_per_hour": 100000, "max_failed_unwinds": 1000},
    }
    config_path = tmp_path / "arbiter.yaml"
    config_path.write_text(yaml.safe_dump(config))
    base_env = {**os.environ, "ARBITER_CONFIG": str(config_path)}
    processes.append(spawn(["emulator", "--port", f"polymarket={pm_port}", "--port",
                             f"kalshi={ks_port}", "--open-registration", "--seed", "5"],
                            base_env, tmp_path / "emulator.log"))
    await eventually(lambda: listening(pm_port, ks_port), 30, "the emulators")
    await _onboard_live_keys(tmp_path, ks_port, base_env)
    pki = tmp_path / "pki"
    made = await asyncio.to_thread(
        subprocess.run, [*ARBITER, "pki", "init", str(pki), "--tenant", "acme"],
        capture_output=True, env=base_env, check=True)
    certificates = {c["service"]: c for c in orjson.loads(made.stdout)["certificates"]}
    for name in SERVICES:
        grpc_port, health_port = ports[name]
        env = {**base_env, "ARBITER__GRPC__PORT": str(grpc_port),
               "ARBITER__GRPC__HOST": "127.0.0.1",
               "ARBITER__HEALTH__PORT": str(health_port), "ARBITER__HEALTH__HOST": "127.0.0.1",
               "ARBITER__TLS__CA_PATH": str(pki / "ca.pem"),
               "ARBITER__TLS__CERT_PATH": certificates[name]["cert_path"],
               "ARBITER__TLS__KEY_PATH": certificates[name]["key_path"]}
        if name.startswith("gateway"):
            await eventually(lambda: listening(ports["vault"][0]), 30, "the vault")
        processes.append(spawn(["serve", name], env, tmp_path / f"{name}.log"))

    async def all_ready() -> bool:
        async with aiohttp.ClientSession() as http:
            for name in SERVICES:
                url = f"http://127.0.0.1:{ports[name][1]}/readyz"
                async with http.get(url) as reply:
                    if reply.status != 200:
                        return False
        return True

    try:
        await eventually(all_ready, 90, "every service's /readyz")
        # an operator as `arbiter ctl --ca` is: the plane's CA to trust the server, a JWT,
        # and no client certificate
        token = mint_token(SECRET, subject="ops@acme", tenant="acme", role=Role.VIEWER)
        control = ControlClient(Endpoint(f"127.0.0.1:{ports['control'][0]}", token, "acme",
                                         "standard", str(pki / "ca.pem")))

        async def completed() -> control_pb2.StatusReply | None:
            status = await control.status()
            return status if status.sagas_by_state.get("COMPLETED", 0) >= 2 else None

        status = await eventually(completed, 90, "completed sagas reported by control")
        shown = await asyncio.to_thread(CliRunner().invoke, app, [
            "ctl", "--address", f"127.0.0.1:{ports['control'][0]}", "--token", token,
            "--tenant", "acme", "--ca", str(pki / "ca.pem"), "status", "--json"])
        assert shown.exit_code == 0, shown.output
        assert orjson.loads(shown.output)["tenant_id"] == "acme"
        await control.close()
    except AssertionError:
        async with aiohttp.ClientSession() as http:
            for name in SERVICES:
                async with http.get(f"http://127.0.0.1:{ports[name][1]}/metrics") as reply:
                    text = await reply.text()
                print(f"=== {name} metrics")
                print("\n".join(line for line in text.splitlines()
                                if line.startswith("arbiter_") and not line.endswith(" 0.0")
                                and "_bucket" not in line)[:3000])
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")
        raise
    assert status.tenant_id == "acme"
    assert not status.hard_stop
    assert all(process.poll() is None for process in processes), "a service process died"
    vault = build_vault_service(tmp_path / "vault.db", tmp_path / "master.key")
    signed = {(e.credential_id, e.action.split(" ")[0], e.actor.split(" ")[0])
              for e in vault.vault.audit("acme", 10_000)
              if e.actor.startswith("grpc:") and e.outcome == "ok"}
    vault.close()
    assert {("polymarket", "sign:polymarket_order", "grpc:gateway-polymarket@acme"),
            ("production-kalshi", "sign:venue_request", "grpc:gateway-kalshi@acme")} <= signed


async def _onboard_live_keys(tmp_path: Path, kalshi_port: int, env: dict[str, str]) -> None:
    """What an operator does once: register the Kalshi public key with the venue, then put
    both private keys into the vault (from files, never from arguments)."""
    kalshi_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "kalshi.pem"
    pem.write_bytes(kalshi_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    eoa = tmp_path / "polymarket.key"
    eoa.write_text(LIVE_EOA)
    secret = tmp_path / "master.key"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{kalshi_port}/trade-api/v2/api_keys",
            data=orjson.dumps({"name": "live", "public_key": public_pem(kalshi_key)})) as reply:
        assert reply.status == 201, await reply.text()
        key_id = (await reply.json())["api_key_id"]
    vault = [*ARBITER, "vault", "--store", str(tmp_path / "vault.db"), "--master-secret",
             str(secret), "--actor", "ops@acme", "put", "acme"]
    for args in (["polymarket", "--kind", "polymarket-eoa", "--from", str(eoa)],
                 ["production-kalshi", "--kind", "kalshi-rsa", "--from", str(pem),
                  "--key-id", key_id]):
        done = await asyncio.to_thread(
            subprocess.run, [*vault, *args], env=env, capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()
