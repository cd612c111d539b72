"""GET /metrics: what an operator watches, in Prometheus's text format (prometheus-client).

Requests are counted and timed per route template (``/documents/{doc_id:path}``, never the id itself, so the
number of series stays fixed) and, for questions, per mode; answers are counted as answered or not. The index
figures (documents, chunks, generation, reloads, folder syncs) are read from the collections when scraped.
Each app has its own registry: two apps in one process (tests, several servers) never share counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .collections import Collections

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Where a route leaves labels for the request's series (the question's mode): one dict shared by every copy of
# the scope that middleware makes on the way in.
LABELS = "askdocs.metrics"
NO_MODE = ""
# Searches take milliseconds to a few seconds on a CPU.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, collections: Collections):
        self.registry = CollectorRegistry()
        self.requests = Counter("askdocs_http_requests", "HTTP requests answered, by route template, method, "
                                "mode (questions) and status.", ["route", "method", "mode", "status"],
                                registry=self.registry)
        self.latency = Histogram("askdocs_http_request_duration_seconds", "Time to answer an HTTP request, by "
                                 "route template, method and mode (questions).", ["route", "method", "mode"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.answers = Counter("askdocs_answers", "Questions answered through POST /ask, by mode and outcome "
                               "(answer or no_answer); no-answer rate = no_answer / all.",
                               ["mode", "outcome"], registry=self.registry)
        self.cache_hits = Counter("askdocs_answer_cache_hits", "Questions through POST /ask answered from the cache "
                                  "of repeated questions, by mode (of askdocs_answers_total).", ["mode"],
                                  registry=self.registry)
        self.registry.register(IndexCollector(collections))

    def count_answer(self, mode: str, no_answer: bool, cached: bool) -> None:
        self.answers.labels(mode=mode, outcome="no_answer" if no_answer else "answer").inc()
        if cached:
            self.cache_hits.labels(mode=mode).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def set_mode(scope: Scope, mode: str) -> None:
    """Label this request's series with the question's mode (called by the route that knows it)."""
    labels = scope.get(LABELS)
    if labels is not None:
        labels["mode"] = mode


class MetricsMiddleware:
    """Counts and times every request, refused ones included (it sits outside the key and body checks)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list):
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's routes, to name a request by its template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        labels = {"mode": NO_MODE}
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app({**scope, LABELS: labels}, receive, record_status)
        finally:
            route = self._template(scope)
            method = scope["method"]
            self.metrics.requests.labels(route=route, method=method, mode=labels["mode"], status=str(status)).inc()
            self.metrics.latency.labels(route=route, method=method, mode=labels["mode"]).observe(
                time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "path", "") or "/"
        # Any address at all may be asked for; one series holds them all rather than one each.
        return "(unmatched)"


class IndexCollector(Collector):
    """Index and sync figures per collection, read at scrape time."""

    def __init__(self, collections: Collections):
        self.collections = collections

    def collect(self) -> Iterator:
        documents = GaugeMetricFamily("askdocs_index_documents", "Documents in the served generation.",
                                      labels=["collection"])
        chunks = GaugeMetricFamily("askdocs_index_chunks", "Chunks (passages) in the served generation.",
                                   labels=["collection"])
        generation = GaugeMetricFamily("askdocs_index_generation", "The generation served.", labels=["collection"])
        loaded = GaugeMetricFamily("askdocs_index_loaded", "1 if the collection has an index loaded.",
                                   labels=["collection"])
        reloads = CounterMetricFamily("askdocs_index_reloads", "New generations swapped in while serving.",
                                      labels=["collection"])
        refusals = CounterMetricFamily("askdocs_index_reload_refusals", "Generations refused (could not be "
                                       "opened); the served one stayed.", labels=["collection"])
        syncs = CounterMetricFamily("askdocs_syncs", "serve --watch: incremental builds run.", labels=["collection"])
        sync_seconds = GaugeMetricFamily("askdocs_sync_last_duration_seconds", "serve --watch: how long the last "
                                         "sync took.", labels=["collection"])
        sync_ok = GaugeMetricFamily("askdocs_sync_last_success", "serve --watch: 1 if the last sync succeeded.",
                                    labels=["collection"])
        pending = GaugeMetricFamily("askdocs_sync_pending_changes", "serve --watch: changes seen, not yet built.",
                                    labels=["collection"])
        for name, holder in self.collections.holders.items():
            engine = holder.engine
            loaded.add_metric([name], 0 if engine is None else 1)
            if engine is not None:
                stats = engine.stats()
                documents.add_metric([name], stats.documents)
                chunks.add_metric([name], stats.chunks)
                generation.add_metric([name], stats.generation)
            reloads.add_metric([name], holder.reloads)
            refusals.add_metric([name], holder.refusals)
            sync = self.collections.syncs.get(name)
            if sync is not None:
                status = sync.status()
                syncs.add_metric([name], status["syncs"])
                pending.add_metric([name], status["pending_changes"])
                if status["last"] is not None:
                    sync_seconds.add_metric([name], status["last"]["seconds"])
                    sync_ok.add_metric([name], 1 if status["last"]["ok"] else 0)
        yield from (documents, chunks, generation, loaded, reloads, refusals, syncs, sync_seconds, sync_ok, pending)
