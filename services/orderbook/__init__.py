"""Order book service: L2 books for every instrument, staleness, depth publication."""
