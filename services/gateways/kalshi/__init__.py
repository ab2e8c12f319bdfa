"""Kalshi trade API v2: RSA-PSS/Ed25519 request signing and fixed-point order bodies."""
