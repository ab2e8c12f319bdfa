"""Venue emulators: matching engines behind the real Polymarket and Kalshi wire formats."""
