"""`LatencyLink`: each endpoint waits its own seeded delay, the venue acts half way through a
round trip, and WebSocket frames arrive late but in order."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from arbiter.emulators.link import Delay, LatencyLink, VenueLatency
from arbiter.emulators.venue import EmulatorSurface, HttpResponse, WsSink
from arbiter.platform.config import load_config

LATENCY = VenueLatency(place=Delay(40), cancel=Delay(20), read=Delay(0), push=Delay(30, 20))


@dataclass
class _Session:
    sink: WsSink
    closed: bool = False

    async def send(self, frame: bytes) -> None: ...

    def close(self) -> None:
        self.closed = True


@dataclass
class _Venue:
    """Just what a link touches: the HTTP handler, the handshake and the sessions."""

    venue = "fake"
    surface = EmulatorSurface({}, "book", frozenset({"/order"}), {}, 0)
    seen: list[tuple[str, float]] = field(default_factory=list)
    sessions: list[_Session] = field(default_factory=list)

    async def handle_http(self, method: str, path: str, query: dict[str, str],
                          headers: dict[str, str], body: bytes) -> HttpResponse:
        self.seen.append((f"{method} {path}", asyncio.get_running_loop().time()))
        return HttpResponse(200, b"{}")

    def ws_authorized(self, headers: object) -> bool:
        return True

    async def connect(self, channel: str, sink: WsSink) -> _Session:
        self.sessions.append(_Session(sink))
        return self.sessions[-1]


def _link(venue: _Venue, latency: VenueLatency = LATENCY, seed: int = 1) -> LatencyLink:
    return LatencyLink(venue, latency, random.Random(seed))  # type: ignore[arg-type]


async def test_an_order_reaches_the_venue_half_way_and_returns_after_the_whole_trip() -> None:
    venue = _Venue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await _link(venue).request("POST", "/order")
    done = loop.time()
    (what, at), = venue.seen
    assert what == "POST /order"
    assert at - start >= 0.019  # half the 40 ms round trip before the venue acts
    assert done - start >= 0.039


async def test_each_endpoint_has_its_own_delay() -> None:
    venue = _Venue()
    link = _link(venue, VenueLatency(place=Delay(0), cancel=Delay(150), read=Delay(0)))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await link.request("GET", "/book")
    await link.request("POST", "/order")
    fast = loop.time()
    await link.request("DELETE", "/order")
    assert fast - start < 0.1
    assert loop.time() - fast >= 0.149


def test_jitter_is_seeded_and_within_its_bounds() -> None:
    delay = Delay(10, 5)
    draws = [delay.draw_micros(random.Random(3)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = random.Random(4)
    many = [delay.draw_micros(rng) for _ in range(500)]
    assert all(10_000 <= d <= 15_000 for d in many)
    assert len(set(many)) > 100  # jitter really varies, in whole µs
    assert Delay(7).draw_micros(rng) == 7_000


async def test_frames_arrive_late_and_in_the_order_they_were_sent() -> None:
    venue = _Venue()
    got: list[tuple[bytes, float]] = []
    loop = asyncio.get_running_loop()

    async def sink(frame: bytes) -> None:
        got.append((frame, loop.time()))

    link = _link(venue)
    connection = await link.connect("book", sink)
    start = loop.time()
    frames = [str(i).encode() for i in range(20)]
    for frame in frames:
        await venue.sessions[0].sink(frame)
    assert got == []  # nothing arrives before its delay
    await asyncio.sleep(0.1)
    assert [frame for frame, _ in got] == frames
    assert min(at for _, at in got) - start >= 0.029
    await connection.close()
    await venue.sessions[0].sink(b"late")
    await asyncio.sleep(0.06)
    assert len(got) == 20  # a closed connection delivers nothing more
    await link.close()


def test_latency_comes_from_the_market_config() -> None:
    market = load_config(environ={}, overrides={
        "market.clock": "free", "market.place_latency_ms": 30, "market.place_jitter_ms": 5,
        "market.push_latency_ms": 4}).market
    latency = VenueLatency.from_config(market)
    assert latency == VenueLatency(place=Delay(30, 5), push=Delay(4))
    assert not latency.zero and VenueLatency.from_config(load_config(environ={}).market).zero


@pytest.mark.parametrize("latency", [VenueLatency(), VenueLatency(place=Delay(5))])
async def test_without_a_push_delay_frames_go_straight_through(latency: VenueLatency) -> None:
    venue = _Venue()
    got: list[bytes] = []

    async def sink(frame: bytes) -> None:
        got.append(frame)

    await _link(venue, latency).connect("book", sink)
    await venue.sessions[0].sink(b"now")
    assert got == [b"now"]
