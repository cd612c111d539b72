"""``askdocs serve`` sends traces when an OTLP endpoint is configured (the standard OTEL_* variables).

Each question is one trace of spans, askdocs.ask over askdocs.embed, askdocs.retrieve (with askdocs.fuse in
hybrid mode) and askdocs.answer (search.tracing). Nothing is set up, and the SDK is not needed, without an
endpoint.
"""

from __future__ import annotations

import os

from askdocs.index.errors import Unavailable

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class TracingUnavailable(Unavailable, RuntimeError):
    """An endpoint is configured but the tracing extra is not installed; the message says what to install."""

    code = "tracing_unavailable"


def configure_tracing(version: str) -> str | None:
    """Export spans over OTLP/HTTP if an endpoint is set; returns where to, or None if tracing stays off."""
    endpoint = next((os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name)), None)
    if endpoint is None:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(
            f"{next(n for n in ENDPOINT_VARIABLES if os.environ.get(n))} is set, but tracing is not installed "
            f"({exc.name} is missing): pip install 'askdocs[tracing]', or unset it") from None
    # OTEL_SERVICE_NAME, when set, wins over this default (the SDK reads it).
    provider = TracerProvider(resource=Resource.create({"service.name": "askdocs", "service.version": version}))
    # The exporter reads the endpoint, headers and timeout from the same OTEL_* variables.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return endpoint
