"""Arbiter: cross-venue prediction-market arbitrage. services/ is the `arbiter` package."""
