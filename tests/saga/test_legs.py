"""Leg ordering: the leg less likely to fill goes first; then the slower venue."""

from __future__ import annotations

from arbiter.saga.legs import LegChooser

POLY, KALSHI = 1, 2


def test_unknown_venues_break_the_tie_deterministically() -> None:
    chooser = LegChooser()
    assert chooser.yes_first(POLY, KALSHI) is True
    assert chooser.yes_first(KALSHI, POLY) is True


def test_the_venue_that_fills_less_goes_first() -> None:
    chooser = LegChooser()
    for _ in range(10):
        chooser.observe_fill(KALSHI, 10, 4)
        chooser.observe_fill(POLY, 10, 10)
    assert chooser.venues[KALSHI].fill_per_mille < chooser.venues[POLY].fill_per_mille
    assert chooser.yes_first(KALSHI, POLY) is True  # YES on Kalshi is the riskier leg
    assert chooser.yes_first(POLY, KALSHI) is False  # so NO on Kalshi goes first instead


def test_with_equal_fill_rates_the_slower_venue_goes_first() -> None:
    chooser = LegChooser()
    for _ in range(5):
        chooser.observe_ack(POLY, 40_000)
        chooser.observe_ack(KALSHI, 4_000)
    assert chooser.yes_first(POLY, KALSHI) is True
    assert chooser.yes_first(KALSHI, POLY) is False


def test_averages_move_gradually_and_ignore_empty_orders() -> None:
    chooser = LegChooser()
    chooser.observe_fill(POLY, 0, 0)
    assert POLY not in chooser.venues or chooser.venues[POLY].seen == 0
    chooser.observe_fill(POLY, 10, 0)
    assert 800 < chooser.venues[POLY].fill_per_mille < 1000  # one miss does not flip it all
