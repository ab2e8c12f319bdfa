"""NonceX's nonce protocol end to end: the plugin's allocator in the gateway, the venue's
window in the emulator, over real sockets."""

from __future__ import annotations

import asyncio

import orjson
from emulators.conftest import Harness, eventually

from arbiter.core.units import QTY_SCALE
from arbiter.platform.clock import SystemClock
from arbiter.platform.config import load_config
from arbiter.topology.universe import TradingUniverse
from arbiter.v1 import execution_pb2
from arbiter.venues.plugin import GatewayContext, plugin

from .noncex.codec import NONCE_AHEAD, ORDERS_PATH, ErrorCode, OrderBody, Side, Tif
from .noncex.credentials import auth_headers
from .noncex.demo import demo_pairs
from .noncex.emulator import NonceLedger

ONE = QTY_SCALE


def ledger(harness: Harness) -> NonceLedger:
    return harness.emulator.nonces[harness.credentials.key_id]  # type: ignore[attr-defined]


def order_posts(harness: Harness) -> int:
    return sum(1 for method, path in harness.server.requests
               if (method, path) == ("POST", ORDERS_PATH))


def nonces_used(harness: Harness) -> list[int]:
    return sorted(o.body.nonce for o in harness.emulator.orders.values())  # type: ignore[attr-defined]


async def best_ask(harness: Harness) -> int:
    await eventually(harness.all_books_match)
    return harness.engine(harness.market_ids[0]).snapshot()[1][0][0]


async def raw_order(harness: Harness, nonce: int, client_id: str, *,
                    signed_body: bytes | None = None) -> tuple[int, dict]:
    """An order posted by hand with our key, `signed_body` signed instead of the body sent."""
    body = orjson.dumps(OrderBody(harness.market_ids[0], Side.BUY_YES, 10_000, ONE, Tif.GTC,
                                  client_id, nonce).to_json())
    headers = await auth_headers(harness.credentials, SystemClock().now_micros() // 1000,
                                 "POST", ORDERS_PATH, body if signed_body is None else signed_body)
    status, raw = await harness.transport.request("POST", ORDERS_PATH, headers=headers, body=body)
    return status, orjson.loads(raw)


async def test_concurrent_orders_take_distinct_consecutive_nonces(noncex: Harness) -> None:
    price = await best_ask(noncex)
    first = ledger(noncex).next_nonce
    acks = await asyncio.gather(*(noncex.gateway.place(noncex.ioc_buy_yes(f"c{i}", price, ONE))
                                  for i in range(12)))
    assert all(ack.accepted for ack in acks), [a.reject_reason for a in acks]
    assert nonces_used(noncex) == list(range(first, first + 12))
    assert noncex.gateway.nonces.unconfirmed(noncex.credentials.key_id) == 0


async def test_the_venue_refuses_a_reused_and_a_runaway_nonce_with_typed_errors(
    noncex: Harness,
) -> None:
    await best_ask(noncex)
    nonce = ledger(noncex).next_nonce
    assert (await raw_order(noncex, nonce, "raw-1"))[0] == 201
    status, reply = await raw_order(noncex, nonce, "raw-2")
    assert (status, reply["error"]["code"]) == (409, ErrorCode.NONCE_REUSED)
    status, reply = await raw_order(noncex, nonce + 1 + NONCE_AHEAD, "raw-3")
    assert (status, reply["error"]["code"]) == (400, ErrorCode.NONCE_TOO_FAR_AHEAD)
    assert "more than 16 ahead" in reply["error"]["message"]
    assert (await raw_order(noncex, nonce + NONCE_AHEAD, "raw-4"))[0] == 201  # last in window


async def test_the_venue_verifies_the_signature_over_the_body(noncex: Harness) -> None:
    await best_ask(noncex)
    nonce = ledger(noncex).next_nonce
    status, reply = await raw_order(noncex, nonce, "forged", signed_body=b'{"other":1}')
    assert (status, reply["error"]["code"]) == (401, ErrorCode.UNAUTHORIZED)
    assert ledger(noncex).next_nonce == nonce  # a forged request spends nothing


