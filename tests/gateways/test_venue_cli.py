"""``arbiter venue`` CLI: exact signed order JSON and Kalshi auth headers from key files."""

import base64
import re
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from arbiter.cli.app import app
from arbiter.venues.kalshi.auth import verify_signature

from .conftest import A10_ADDRESS, A10_BODY, A10_KEY, A10_SIGNATURE

runner = CliRunner()
A10_ARGS = [
    "venue",
    "polymarket",
    "sign-order",
    "--token-id",
    "1234567890",
    "--side",
    "BUY",
    "--price",
    "0.53",
    "--size",
    "10",
    "--tick-size",
    "0.01",
    "--salt",
    "12345",
    "--timestamp-ms",
    "1700000000000",
    "--chain-id",
    "137",
    "--api-key",
    "api-key",
    "--order-type",
    "GTC",
]


@pytest.fixture
def pm_key(tmp_path: Path) -> Path:
    path = tmp_path / "pm.key"
    path.write_text(A10_KEY + "\n")
    return path


def test_sign_order_a10_byte_exact(pm_key: Path) -> None:
    result = runner.invoke(app, [*A10_ARGS, "--key-file", str(pm_key)])
    assert result.exit_code == 0, result.output
    assert result.stdout == A10_BODY + "\n"


def test_sign_order_variants(pm_key: Path) -> None:
    funder = "0x" + "ab" * 20
    result = runner.invoke(
        app,
        [
            *A10_ARGS,
            "--key-file",
            str(pm_key),
            "--neg-risk",
            "--signature-type",
            "2",
            "--funder",
            funder,
            "--side",
            "sell",
        ],
    )
    assert result.exit_code == 0, result.output
    order = orjson.loads(result.stdout)["order"]
    assert order["side"] == "SELL" and order["signatureType"] == 2
    assert order["maker"].lower() == funder and order["signer"] == A10_ADDRESS
    assert order["makerAmount"] == "10000000" and order["takerAmount"] == "5300000"
    assert order["signature"] != A10_SIGNATURE


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--price", "0.535"], "not on the 0.01 tick grid"),
        (["--order-type", "FOK", "--post-only"], "postOnly is only allowed with GTC or GTD"),
        (["--side", "HOLD"], "'HOLD' is not one of 'buy', 'sell'"),
        (["--tick-size", "0.02"], "'0.02' is not one of '0.1', '0.01', '0.001'"),
    ],
)
def test_sign_order_rejects_bad_input(pm_key: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, [*A10_ARGS, "--key-file", str(pm_key), *extra])
    assert result.exit_code == 2
    assert message in " ".join(re.sub("[│╭╮╰╯─]", " ", result.stderr).split())


def test_kalshi_sign_request(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "kalshi.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    result = runner.invoke(
        app,
        [
            "venue", "kalshi",
            "sign-request",
            "--key-file",
            str(path),
            "--key-id",
            "kid",
            "--method",
            "POST",
            "--path",
            "/trade-api/v2/portfolio/events/orders",
            "--timestamp-ms",
            "1700000000000",
        ],
    )
    assert result.exit_code == 0, result.output
    headers = orjson.loads(result.stdout)
    assert headers["KALSHI-ACCESS-KEY"] == "kid"
    assert headers["KALSHI-ACCESS-TIMESTAMP"] == "1700000000000"
    assert base64.b64decode(headers["KALSHI-ACCESS-SIGNATURE"], validate=True)
    assert verify_signature(
        key.public_key(),
        b"1700000000000POST/trade-api/v2/portfolio/events/orders",
        headers["KALSHI-ACCESS-SIGNATURE"],
    )
    bad = runner.invoke(
        app,
        [
            "venue", "kalshi",
            "sign-request",
            "--key-file",
            str(path),
            "--key-id",
            "kid",
            "--method",
            "GET",
            "--path",
            "/portfolio/balance",
        ],
    )
    assert bad.exit_code == 2 and "must be the full API path" in bad.stderr
