"""Composition roots: wire the same services into the embedded or distributed topology."""
