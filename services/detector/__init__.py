"""Detector service: market pairs, fees, depth-aware sizing, opportunities with a TTL."""
