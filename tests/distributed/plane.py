"""One tenant's distributed plane for tests: `arbiter emulator` plus one `arbiter serve
SERVICE` process per service over a given Kafka broker, live (the keys in the vault, put
there with `arbiter vault put` as an operator would) and over mutual TLS with the
certificates `arbiter pki init` made, each process its own."""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import orjson
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.control.client import ControlClient, Endpoint
from arbiter.platform.auth import Role, mint_token
from arbiter.platform.tenancy import METADATA_TENANT, METADATA_TIER
from arbiter.v1 import common_pb2, execution_pb2, execution_pb2_grpc
from arbiter.venues.kalshi.onboarding import public_pem

from .conftest import ARBITER, eventually, free_ports, listening, spawn

SERVICES = ("vault", "risk", "gateway-polymarket", "gateway-kalshi", "orderbook", "detector",
            "saga", "control")
VENUES = ("polymarket", "kalshi")
LIVE_EOA = "0x" + "6b" * 32
SECRET = "test-only-control-api-secret-0123456789abcdef"
TENANT = common_pb2.TenantContext(tenant_id="acme", tier="standard")


@dataclass
class Plane:
    root: Path
    ports: dict[str, tuple[int, int]]  # service -> (grpc, health)
    certificates: dict[str, dict[str, str]]

    @property
    def ca(self) -> str:
        return str(self.root / "pki" / "ca.pem")

    def control(self, role: Role = Role.VIEWER) -> ControlClient:
        """The control API as `arbiter ctl --ca` reaches it: the plane's CA to trust the
        server, a JWT, and no client certificate."""
        token = mint_token(SECRET, subject="ops@acme", tenant="acme", role=role)
        return ControlClient(Endpoint(f"127.0.0.1:{self.ports['control'][0]}", token, "acme",
                                      "standard", self.ca))

    async def metrics(self, service: str) -> str:
        url = f"http://127.0.0.1:{self.ports[service][1]}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as reply:
            return await reply.text()

    async def all_ready(self) -> bool:
        async with aiohttp.ClientSession() as http:
            for name in SERVICES:
                url = f"http://127.0.0.1:{self.ports[name][1]}/readyz"
                async with http.get(url) as reply:
                    if reply.status != 200:
                        return False
        return True

    async def venue_positions(self, venue: str) -> common_pb2.PositionsSnapshot:
        """What the venue says the tenant holds, asked through its gateway as the saga asks
        (with the saga's certificate: the only caller allowed to)."""
        saga = self.certificates["saga"]
        credentials = grpc.ssl_channel_credentials(
            Path(self.ca).read_bytes(), Path(saga["key_path"]).read_bytes(),
            Path(saga["cert_path"]).read_bytes())
        address = f"127.0.0.1:{self.ports[f'gateway-{venue}'][0]}"
        async with grpc.aio.secure_channel(address, credentials) as channel:
            stub = execution_pb2_grpc.OrderEntryStub(channel)
            return await stub.FetchPositions(execution_pb2.PositionsRequest(tenant=TENANT),
                                             metadata=((METADATA_TENANT, TENANT.tenant_id),
                                                       (METADATA_TIER, TENANT.tier)),
                                             timeout=10)

    async def dump(self) -> None:
        """Each service's non-zero Arbiter metrics and the tail of every log, for a failure."""
        for name in SERVICES:
            try:
                text = await self.metrics(name)
            except aiohttp.ClientError as exc:
                text = f"(no metrics: {exc})"
            print(f"=== {name} metrics")
            print("\n".join(line for line in text.splitlines()
                            if line.startswith("arbiter_") and not line.endswith(" 0.0")
                            and "_bucket" not in line)[:3000])
        for log in sorted(self.root.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")


async def start_plane(bootstrap: str, processes: list[subprocess.Popen[bytes]], root: Path,
                      **overrides: Any) -> Plane:
    """Emulator, keys, certificates and every service process; returns once each serves
    its /readyz. `overrides` replace top-level config sections (`bus`, say)."""
    pm_port, ks_port, *service_ports = free_ports(2 + 2 * len(SERVICES))
    ports = {name: (service_ports[2 * i], service_ports[2 * i + 1])
             for i, name in enumerate(SERVICES)}
    config = {
        "bus": {"kind": "kafka", "kafka_bootstrap": bootstrap, "session_timeout_ms": 2000},
        "tenant": {"id": "acme", "tier": "standard"},
        # Markets that never resolve: the saga books a settlement up to 10 s after the venue
        # pays it out, so a test slowed past the first resolution (30 s at the default
        # lifetime) could compare risk's positions with the venues' in between.
        "market": {"seed": 5, "step_ms": 50, "lifetime_steps": 0},
        "venues": {"mode": "live",
                   "polymarket": {"url": f"http://127.0.0.1:{pm_port}",
                                  "ws_url": f"ws://127.0.0.1:{pm_port}"},
                   "kalshi": {"url": f"http://127.0.0.1:{ks_port}",
                              "ws_url": f"ws://127.0.0.1:{ks_port}/trade-api/ws/v2"}},
        "vault": {"store_path": str(root / "vault.db"),
                  "master_secret_path": str(root / "master.key")},
        "grpc": {"vault_addr": f"127.0.0.1:{ports['vault'][0]}",
                 "risk_addr": f"127.0.0.1:{ports['risk'][0]}",
                 "gateway_addrs": {
                     "polymarket": f"127.0.0.1:{ports['gateway-polymarket'][0]}",
                     "kalshi": f"127.0.0.1:{ports['gateway-kalshi'][0]}"}},
        "saga": {"log_path": str(root / "saga.db")},
        "auth": {"hs256_secret": SECRET},
        # free-running markets over a test broker lose on stale quotes now and then;
        # these tests are about the plumbing, not about HardStop (tests/risk covers that)
        "risk": {"max_consecutive_losses": 1000, "max_cumulative_loss_usd": "100000",
                 "max_daily_loss_usd": "100000", "max_slippage_streak": 1000,
                 "max_rejections_per_hour": 100000, "max_failed_unwinds": 1000},
    }
    for section, values in overrides.items():
        config[section] = {**config.get(section, {}), **values}
    config_path = root / "arbiter.yaml"
    config_path.write_text(yaml.safe_dump(config))
    base_env = {**os.environ, "ARBITER_CONFIG": str(config_path),
                "PYTHONUNBUFFERED": "1"}  # a failure's log tails are current
    processes.append(spawn(["emulator", "--port", f"polymarket={pm_port}", "--port",
                            f"kalshi={ks_port}", "--open-registration", "--seed", "5"],
                           base_env, root / "emulator.log"))
    await eventually(lambda: listening(pm_port, ks_port), 30, "the emulators")
    await _onboard_live_keys(root, ks_port, base_env)
    pki = root / "pki"
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
        processes.append(spawn(["serve", name], env, root / f"{name}.log"))
    plane = Plane(root, ports, certificates)
    try:
        await eventually(plane.all_ready, 90, "every service's /readyz")
    except AssertionError:
        await plane.dump()
        raise
    return plane


async def _onboard_live_keys(root: Path, kalshi_port: int, env: dict[str, str]) -> None:
    """What an operator does once: register the Kalshi public key with the venue, then put
    both private keys into the vault (from files, never from arguments)."""
    kalshi_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = root / "kalshi.pem"
    pem.write_bytes(kalshi_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    eoa = root / "polymarket.key"
    eoa.write_text(LIVE_EOA)
    secret = root / "master.key"
    secret.write_bytes(os.urandom(32))
    secret.chmod(0o600)
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{kalshi_port}/trade-api/v2/api_keys",
            data=orjson.dumps({"name": "live", "public_key": public_pem(kalshi_key)})) as reply:
        assert reply.status == 201, await reply.text()
        key_id = (await reply.json())["api_key_id"]
    vault = [*ARBITER, "vault", "--store", str(root / "vault.db"), "--master-secret",
             str(secret), "--actor", "ops@acme", "put", "acme"]
    for args in (["polymarket", "--kind", "polymarket-eoa", "--from", str(eoa)],
                 ["production-kalshi", "--kind", "kalshi-rsa", "--from", str(pem),
                  "--key-id", key_id]):
        done = await asyncio.to_thread(
            subprocess.run, [*vault, *args], env=env, capture_output=True, timeout=60,
            check=False)
        assert done.returncode == 0, done.stderr.decode()
