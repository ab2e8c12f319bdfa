"""Venue gateways: wire-protocol signing, order building, nonces and rate limits per venue."""
