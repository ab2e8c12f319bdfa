"""The distributed topology for real: a tansu broker, `arbiter emulator`, and one
`arbiter serve SERVICE` process per service, talking Kafka and gRPC. Sagas must complete,
as in `arbiter run --bus kafka`, and every pod's health endpoint must answer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import aiohttp
import pytest
import yaml

from arbiter.platform.auth import Role, mint_token
from arbiter.platform.rpc import insecure_channel
from arbiter.v1 import common_pb2, control_pb2, control_pb2_grpc

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

SERVICES = ("risk", "gateway-polymarket", "gateway-kalshi", "orderbook", "detector", "saga",
            "control")
from .conftest import eventually, free_port, listening, spawn

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
        "venues": {"polymarket_url": f"http://127.0.0.1:{pm_port}",
                   "polymarket_ws_url": f"ws://127.0.0.1:{pm_port}",
                   "kalshi_url": f"http://127.0.0.1:{ks_port}",
                   "kalshi_ws_url": f"ws://127.0.0.1:{ks_port}/trade-api/ws/v2"},
        "grpc": {"risk_addr": f"127.0.0.1:{ports['risk'][0]}",
                 "gateway_polymarket_addr": f"127.0.0.1:{ports['gateway-polymarket'][0]}",
                 "gateway_kalshi_addr": f"127.0.0.1:{ports['gateway-kalshi'][0]}"},
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
    processes.append(spawn(["emulator", "--polymarket-port", str(pm_port), "--kalshi-port",
                             str(ks_port), "--open-registration", "--seed", "5"],
                            base_env, tmp_path / "emulator.log"))
    for name in SERVICES:
        grpc_port, health_port = ports[name]
        env = {**base_env, "ARBITER__GRPC__PORT": str(grpc_port),
               "ARBITER__HEALTH__PORT": str(health_port), "ARBITER__HEALTH__HOST": "127.0.0.1"}
        if name.startswith("gateway"):
            await eventually(lambda: listening(pm_port, ks_port), 30, "the emulators")
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
        tenant = common_pb2.TenantContext(tenant_id="acme", tier="standard")
        channel = insecure_channel(f"127.0.0.1:{ports['control'][0]}", tenant)
        control = control_pb2_grpc.ControlStub(channel)
        token = mint_token(SECRET, subject="ops@acme", tenant="acme", role=Role.VIEWER)
        auth = [("authorization", f"Bearer {token}")]

        async def completed() -> control_pb2.StatusReply | None:
            status = await control.Status(control_pb2.StatusRequest(tenant=tenant),
                                          metadata=auth)
            return status if status.sagas_by_state.get("COMPLETED", 0) >= 2 else None

        status = await eventually(completed, 90, "completed sagas reported by control")
        await channel.close()
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
