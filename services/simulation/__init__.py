"""Deterministic race simulator: the real saga, risk and gateways against faulty venues."""
