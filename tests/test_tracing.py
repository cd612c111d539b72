"""serve with an OTLP endpoint: a question becomes one trace with a span per stage, received by a real HTTP
collector stand-in and decoded with OpenTelemetry's own protobuf classes."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from .conftest import SEED_QUESTION, Server
from .fixtures import free_port

trace_proto = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2",
                                  reason="needs askdocs[tracing]")


class Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            self.received.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_question_is_one_trace_with_a_span_per_stage(tmp_path, seeds_index):
    port = free_port()
    collector = ThreadingHTTPServer(("127.0.0.1", port), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    server = Server(seeds_index, env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}/v1/traces",
                                      "OTEL_BSP_SCHEDULE_DELAY": "100"})
    try:
        assert "sending traces to" in server.output()
        asked = httpx.post(server.url + "/ask", json={"question": SEED_QUESTION, "top_k": 3}, timeout=60)
        assert asked.status_code == 200
        spans = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            spans = _spans(Collector.received)
            if any(s.name == "askdocs.ask" and _attributes(s).get("top_k") == 3 for s in spans.values()):
                break
            time.sleep(0.2)
    finally:
        server.stop()
        collector.shutdown()
    ask = next(s for s in spans.values() if s.name == "askdocs.ask" and _attributes(s).get("top_k") == 3)
    assert _attributes(ask)["mode"] == "hybrid" and _attributes(ask)["no_answer"] is False
    children = {s.name: s for s in spans.values() if s.parent_span_id == ask.span_id}
    assert set(children) == {"askdocs.embed", "askdocs.retrieve", "askdocs.answer"}
    retrieved = children["askdocs.retrieve"].span_id
    assert [s.name for s in spans.values() if s.parent_span_id == retrieved] == ["askdocs.fuse"]
    # The stages run in order, inside the question's span.
    embed, retrieve, answer = (children[f"askdocs.{n}"] for n in ("embed", "retrieve", "answer"))
    assert ask.start_time_unix_nano <= embed.start_time_unix_nano <= embed.end_time_unix_nano \
        <= retrieve.start_time_unix_nano <= retrieve.end_time_unix_nano <= answer.start_time_unix_nano \
        <= answer.end_time_unix_nano <= ask.end_time_unix_nano


def _spans(bodies: list[bytes]) -> dict:
    found = {}
    for body in list(bodies):
        request = trace_proto.ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found[span.span_id] = span
    return found


def _attributes(span) -> dict:
    values = {}
    for attribute in span.attributes:
        which = attribute.value.WhichOneof("value")
        values[attribute.key] = getattr(attribute.value, which)
    return values
