"""``arbiter venue ...``: print exactly what Arbiter would sign, to diff against the official SDKs.

Keys are read only from files, never from arguments or the environment, so they stay out of
shell history and process listings.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, NoReturn

import orjson
import typer

from arbiter.gateways.kalshi.auth import KalshiAuthError, PrivateKeySigner, auth_headers
from arbiter.gateways.polymarket.amounts import (
    AmountError,
    Side,
    limit_order_amounts,
    market_order_amounts,
    parse_micros,
    tick_size,
)
from arbiter.gateways.polymarket.order_builder import (
    OrderBuildError,
    OrderType,
    build_order,
    encode_body,
    new_salt,
    order_payload,
    sign,
)
from arbiter.gateways.polymarket.signing import (
    POLYGON_CHAIN_ID,
    ExchangeDomain,
    LocalSigner,
    SignatureType,
)

app = typer.Typer(help="Venue wire-protocol tools: sign orders and requests offline.")
polymarket_app = typer.Typer(help="Polymarket CLOB V2.")
kalshi_app = typer.Typer(help="Kalshi trade API v2.")
app.add_typer(polymarket_app, name="polymarket")
app.add_typer(kalshi_app, name="kalshi")

KeyFile = Annotated[
    Path,
    typer.Option(
        "--key-file", exists=True, dir_okay=False, readable=True, help="Private key file."
    ),
]
MARKET_ORDER_TYPES = (OrderType.FOK, OrderType.FAK)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _fail(error: Exception) -> NoReturn:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code=2)


@polymarket_app.command("sign-order")
def polymarket_sign_order(
    key_file: KeyFile,
    token_id: Annotated[str, typer.Option(help="Outcome token id (decimal).")],
    side: Annotated[str, typer.Option(help="BUY or SELL.")],
    price: Annotated[str, typer.Option(help="Limit price in dollars, e.g. 0.53.")],
    size: Annotated[
        str, typer.Option(help="Shares; for FOK/FAK BUY the dollars to spend, as the SDK does.")
    ],
    tick_size_label: Annotated[str, typer.Option("--tick-size")] = "0.01",
    neg_risk: Annotated[bool, typer.Option("--neg-risk")] = False,
    salt: Annotated[int | None, typer.Option(help="Default: random 53-bit.")] = None,
    timestamp_ms: Annotated[int | None, typer.Option(help="Default: now.")] = None,
    signature_type: Annotated[int, typer.Option(help="0 EOA, 1 proxy, 2 Safe, 3 EIP-1271.")] = 0,
    funder: Annotated[str | None, typer.Option(help="Proxy/Safe/wallet address.")] = None,
    chain_id: Annotated[int, typer.Option()] = POLYGON_CHAIN_ID,
    api_key: Annotated[str, typer.Option(help="L2 API key, sent as owner.")] = "",
    order_type: Annotated[OrderType, typer.Option(case_sensitive=False)] = OrderType.GTC,
    expiration: Annotated[int, typer.Option(help="Unix seconds; GTD only.")] = 0,
    post_only: Annotated[bool, typer.Option("--post-only")] = False,
) -> None:
    """Print the compact POST /order body, byte for byte as it would be sent and HMAC-signed."""
    try:
        signer = LocalSigner.from_key_file(key_file)
        tick = tick_size(tick_size_label)
        if side.upper() not in Side.__members__:
            raise ValueError(f"side {side!r} must be BUY or SELL")
        side_enum = Side[side.upper()]
        amounts_of = (
            market_order_amounts if order_type in MARKET_ORDER_TYPES else limit_order_amounts
        )
        amounts = amounts_of(
            side_enum, parse_micros(price, "price"), parse_micros(size, "size"), tick
        )
        order = build_order(
            token_id=int(token_id),
            side=side_enum,
            amounts=amounts,
            signer_address=signer.address,
            salt=new_salt() if salt is None else salt,
            timestamp_ms=_now_ms() if timestamp_ms is None else timestamp_ms,
            signature_type=SignatureType(signature_type),
            funder=funder,
        )
        domain = ExchangeDomain.for_market(chain_id, neg_risk=neg_risk)
        payload = order_payload(
            asyncio.run(sign(order, domain, signer, expiration)),
            owner=api_key,
            order_type=order_type,
            post_only=post_only,
        )
    except (AmountError, OrderBuildError, ValueError) as error:
        _fail(error)
    typer.echo(encode_body(payload).decode())


@kalshi_app.command("sign-request")
def kalshi_sign_request(
    key_file: KeyFile,
    key_id: Annotated[str, typer.Option(help="API key id (KALSHI-ACCESS-KEY).")],
    method: Annotated[str, typer.Option()],
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
        _fail(error)
    typer.echo(orjson.dumps(headers).decode())
