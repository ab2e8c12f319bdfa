"""Pure, synchronous, deterministic domain core shared by every service (no I/O)."""
