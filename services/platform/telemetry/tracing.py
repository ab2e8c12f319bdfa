"""OpenTelemetry tracing: one trace from a venue tick to the fills it led to.

The W3C `traceparent` travels in bus headers (Kafka record headers, `Envelope.headers` on
the memory bus) and in gRPC metadata, so the trace crosses processes exactly as the data
does. Where spans start:

* gateway: a root span per normalised book event, back-dated to the venue frame's receipt;
* bus: a CONSUMER span per handled message, child of the publisher's context;
* rpc: a SERVER span per call (`LocalStub` embedded, interceptors over gRPC).

Export is opt-in (`setup_tracing`): OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, a
JSON-lines file when `ARBITER_TRACE_FILE` is set (`-` for stderr), otherwise nothing. When
off, every helper here is a flag test returning a shared no-op context manager, so the
per-tick path pays nothing. This module keeps its own provider instead of the global one:
OpenTelemetry refuses to replace a global provider, and tests set one up per test.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import IO

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
ATTR_SERVICE = "arbiter.service"
# gRPC service (proto name) -> the Arbiter service that serves it.
RPC_OWNERS = {"Risk": "risk", "OrderEntry": "gateway", "Control": "control", "Signer": "vault"}

_propagator = TraceContextTextMapPropagator()
_NO_SPAN = contextlib.nullcontext()
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None


def setup_tracing(
    service: str,
    exporter: SpanExporter | None = None,
    environ: Mapping[str, str] = os.environ,
) -> TracerProvider | None:
    """Turn tracing on for this process; returns the provider, or None when nothing is
    configured. `exporter` (tests: an in-memory one) is exported to synchronously."""
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    elif environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())  # reads the OTEL_* variables
    elif environ.get("ARBITER_TRACE_FILE"):
        processor = BatchSpanProcessor(_file_exporter(environ["ARBITER_TRACE_FILE"]))
    else:
        return None
    shutdown_tracing()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    global _provider, _tracer
    _provider, _tracer = provider, provider.get_tracer("arbiter")
    return provider


def shutdown_tracing() -> None:
    """Flush and stop exporting; tracing is off afterwards."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider = _tracer = None


def enabled() -> bool:
    return _tracer is not None


def _file_exporter(path: str) -> ConsoleSpanExporter:
    out: IO[str] = sys.stderr if path == "-" else open(path, "a", encoding="utf-8")  # noqa: SIM115
    return ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")


# -- propagation ------------------------------------------------------------------------
def inject(carrier: MutableMapping[str, str]) -> None:
    """Write the current trace context into outgoing bus headers / rpc metadata."""
    if _tracer is not None:
        _propagator.inject(carrier)


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    return _propagator.extract(carrier)


def metadata_carrier(metadata: Sequence[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """gRPC metadata (a sequence of pairs) as a carrier dict."""
    return {k: v for k, v in metadata or ()
            if k in (TRACEPARENT, "tracestate") and isinstance(v, str)}


def outgoing_metadata(metadata: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
    """`metadata` plus the current trace context, for a gRPC call."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return [*(metadata or ()), *carrier.items()]


# -- spans ------------------------------------------------------------------------------
def consumer_span(
    name: str, service: str, headers: Mapping[str, str], attributes: Mapping[str, str]
) -> contextlib.AbstractContextManager[object]:
    """A span for handling one bus message, child of the context in its headers."""
    if _tracer is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(
        name, context=extract(headers), kind=SpanKind.CONSUMER,
        attributes={ATTR_SERVICE: service, **attributes})


def server_span(
    method: str, carrier: Mapping[str, str]
) -> contextlib.AbstractContextManager[object]:
    """A span for serving one RPC (`method` is `/package.Service/Method`)."""
    if _tracer is None:
        return _NO_SPAN
    service = method.rsplit("/", 2)[-2].rsplit(".", 1)[-1]
    return _tracer.start_as_current_span(
        method.lstrip("/"), context=extract(carrier), kind=SpanKind.SERVER,
        attributes={ATTR_SERVICE: RPC_OWNERS.get(service, service.lower()),
                    "rpc.system": "grpc", "rpc.method": method})


def root_span(
    name: str, service: str, start_micros: int, attributes: Mapping[str, str]
) -> contextlib.AbstractContextManager[object]:
    """A new trace for a venue message, starting at the moment it was received."""
    if _tracer is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(
        name, context=otel_context.Context(), kind=SpanKind.CONSUMER,
        start_time=start_micros * 1000, attributes={ATTR_SERVICE: service, **attributes})


@contextlib.contextmanager
def resumed(carrier: Mapping[str, str]) -> Iterator[None]:
    """Run a block inside a context captured earlier with `inject` (e.g. a saga's own
    context while handling a fill that arrived on a venue stream of its own)."""
    if _tracer is None:
        yield
        return
    token = otel_context.attach(extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for logs."""
    if _tracer is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def exemplar() -> dict[str, str] | None:
    """Exemplar labels linking a histogram observation to the current trace."""
    ids = current_ids()
    return None if ids is None else {"trace_id": ids[0]}
