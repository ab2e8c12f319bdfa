"""Polymarket CLOB V2: codecs, gateway, emulator, rate limits, onboarding and checks.

`PLUGIN` is what the venue registry loads (entry point `arbiter.venues: polymarket`).
"""

from arbiter.venues.polymarket.plugin import PLUGIN

__all__ = ["PLUGIN"]
