"""Observability: the metric registry, tracing, structured logs and metrics serving.

Each concern has its own module (metrics, tracing, logging, serve); see docs/observability.md.
"""
