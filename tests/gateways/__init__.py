"""Tests for the venue gateways (signing, amounts, nonces, rate limits, CLI)."""