async def test_a_nonce_another_client_used_is_resynced_and_the_order_goes_through(
    noncex: Harness,
) -> None:
    price = await best_ask(noncex)
    ours = ledger(noncex).next_nonce
    for offset in range(3):  # the same key used elsewhere: our next nonces are taken
        assert (await raw_order(noncex, ours + offset, f"other-{offset}"))[0] == 201
    posts = order_posts(noncex)
    ack = await noncex.gateway.place(noncex.ioc_buy_yes("resynced", price, ONE))
    assert ack.accepted, ack.reject_reason
    assert order_posts(noncex) - posts == 2  # refused once as reused, then resent
    assert ("GET", "/v1/nonce") in noncex.server.requests
    assert max(nonces_used(noncex)) == ours + 3


async def test_a_runaway_local_counter_is_pulled_back_by_the_venue(noncex: Harness) -> None:
    price = await best_ask(noncex)
    key = noncex.credentials.key_id
    venue_next = ledger(noncex).next_nonce
    noncex.gateway.nonces.seed(key, venue_next + 10 * NONCE_AHEAD)  # stale, far ahead
    ack = await noncex.gateway.place(noncex.ioc_buy_yes("pulled-back", price, ONE))
    assert ack.accepted, ack.reject_reason
    assert max(nonces_used(noncex)) == venue_next


async def test_a_nonce_lost_before_the_venue_leaves_a_gap_the_venue_skips(
    noncex: Harness,
) -> None:
    price = await best_ask(noncex)
    key = noncex.credentials.key_id
    start = ledger(noncex).next_nonce
    lost = noncex.gateway.nonces.allocate(key)  # its request died before reaching the venue
    acks = [await noncex.gateway.place(noncex.ioc_buy_yes(f"g{i}", price, ONE)) for i in range(2)]
    assert all(a.accepted for a in acks)
    assert lost == start and nonces_used(noncex) == [start + 1, start + 2]


async def test_an_order_refused_before_the_venue_gives_its_nonce_back(noncex: Harness) -> None:
    price = await best_ask(noncex)
    start = ledger(noncex).next_nonce
    noncex.server.faults.fail_orders(429)
    refused = await noncex.gateway.place(noncex.ioc_buy_yes("limited", price, ONE))
    assert not refused.accepted
    ack = await noncex.gateway.place(noncex.ioc_buy_yes("after", price, ONE))
    assert ack.accepted, ack.reject_reason
    assert nonces_used(noncex) == [start]  # the refused order's nonce was reused, no gap


async def test_a_restarted_gateway_resyncs_from_the_venue(noncex: Harness) -> None:
    price = await best_ask(noncex)
    for i in range(3):
        assert (await noncex.gateway.place(noncex.ioc_buy_yes(f"r{i}", price, ONE))).accepted
    await noncex.gateway.close()
    venue_plugin = plugin("noncex")
    config = load_config(environ={}, overrides={"market.pairs": demo_pairs()})

    async def on_report(report: execution_pb2.ExecutionReport) -> None:
        noncex.reports.append(report)

    restarted = venue_plugin.gateway(GatewayContext(
        noncex.transport, TradingUniverse.from_config(config.market).listed["noncex"],
        noncex.credentials, config.venues.settings("noncex"), config.venues, SystemClock(),
        noncex.mirror, on_report, nonces=venue_plugin.nonce_allocator()))
    await restarted.start()
    try:
        posts = order_posts(noncex)
        ack = await restarted.place(noncex.ioc_buy_yes("after-restart", price, ONE))
    finally:
        await restarted.close()
    assert ack.accepted, ack.reject_reason
    assert order_posts(noncex) - posts == 1  # no refused nonce: it started where the venue is
    used = nonces_used(noncex)
    assert used[-1] == used[-2] + 1


def test_the_ledger_takes_late_nonces_inside_its_memory_and_refuses_older_ones() -> None:
    book = NonceLedger(kept=3, ahead=8)
    for nonce in (5, 3, 4):  # out of order, 0..2 skipped
        assert book.refusal(nonce) is None
        book.accept(nonce)
    assert book.next_nonce == 6
    assert book.refusal(4) == (ErrorCode.NONCE_REUSED, "nonce 4 was already used")
    assert book.refusal(2) is not None  # older than everything it remembers, memory full
    assert book.refusal(13) is None and book.refusal(14)[0] is ErrorCode.NONCE_TOO_FAR_AHEAD  # type: ignore[index]
    book.accept(13)
    assert book.next_nonce == 14 and book.refusal(3) is not None  # 3 fell out of memory
