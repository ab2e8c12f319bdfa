"""The venue's name in the registry, on the wire, in bus keys and metric labels, and where
it publishes what."""

VENUE = "polymarket"

PRODUCTION_CLOB = "https://clob.polymarket.com"
PRODUCTION_DATA_API = "https://data-api.polymarket.com"
"""Positions, among others, are published by the Data API, not the CLOB host."""

DATA_API_PREFIX = "/data-api"
"""Gateway paths under this prefix go to the Data API host (the prefix dropped); an emulator
serves the Data API under it on its own port."""
