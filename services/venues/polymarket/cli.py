"""`arbiter venue polymarket ...`: print exactly what Arbiter would sign, to diff against
the official SDK."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from arbiter.core.units import parse_micros
from arbiter.platform.cli_tools import KeyFile, choices, fail
from arbiter.venues.polymarket.amounts import (
    TICK_SIZES,
    AmountError,
    Side,
    limit_order_amounts,
    market_order_amounts,
    tick_size,
)
from arbiter.venues.polymarket.order_builder import (
    OrderBuildError,
    OrderType,
    build_order,
    encode_body,
    new_salt,
    order_payload,
    sign,
)
from arbiter.venues.polymarket.signing import (
    POLYGON_CHAIN_ID,
    ExchangeDomain,
    LocalSigner,
    SignatureType,
)

if TYPE_CHECKING:
    TickSizeLabel = str
else:
    TickSizeLabel = choices("TickSizeLabel", TICK_SIZES)

app = typer.Typer(help="Polymarket CLOB V2: sign orders offline.")
MARKET_ORDER_TYPES = (OrderType.FOK, OrderType.FAK)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@app.command("sign-order")
def polymarket_sign_order(
    key_file: KeyFile,
    token_id: Annotated[str, typer.Option(help="Outcome token id (decimal).")],
    side: Annotated[Literal["BUY", "SELL"], typer.Option(case_sensitive=False)],
    price: Annotated[str, typer.Option(help="Limit price in dollars, e.g. 0.53.")],
    size: Annotated[
        str, typer.Option(help="Shares; for FOK/FAK BUY the dollars to spend, as the SDK does.")
    ],
    tick_size_label: Annotated[TickSizeLabel, typer.Option(
        "--tick-size", help="The market's tick size (GET /tick-size).")] = "0.01",
    neg_risk: Annotated[bool, typer.Option("--neg-risk")] = False,
    salt: Annotated[int | None, typer.Option(help="Default: random 53-bit.")] = None,
    timestamp_ms: Annotated[int | None, typer.Option(help="Default: now.")] = None,
    signature_type: Annotated[int, typer.Option(
        help="0 EOA, 1 proxy, 2 Safe, 3 EIP-1271.", min=min(SignatureType),
        max=max(SignatureType))] = 0,
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
        tick = tick_size(str(tick_size_label))
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
        fail(error)
    typer.echo(encode_body(payload).decode())
