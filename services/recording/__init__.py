"""Recordings of raw venue frames (issue #15): the format, a rotating writer, and importers
from the venues' own dump formats, so replays start from exactly what a venue sent."""
