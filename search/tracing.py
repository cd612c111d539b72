"""Spans for the stages of a question (embed, retrieve, fuse, answer), when OpenTelemetry is installed.

Without ``opentelemetry-api`` every span is a no-op context; with it but no tracer provider configured (serve
configures one only when an OTLP endpoint is set: api.tracing), the API's own spans cost next to nothing.
"""

from __future__ import annotations

from contextlib import nullcontext

try:
    from opentelemetry import trace
except ImportError:  # tracing is an extra (askdocs[tracing])
    trace = None

# A proxy until a provider is set, so spans go wherever the provider configured later sends them.
_TRACER = trace.get_tracer("askdocs") if trace is not None else None


def span(name: str, **attributes):
    """A span around one stage, named ``askdocs.<name>``, under the current one (the question's)."""
    if _TRACER is None:
        return nullcontext()
    return _TRACER.start_as_current_span(f"askdocs.{name}", attributes=attributes)
