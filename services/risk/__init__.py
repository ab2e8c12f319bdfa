"""Risk service: the per-tenant pre-trade gate chain, positions and the HardStop latch."""
