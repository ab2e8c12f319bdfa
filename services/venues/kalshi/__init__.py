"""Kalshi trade API v2: codecs, gateway, emulator, rate limits, onboarding and checks.

`PLUGIN` is what the venue registry loads (entry point `arbiter.venues: kalshi`).
"""

from arbiter.venues.kalshi.plugin import PLUGIN

__all__ = ["PLUGIN"]
