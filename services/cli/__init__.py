"""Command line: `arbiter run`, `arbiter serve SERVICE`, and operator sub-commands."""
