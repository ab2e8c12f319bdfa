"""Venue-specific surfaces of the socket-served emulators: auth, onboarding, keep-alive,
faults, and the standalone `run_emulators`."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.emulators.link import InProcessLink
from arbiter.emulators.server import Faults, OrderFault, VenueServer, WsFault, run_emulators
from arbiter.gateways.http_transport import Backoff, HttpVenueTransport, TextPing
from arbiter.platform.config import load_config
from arbiter.platform.transport import RequestTimeout
from arbiter.topology.embedded import EmulatedVenues
from arbiter.venues.kalshi.auth import PrivateKeySigner, auth_headers, ws_auth_headers
from arbiter.venues.kalshi.credentials import paper_key
from arbiter.venues.kalshi.emulator import KalshiEmulator
from arbiter.venues.kalshi.onboarding import public_pem
from arbiter.venues.kalshi.transport import subscribe_commands
from arbiter.venues.polymarket.amounts import Side, limit_order_amounts, tick_size
from arbiter.venues.polymarket.auth import POLY_ADDRESS, l1_headers, l2_headers
from arbiter.venues.polymarket.credentials import PAPER_KEY
from arbiter.venues.polymarket.emulator import PolymarketEmulator
from arbiter.venues.polymarket.order_builder import (
    OrderType,
    build_order,
    encode_body,
    order_payload,
    sign,
)
from arbiter.venues.polymarket.signing import POLYGON_CHAIN_ID, ExchangeDomain, LocalSigner

from .conftest import Harness, eventually, now_ms

OTHER_KEY = "0x" + "22" * 32
ORDERS = "/trade-api/v2/portfolio/orders"


def _fresh_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_tampered_polymarket_order_is_rejected_and_never_matches(
    polymarket: Harness,
) -> None:
    await eventually(polymarket.all_books_match)
    market = polymarket.gateway.markets[polymarket.market_ids[0]]
    best_ask, best_qty = polymarket.engine(market.market_id).snapshot()[1][0]
    signer = polymarket.credentials.signer
    amounts = limit_order_amounts(Side.BUY, best_ask, best_qty, tick_size("0.01"))
    order = build_order(token_id=int(market.yes_token), side=Side.BUY, amounts=amounts,
                        signer_address=signer.address, salt=42, timestamp_ms=now_ms())
    api = polymarket.credentials.api
    signed = await sign(order, ExchangeDomain.for_market(POLYGON_CHAIN_ID, neg_risk=False), signer)
    honest = order_payload(signed, owner=api.api_key, order_type=OrderType.FAK)
    tampered = orjson.loads(encode_body(honest))
    tampered["order"]["takerAmount"] = str(amounts.taker_amount + 1_000_000)  # one more share

    async def post(payload: dict) -> tuple[int, bytes]:
        body = encode_body(payload)
        headers = l2_headers(signer.address, api, now_ms() // 1000, "POST", "/order", body)
        return await polymarket.transport.request("POST", "/order", headers=headers, body=body)

    status, raw = await post(tampered)

    assert status == 400 and b"signature" in raw
    assert polymarket.emulator.orders == {}  # type: ignore[attr-defined]
    assert not any(polymarket.emulator.account.positions.values())
    assert polymarket.engine(market.market_id).snapshot()[1][0] == (best_ask, best_qty)
    status, raw = await post(honest)  # the control: the same order as signed is accepted
    assert status == 200 and orjson.loads(raw)["status"] == "matched"


async def test_kalshi_rejects_badly_signed_requests_with_401(kalshi: Harness) -> None:
    key_id = kalshi.credentials.key_id
    signer, forger = kalshi.credentials.signer, PrivateKeySigner(_fresh_rsa())

    async def get_orders(headers: dict[str, str]) -> int:
        return (await kalshi.transport.request("GET", ORDERS, headers=headers))[0]

    assert await get_orders(await auth_headers(key_id, signer, now_ms(), "GET", ORDERS)) == 200
    assert await get_orders(await auth_headers(key_id, forger, now_ms(), "GET", ORDERS)) == 401
    assert await get_orders(
        await auth_headers(key_id, signer, now_ms(), "GET", "/trade-api/v2/portfolio/fills")) == 401
    order = orjson.dumps({"ticker": kalshi.market_ids[0], "side": "bid", "price": "0.9900",
                          "count": "1.00", "time_in_force": "immediate_or_cancel"})
    path = "/trade-api/v2/portfolio/events/orders"
    forged = await auth_headers(key_id, forger, now_ms(), "POST", path)
    status, _ = await kalshi.transport.request("POST", path, headers=forged, body=order)
    assert status == 401
    assert kalshi.emulator.orders == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize("signed_path", [None, "/trade-api/v2/portfolio/orders"])
async def test_kalshi_websocket_upgrade_needs_a_signature_of_the_ws_path(
    kalshi: Harness, signed_path: str | None,
) -> None:
    key_id = kalshi.credentials.key_id

    async def headers() -> dict[str, str]:
        if signed_path is None:
            return {}
        return await ws_auth_headers(key_id, kalshi.credentials.signer, now_ms(), signed_path)

    async with HttpVenueTransport(kalshi.server.url, kalshi.server.ws_urls) as transport:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await transport.connect("ws", _ignore, headers)
    assert refused.value.status == 401


async def test_polymarket_l1_onboarding_recovers_the_clob_auth_signer() -> None:
    emulator = PolymarketEmulator()
    signer = LocalSigner(PAPER_KEY)
    async with VenueServer(emulator) as server, HttpVenueTransport(server.url, {}) as transport:

        async def call(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
            status, raw = await transport.request(method, path, headers=headers)
            return status, orjson.loads(raw)

        created = await call("POST", "/auth/api-key", await l1_headers(signer, POLYGON_CHAIN_ID, 1))
        derived = await call("GET", "/auth/derive-api-key",
                             await l1_headers(signer, POLYGON_CHAIN_ID, 2))
        other_nonce = await call("GET", "/auth/derive-api-key",
                                 await l1_headers(signer, POLYGON_CHAIN_ID, 3, nonce=1))
        impostor = await l1_headers(LocalSigner(OTHER_KEY), POLYGON_CHAIN_ID, 4)
        impostor[POLY_ADDRESS] = signer.address
        refused = await call("GET", "/auth/derive-api-key", impostor)

    assert created[0] == derived[0] == other_nonce[0] == 200
    assert created[1] == derived[1]
    assert other_nonce[1]["apiKey"] != created[1]["apiKey"]
    assert emulator.api_keys[created[1]["apiKey"]][1] == signer.address
    assert refused == (401, {"error": "Invalid L1 Request headers"})


async def test_kalshi_key_registration_is_signed_unless_open() -> None:
    emulator = KalshiEmulator()  # the default: closed, as on the venue
    key_id, signer = "paper-key", PrivateKeySigner(paper_key())
    emulator.register_key(key_id, paper_key().public_key())
    path = "/trade-api/v2/api_keys"
    body = orjson.dumps({"name": "second", "public_key": public_pem(_fresh_rsa())})
    async with VenueServer(emulator) as server, HttpVenueTransport(server.url, {}) as transport:
        unsigned = await transport.request("POST", path, body=body)
        signed = await transport.request("POST", path, body=body, headers=await auth_headers(
            key_id, signer, now_ms(), "POST", path))
        emulator.open_registration = True
        opened = await transport.request("POST", path, body=body)

    assert unsigned[0] == 401
    assert signed[0] == opened[0] == 201
    new_id = orjson.loads(signed[1])["api_key_id"]
    assert orjson.loads(opened[1])["api_key_id"] == new_id and new_id in emulator.keys


async def test_polymarket_text_pings_are_answered_with_pong() -> None:
    frames: list[bytes] = []

    async def sink(frame: bytes) -> None:
        frames.append(frame)

    async with (
        VenueServer(PolymarketEmulator()) as server,
        HttpVenueTransport(server.url, server.ws_urls, ping=TextPing(interval_s=0.02)) as transport,
    ):
        await transport.connect("market", sink)
        await eventually(lambda: frames.count(b"PONG") >= 2)


async def test_rest_latency_past_the_timeout_is_an_unknown_outcome() -> None:
    async with (
        VenueServer(PolymarketEmulator()) as server,
        HttpVenueTransport(server.url, {}, request_timeout_s=0.05) as transport,
    ):
        server.faults.rest_latency_ms = 200
        with pytest.raises(RequestTimeout):
            await transport.request("GET", "/time")
        server.faults.rest_latency_ms = 0
        assert (await transport.request("GET", "/time"))[0] == 200


async def test_channel_outlives_a_venue_restart_and_resubscribes() -> None:
    """The venue is down for a few back-off rounds, then back on the same port."""
    config = load_config(environ={})
    venues = EmulatedVenues.create(config)
    emulator = venues["polymarket"]
    await venues.market.step()
    token = config.market.pairs[0].a.yes_token
    books: list[bytes] = []

    async def sink(frame: bytes) -> None:
        if b'"book"' in frame:
            books.append(frame)

    server = VenueServer(emulator)
    await server.start()
    port = int(server.url.rsplit(":", 1)[1])
    backoff = Backoff(initial_s=0.02, factor=2.0, cap_s=0.08)
    async with HttpVenueTransport(server.url, server.ws_urls, backoff=backoff) as transport:
        channel = await transport.connect("market", sink)
        await channel.send(orjson.dumps({"assets_ids": [token], "type": "market"}))
        await eventually(lambda: len(books) == 1)
        await server.stop()
        restarted = VenueServer(emulator)
        await restarted.start(port=port)
        try:
            await eventually(lambda: len(books) == 2)
        finally:
            await restarted.stop()
    assert channel.reconnects == 1


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [Backoff(0.1, 2.0, 0.5).delay(n) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_kalshi_replays_subscribe_commands_only() -> None:
    def command(cmd: str) -> bytes:
        return orjson.dumps({"id": 1, "cmd": cmd, "params": {"sids": [3]}})

    assert subscribe_commands(command("subscribe"))
    assert not subscribe_commands(command("update_subscription"))
    assert not subscribe_commands(b"PING")


def test_faults_are_one_shot_and_validated() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="404"):
        faults.fail_orders(404)
    with pytest.raises(ValueError, match="only a 5xx"):
        faults.fail_orders(429, after_accept=True)
    with pytest.raises(ValueError, match="count"):
        faults.reject_orders(0)
    faults.fail_orders(429, count=2)
    faults.fail_orders(500, after_accept=True)
    faults.reject_orders()
    faults.lose_order_replies(cut=True)
    assert [faults.take_order_fault() for _ in range(6)] == [
        OrderFault(429, venue_acts=False), OrderFault(429, venue_acts=False),
        OrderFault(500, venue_acts=True), OrderFault(400, venue_acts=False),
        OrderFault(None, venue_acts=True, cut=True), None]
    faults.drop_ws_after(1, channel="market")
    assert faults.ws_fault_for("user", b"x") is None and faults.ws_fault_for("market", b"x") is None
    assert faults.ws_fault_for("market", b"PONG") is None  # keep-alives are never counted
    fired = faults.ws_fault_for("market", b"x")
    assert fired is not None and fired.fault is WsFault.CUT
    assert faults.ws_fault_for("market", b"x") is None and faults.armed == 0


def test_ws_faults_count_matching_frames_and_fire_in_arming_order() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="replay needs a cut"):
        faults.ws_fault(WsFault.DROP, "ws", replay=2)
    with pytest.raises(ValueError, match="after"):
        faults.ws_fault(WsFault.HOLD, "ws", after=-1)
    faults.ws_fault(WsFault.DUPLICATE, "ws", after=1, containing='"fill"')
    faults.ws_fault(WsFault.DROP, "ws")

    def fired(frame: bytes) -> WsFault | None:
        armed = faults.ws_fault_for("ws", frame)
        return None if armed is None else armed.fault

    assert [fired(b'{"type":"fill"}'), fired(b'{"type":"delta"}'), fired(b'{"type":"fill"}'),
            fired(b'{"type":"fill"}')] == [WsFault.DROP, None, WsFault.DUPLICATE, None]


async def test_run_emulators_serves_both_venues_and_steps_on_the_wall_clock() -> None:
    config = load_config(environ={}, overrides={"market.step_ms": 10})
    emulated = EmulatedVenues.create(config, open_registration=True)
    stop, ready = asyncio.Event(), []
    task = asyncio.create_task(run_emulators(
        emulated.venues, emulated.market, "127.0.0.1", {"polymarket": 0, "kalshi": 0}, stop,
        on_ready=ready.append))
    await eventually(lambda: bool(ready) and ready[0].market.step_count >= 3)
    running, pair = ready[0], config.market.pairs[0]
    try:
        async with (
            HttpVenueTransport(running.servers["polymarket"].url, {}) as polymarket,
            HttpVenueTransport(running.servers["kalshi"].url, {}) as kalshi,
        ):
            book = await polymarket.request("GET", "/book",
                                            query={"token_id": pair.a.yes_token})
            orderbook = await kalshi.request(
                "GET", f"/trade-api/v2/markets/{pair.b.ticker}/orderbook")
            registered = await kalshi.request("POST", "/trade-api/v2/api_keys", body=orjson.dumps(
                {"name": "paper", "public_key": public_pem(_fresh_rsa())}))
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)

    assert book[0] == 200 and orjson.loads(book[1])["bids"]
    assert orderbook[0] == 200 and orjson.loads(orderbook[1])["orderbook_fp"]["yes_dollars"]
    assert registered[0] == 201


async def _ignore(frame: bytes) -> None:
    """A frame sink for connections that must never open."""


async def test_every_venue_keeps_unix_time_from_its_epoch() -> None:
    """Clients filter trades and fills by Unix time: the emulated day is now (the wall
    clock unless the engine's clock drives the venues), not seconds since start."""
    config = load_config(environ={})
    before = int(time.time())
    venues = EmulatedVenues.create(config)
    await venues.market.step()
    for venue in venues.venues.values():
        assert before * 1000 <= venue.now_ms <= (time.time() + 5) * 1000
    status, raw = await InProcessLink(venues["polymarket"]).request("GET", "/time")
    assert status == 200 and before <= int(raw) <= time.time() + 5

    driven = EmulatedVenues.create(config, epoch_ms=1_700_000_000_000)
    await driven.market.step()
    assert {v.now_ms for v in driven.venues.values()} == {
        1_700_000_000_000 + config.market.step_ms}
