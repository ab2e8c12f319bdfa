"""Emulators served over real sockets, driven by the production gateways."""
