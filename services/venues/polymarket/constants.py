"""The venue's name in the registry, on the wire, in bus keys and metric labels."""

VENUE = "polymarket"
