"""Shared plumbing with no business logic: config, bus, gRPC, health, clocks."""
