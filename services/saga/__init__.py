"""Saga service: the two-leg execution orchestrator with compensation."""
