"""A synthetic market that lives: when a pair resolves its successor is listed on both
venues, the engine subscribes and trades it, and the capital the settled pair held comes
back, so a run keeps trading for as long as it runs."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from arbiter.platform.config import DEFAULT_PAIRS, PairConfig, load_config
from arbiter.topology.embedded import EmbeddedMesh, EmulatedVenues
from arbiter.topology.listings import successor_pair
from arbiter.topology.universe import TradingUniverse

LIFETIME = 200  # steps: the four pairs first resolve at 50, 100, 150 and 200, then every 200
STEPS = 1_000


def _exposure(tenant: str = "default") -> float:
    value = REGISTRY.get_sample_value("arbiter_exposure_dollars", {"tenant": tenant})
    assert value is not None
    return value


async def test_successors_are_listed_traded_and_settled_and_their_capital_comes_back() -> None:
    """A position limit binds within each pair's life; every settlement frees its room, so
    sagas keep starting to the end, on successors several generations on. Exposure (the
    gauge and risk's ledger) falls at each settlement, and the money reconciles with both
    venues to the micro-dollar."""
    mesh = await EmbeddedMesh.build(load_config(environ={}, overrides={
        "market.seed": 7, "market.lifetime_steps": LIFETIME,
        "risk.max_position_total": 600, "risk.max_position_per_market": 600}))
    await mesh.start()
    started: list[int] = []
    falls = 0
    for step in range(1, STEPS + 1):
        settled = len(mesh.portfolio.settled) if mesh.portfolio else 0
        before = _exposure()
        await mesh.step()
        if mesh.portfolio and len(mesh.portfolio.settled) > settled and _exposure() < before:
            falls += 1
        if step % LIFETIME == 0:
            started.append(mesh.saga.stats().started)
    await mesh.stop_trading("test")
    assert mesh.portfolio is not None
    summary, report = mesh.summary(), await mesh.portfolio.reconcile()
    ledger = mesh.risk.state.ledger
    pairs = {saga.pair_id for saga in mesh.saga.sagas.values()
             if saga.state.name == "COMPLETED"}
    await mesh.stop()

    assert mesh.risk.rejections.get("max_position_total", 0) > 0, "the limit never bound"
    # in every pair lifetime more sagas start (trading goes on to the end)
    assert all(later > earlier for earlier, later in itertools.pairwise(started)), started
    assert mesh.pairs_listed == len(summary["markets_settled"]) // 2 >= 16
    assert any(p.endswith("-n5") for p in pairs), sorted(pairs)  # four generations on
    assert falls >= 10 and ledger.held_cost / 1e6 == pytest.approx(_exposure())
    assert summary["sagas_held"] == 0 and not summary["settlement_disagreements"]
    for venue, numbers in report.items():
        assert Decimal(numbers["difference_usd"]) == 0, (venue, numbers)


def test_a_successor_keeps_its_terms_under_new_ids_and_is_the_same_every_time() -> None:
    base = PairConfig.model_validate(DEFAULT_PAIRS[3])  # the inverted one
    second, again, third = (successor_pair(base, 2), successor_pair(base, 2),
                            successor_pair(base, 3))
    assert second == again and second != third
    assert (second.pair_id, third.pair_id) == ("cpi-above-3-n2", "cpi-above-3-n3")
    assert second.inverted and second.b.ticker == "KXCPIABOVE3-N2"  # type: ignore[union-attr]
    ids = {(leg.condition_id, leg.yes_token, leg.no_token)  # type: ignore[union-attr]
           for leg in (base.a, second.a, third.a)}
    assert len(ids) == 3 and all(len(set(found)) == 3 for found in ids)
    assert second.a.tick == base.a.tick and second.a.fee_rate == base.a.fee_rate  # type: ignore[union-attr]


def test_a_long_pair_id_stays_a_dns_label_and_a_taken_one_is_refused() -> None:
    long = PairConfig.model_validate({**DEFAULT_PAIRS[0], "pair_id": "x" * 63})
    assert successor_pair(long, 12).pair_id == "x" * 59 + "-n12"
    config = load_config(environ={}, overrides={})
    universe = TradingUniverse.from_config(config.market)
    with pytest.raises(ValueError, match="configured twice"):
        universe.add(config.market.pairs[0])
    pair, fresh = universe.add(successor_pair(config.market.pairs[0], 2))
    assert len(fresh) == 2 and universe.pairs[-1] == pair


async def test_the_venues_relist_however_the_market_is_stepped() -> None:
    """`arbiter emulator` steps the synthetic market itself: the successors are listed on
    the venues there too (an engine on those venues does not learn of them: its pairs come
    from its configuration), and with relisting off nothing is listed."""
    for relist in (True, False):
        venues = EmulatedVenues.create(load_config(environ={}, overrides={
            "market.lifetime_steps": 20, "market.relist": relist}))
        for _ in range(20):
            await venues.market.step()
        listed = venues.listings.listed if venues.listings is not None else []
        assert len(venues.market.resolutions) == 4
        assert len(listed) == (4 if relist else 0)
        for pair in listed:
            assert pair.b.ticker in venues["kalshi"].engines  # type: ignore[union-attr]
            assert pair.a.condition_id in venues["polymarket"].engines  # type: ignore[union-attr]
