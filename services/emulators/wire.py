"""Decimal-string formatting shared by the emulated venues' wire messages."""

from __future__ import annotations

from arbiter.core.units import to_decimal


def dollars(micros: int, places: int | None = None) -> str:
    """Micro-dollars as a plain decimal string: 420000 -> "0.42" (or fixed `places`)."""
    value = to_decimal(micros)
    if places is not None:
        return f"{value:.{places}f}"
    text = format(value.normalize(), "f")
    return text


def size_text(micros: int, places: int | None = None) -> str:
    """Micro-contracts as a decimal string: 30_500_000 -> "30.5"."""
    return dollars(micros, places)
