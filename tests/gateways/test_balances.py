"""Balances as each venue publishes them, read by the real gateways from the real
emulators: Kalshi's `GET /portfolio/balance` (cents and a dollar string), Polymarket's
`GET /balance-allowance` (base-unit strings, with the exchange's allowance)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from arbiter.core.units import ONE_DOLLAR, notional
from arbiter.emulators.venue import DEFAULT_FUNDS
from arbiter.gateways.base import VenueBalance, VenueMessageError
from arbiter.venues.kalshi.schemas import Balance
from arbiter.venues.polymarket.schemas import BalanceAllowance

from .venues import FILL, ONE, open_venue


def test_kalshi_balance_prefers_the_exact_dollar_string() -> None:
    reply = {"balance": 123456, "balance_dollars": "1234.5678", "portfolio_value": 150000,
             "updated_ts": 1_765_000_000}
    assert Balance.model_validate(reply).micros == 1_234_567_800
    assert Balance.model_validate({"balance": 123456}).micros == 1_234_560_000


@pytest.mark.parametrize("reply", [{"balance": -1}, {"balance": "100"}, {"balance": True},
                                   {"balance": 1, "balance_dollars": "-0.01"}, {}])
def test_kalshi_balance_nonsense_is_refused(reply: dict) -> None:
    with pytest.raises(ValidationError, match="balance"):
        Balance.model_validate(reply)


def test_polymarket_balance_and_allowance_are_base_units() -> None:
    reply = BalanceAllowance.model_validate({"balance": "2500000", "allowance": str(2**256 - 1)})
    assert reply.balance == 2_500_000 and reply.allowance == 2**256 - 1


@pytest.mark.parametrize("field", ["balance", "allowance"])
@pytest.mark.parametrize("value", ["-5", "1.5", 7, "", "1e9"])
def test_polymarket_amounts_that_are_not_base_units_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        BalanceAllowance.model_validate({"balance": "1", "allowance": "1", field: value})


def test_spendable_is_the_lesser_of_cash_and_allowance() -> None:
    assert VenueBalance(5, 3).spendable == 3 and VenueBalance(5).spendable == 5


@pytest.mark.parametrize("venue", ["kalshi", "polymarket"])
async def test_the_balance_falls_by_what_a_fill_cost(venue: str) -> None:
    setup = await open_venue(venue)
    before = await setup.gateway.balance()
    assert before.cash == DEFAULT_FUNDS
    assert before.spendable == DEFAULT_FUNDS  # paper accounts approved the exchange
    _, asks = setup.book()
    await setup.gateway.place(setup.request(asks[0][0], ONE))
    await setup.settle()
    spent = sum(notional(r.price_micros, r.qty_micros) + r.fee_micros for r in setup.reports
                if r.kind == FILL)
    assert 0 < spent < ONE_DOLLAR
    assert (await setup.gateway.balance()).cash == DEFAULT_FUNDS - spent


@pytest.mark.parametrize(("venue", "path"), [("kalshi", "/trade-api/v2/portfolio/balance"),
                                             ("polymarket", "/balance-allowance")])
async def test_an_unreadable_balance_is_an_error_not_a_number(venue: str, path: str) -> None:
    setup = await open_venue(venue)
    setup.link.fail("GET", path, (200, b'{"balance": "lots"}'))
    with pytest.raises(VenueMessageError, match="balance"):
        await setup.gateway.balance()


async def test_a_repeated_positions_cursor_ends_kalshi_reconciliation() -> None:
    setup = await open_venue("kalshi")
    page = b'{"market_positions": [], "event_positions": [], "cursor": "c1"}'
    setup.link.fail("GET", "/trade-api/v2/portfolio/positions", (200, page), (200, page))
    with pytest.raises(VenueMessageError, match="repeated"):
        await setup.gateway.positions()
