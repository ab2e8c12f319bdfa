"""Onboarding, the venue-neutral part: how a failed credential hand-out is reported.

Each venue onboards the way it hands credentials out (`arbiter.venues.<slug>.onboarding`):
Polymarket derives L2 API credentials from an L1 (EIP-712 ClobAuth) signature of the wallet;
Kalshi takes a public key and returns its key id. Paper gateways onboard themselves against
the emulators like this; with real venues the vault holds what onboarding produced.
"""

from __future__ import annotations


class OnboardingError(RuntimeError):
    """The venue refused to issue credentials; the message carries its answer."""
