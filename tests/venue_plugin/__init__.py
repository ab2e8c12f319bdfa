"""Venues that live only in the test tree and plug in through the venue registry."""
