"""Venues, one package each, all of the same shape (see `plugin.py` and docs/extending.md).

Each package exposes one `VenuePlugin` and declares it in the `arbiter.venues` entry-point
group; nothing outside a venue's package imports it.
"""
