"""A full embedded run logs JSON with ids, and never one of its credentials."""

from __future__ import annotations

import io
import json
import logging
import re

import orjson
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from arbiter.platform.config import load_config
from arbiter.platform.telemetry import tracing
from arbiter.platform.telemetry.logging import configure_logging, scrub
from arbiter.topology.embedded import EmbeddedMesh
from arbiter.venues.polymarket.credentials import PAPER_KEY as PAPER_POLYMARKET_KEY

pytestmark = pytest.mark.usefixtures("telemetry_reset")


def _pem_lines(key: object) -> list[str]:
    """Every base64 body line of the key in both PEM encodings: any one is a leak."""
    lines = []
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt,  # type: ignore[attr-defined]
                                serialization.NoEncryption()).decode()
        lines += [line for line in pem.splitlines() if not line.startswith("-----")]
    return lines


def _leaks(text: str, secrets: list[str]) -> list[str]:
    found = [s[:12] + "..." for s in secrets if s in text]
    if re.search(r"passphrase\W+paper\b", text):
        found.append("passphrase")
    return found


async def test_a_full_run_logs_json_with_ids_and_no_secret() -> None:
    out = io.StringIO()
    configure_logging(logging.DEBUG, stream=out)
    tracing.setup_tracing("arbiter-embedded", exporter=InMemorySpanExporter())
    log = structlog.get_logger("arbiter.test")
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={"market.seed": 7}))
    gateway = mesh.gateways["kalshi"]
    paper_api = mesh.gateways["polymarket"].credentials.api  # derived from the venue
    pem_lines = _pem_lines(gateway.signer._key)
    pem = gateway.signer._key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    secrets = [PAPER_POLYMARKET_KEY, PAPER_POLYMARKET_KEY[2:], paper_api.secret, *pem_lines]
    auth_frame = orjson.dumps({"auth": {"apiKey": paper_api.api_key, "secret": paper_api.secret,
                                        "passphrase": paper_api.passphrase}, "type": "user"})
    with structlog.contextvars.bound_contextvars(tenant_id="t-logs"):
        await mesh.start()
        for _ in range(150):
            await mesh.step()
        # What a careless change would log: the ways a secret reaches a log line.
        mesh.gateways["polymarket"].bad_message(auth_frame, ValueError("test"))
        logging.getLogger("arbiter.careless").error("signing with %s and %s", PAPER_POLYMARKET_KEY, pem)
        log.warning("credentials", secret=paper_api.secret, private_key=PAPER_POLYMARKET_KEY,
                    headers={"POLY_PASSPHRASE": paper_api.passphrase, "KALSHI-ACCESS-KEY": "k"})
        with structlog.contextvars.bound_contextvars(saga_id="t-logs:op-1"):
            log.info("in a saga", frame=auth_frame)
        await mesh.stop()
    assert mesh.saga.stats().started > 0

    lines = out.getvalue().splitlines()
    assert len(lines) >= 4
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(r["tenant_id"] == "t-logs" for r in records if r["logger"].startswith("arbiter.test"))
    assert any(r.get("saga_id") == "t-logs:op-1" for r in records)
    assert _leaks(out.getvalue(), secrets) == []
    # The scan is real: the unredacted planted text is caught by it.
    assert _leaks(auth_frame.decode() + pem + PAPER_POLYMARKET_KEY, secrets)


async def test_logs_inside_a_span_carry_its_trace_id() -> None:
    out = io.StringIO()
    configure_logging(logging.INFO, stream=out)
    tracing.setup_tracing("t", exporter=InMemorySpanExporter())
    with tracing.root_span("tick", "gateway", 0, {}):
        trace_id, _ = tracing.current_ids() or ("", "")
        logging.getLogger("arbiter.x").info("hello")
    record = json.loads(out.getvalue().splitlines()[-1])
    assert record["trace_id"] == trace_id and len(trace_id) == 32


@pytest.mark.parametrize("text", [
    'Authorization: Bearer abc.def', "{'secret': 'c2VjcmV0'}", 'KALSHI-ACCESS-SIGNATURE=AbC+/=',
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
])
def test_scrub_removes_secret_shapes(text: str) -> None:
    cleaned = scrub(text)
    assert "[REDACTED" in cleaned
    assert not any(s in cleaned for s in ("abc.def", "c2VjcmV0", "AbC+/=", "MIIE"))


def test_hex_keys_become_a_stable_fingerprint() -> None:
    key = "0x" + "ab" * 32
    assert scrub(f"order {key}") == scrub(f"order {key.upper().replace('0X', '0x')}")
    assert key not in scrub(f"order {key}")
