"""`arbiter venue kalshi ...`: print exactly what Arbiter would sign, to diff against the
official SDK."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

import orjson
import typer

from arbiter.platform.cli_tools import KeyFile, fail
from arbiter.venues.kalshi.auth import KalshiAuthError, PrivateKeySigner, auth_headers

app = typer.Typer(help="Kalshi trade API v2: sign requests offline.")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@app.command("sign-request")
def kalshi_sign_request(
    key_file: KeyFile,
    key_id: Annotated[str, typer.Option(help="API key id (KALSHI-ACCESS-KEY).")],
    method: Annotated[Literal["GET", "POST", "PUT", "DELETE"], typer.Option(
        case_sensitive=False, help="HTTP method of the request.")],
    path: Annotated[str, typer.Option(help="Full path, e.g. /trade-api/v2/portfolio/balance.")],
    timestamp_ms: Annotated[int | None, typer.Option(help="Default: now.")] = None,
) -> None:
    """Print the KALSHI-ACCESS-* headers as JSON."""
    try:
        signer = PrivateKeySigner.from_key_file(key_file)
        headers = asyncio.run(auth_headers(
            key_id, signer, _now_ms() if timestamp_ms is None else timestamp_ms, method, path
        ))
    except (KalshiAuthError, ValueError) as error:
        fail(error)
    typer.echo(orjson.dumps(headers).decode())
