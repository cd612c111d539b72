"""A Python client for an askdocs server: ``Client`` (sync) and ``AsyncClient``, over httpx.

Responses are the server's own pydantic models (``search.models``, ``api.collections``), so a client and the
server cannot disagree on a field. A 503 (no index loaded yet, a reload in progress, the server at its
connection limit) is retried with growing waits; every other refusal raises ``AskdocsError`` with the server's
``message``.

    from askdocs.api.client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as askdocs:
        print(askdocs.ask("Which G7 country voted for the truce?").answer.text)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from askdocs.index.errors import AskdocsError
from askdocs.search.models import AskResponse, DocumentList, DocumentOut, DocumentSummary, Filters, Health, Mode, SearchResponse

from .collections import CollectionList
from .reload import ReloadResult

__all__ = ["AskdocsError", "AsyncClient", "Client", "Refused"]

DEFAULT_URL = "http://127.0.0.1:8000"
Model = TypeVar("Model", bound=BaseModel)


class Refused(AskdocsError):
    """The server refused a request: the server's own error, as far as HTTP carries it. ``status`` is the HTTP
    status, ``message`` the server's explanation (with its hint), ``code`` and ``hint`` as the server gave them,
    ``request_id`` the id its log has the request under. Catch it as ``AskdocsError``, like any askdocs error."""

    def __init__(self, status: int, message: str, request_id: str | None = None, body: Any = None):
        said = body if isinstance(body, dict) else {}
        hint = said.get("hint") if isinstance(said.get("hint"), str) else None
        if hint and message.endswith(f": {hint}"):  # the server's message is worded with its hint
            message = message[: -len(hint) - 2]
        super().__init__(message, hint)
        self.status = status
        self.code = said.get("code") if isinstance(said.get("code"), str) else "error"
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        return f"{self.status}: {super().__str__()}" + (f" (request {self.request_id})" if self.request_id else "")


@dataclass
class _Call:
    method: str
    path: str
    model: type[BaseModel]
    params: list[tuple[str, str]] = field(default_factory=list)
    json: dict | None = None
    retry: bool = True  # reads are retried on 503; a reload is not repeated behind the caller's back
    ok: tuple[int, ...] = (200,)


class _Calls:
    """What each method sends and what it gets back, shared by the sync and async clients."""

    def __init__(self, base_url: str, api_key: str | None, retries: int, retry_wait: float):
        self.base_url = base_url.rstrip("/")
        self.headers = {"accept": "application/json", **({"authorization": f"Bearer {api_key}"} if api_key else {})}
        self.retries = retries
        self.retry_wait = retry_wait

    def ask(self, question: str, top_k: int, mode: Mode, filters, collection: str | None, format: str) -> _Call:
        body = {"question": question, "top_k": top_k, "mode": mode, "format": format,
                "filters": _filters_json(filters), "collection": collection}
        return _Call("POST", "/ask", AskResponse, json=_without_none(body))

    def search(self, query: str, top_k: int, mode: Mode, filters, collection: str | None) -> _Call:
        body = {"query": query, "top_k": top_k, "mode": mode, "filters": _filters_json(filters),
                "collection": collection}
        return _Call("POST", "/tools/search_documents", SearchResponse, json=_without_none(body))

    def documents(self, cursor: str | None, limit: int, filters, collection: str | None) -> _Call:
        params = [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
        params += [("collection", collection)] if collection else []
        return _Call("GET", "/documents", DocumentList, params=params + _filter_params(filters))

    def document(self, doc_id: str, collection: str | None) -> _Call:
        # Ids are paths: their slashes stay, everything else that is not safe in a URL is %-encoded (UTF-8).
        path = "/documents/" + quote(doc_id, safe="/")
        return _Call("GET", path, DocumentOut, params=[("collection", collection)] if collection else [])

    def collections(self) -> _Call:
        return _Call("GET", "/collections", CollectionList)

    def health(self) -> _Call:
        # 503 is an answer here (no_index, degraded), not a reason to wait.
        return _Call("GET", "/health", Health, retry=False, ok=(200, 503))

    def reload(self, collection: str | None) -> _Call:
        return _Call("POST", "/admin/reload", ReloadResult, params=[("collection", collection)] if collection else [],
                     retry=False)

    # ------------------------------------------------------------ responses
    def should_retry(self, call: _Call, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before trying ``call`` again, or None to stop."""
        if not call.retry or response.status_code != 503 or attempt >= self.retries:
            return None
        asked = response.headers.get("retry-after", "")
        wait = self.retry_wait * 2 ** attempt
        return min(float(asked) if asked.isdigit() else wait, 10.0)

    def parse(self, call: _Call, response: httpx.Response) -> BaseModel:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code not in call.ok:
            said = body.get("message") or body.get("detail") if isinstance(body, dict) else None
            raise Refused(response.status_code, str(said or response.reason_phrase),
                               response.headers.get("x-request-id"), body)
        return call.model.model_validate(body)


class Client:
    """A synchronous client. ``retries``: how many times a 503 is retried, waiting ``retry_wait`` seconds,
    then twice as long each time (at most 10 s, or the server's Retry-After)."""

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 60.0,
                 retries: int = 6, retry_wait: float = 0.25, http: httpx.Client | None = None):
        self._calls = _Calls(base_url, api_key, retries, retry_wait)
        self._http = http or httpx.Client(timeout=timeout)

    def _run(self, call: _Call) -> Any:
        attempt = 0
        while True:
            response = self._http.request(call.method, self._calls.base_url + call.path, params=call.params,
                                          json=call.json, headers=self._calls.headers)
            wait = self._calls.should_retry(call, response, attempt)
            if wait is None:
                return self._calls.parse(call, response)
            time.sleep(wait)
            attempt += 1

    def ask(self, question: str, *, top_k: int = 5, mode: Mode = "hybrid", filters: Filters | dict | None = None,
            collection: str | None = None, format: str = "json") -> AskResponse:
        return self._run(self._calls.ask(question, top_k, mode, filters, collection, format))

    def search(self, query: str, *, top_k: int = 5, mode: Mode = "hybrid", filters: Filters | dict | None = None,
               collection: str | None = None) -> SearchResponse:
        return self._run(self._calls.search(query, top_k, mode, filters, collection))

    def documents(self, *, cursor: str | None = None, limit: int = 50, filters: Filters | dict | None = None,
                  collection: str | None = None) -> DocumentList:
        return self._run(self._calls.documents(cursor, limit, filters, collection))

    def iter_documents(self, *, limit: int = 200, filters: Filters | dict | None = None,
                       collection: str | None = None) -> Iterator[DocumentSummary]:
        cursor = None
        while True:
            page = self.documents(cursor=cursor, limit=limit, filters=filters, collection=collection)
            yield from page.documents
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def document(self, doc_id: str, *, collection: str | None = None) -> DocumentOut:
        return self._run(self._calls.document(doc_id, collection))

    def collections(self) -> CollectionList:
        return self._run(self._calls.collections())

    def health(self) -> Health:
        return self._run(self._calls.health())

    def reload(self, *, collection: str | None = None) -> ReloadResult:
        return self._run(self._calls.reload(collection))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient:
    """The same as ``Client``, for asyncio: every method is a coroutine."""

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 60.0,
                 retries: int = 6, retry_wait: float = 0.25, http: httpx.AsyncClient | None = None):
        self._calls = _Calls(base_url, api_key, retries, retry_wait)
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def _run(self, call: _Call) -> Any:
        attempt = 0
        while True:
            response = await self._http.request(call.method, self._calls.base_url + call.path, params=call.params,
                                                json=call.json, headers=self._calls.headers)
            wait = self._calls.should_retry(call, response, attempt)
            if wait is None:
                return self._calls.parse(call, response)
            await asyncio.sleep(wait)
            attempt += 1

    async def ask(self, question: str, *, top_k: int = 5, mode: Mode = "hybrid",
                  filters: Filters | dict | None = None, collection: str | None = None,
                  format: str = "json") -> AskResponse:
        return await self._run(self._calls.ask(question, top_k, mode, filters, collection, format))

    async def search(self, query: str, *, top_k: int = 5, mode: Mode = "hybrid",
                     filters: Filters | dict | None = None, collection: str | None = None) -> SearchResponse:
        return await self._run(self._calls.search(query, top_k, mode, filters, collection))

    async def documents(self, *, cursor: str | None = None, limit: int = 50, filters: Filters | dict | None = None,
                        collection: str | None = None) -> DocumentList:
        return await self._run(self._calls.documents(cursor, limit, filters, collection))

    async def iter_documents(self, *, limit: int = 200, filters: Filters | dict | None = None,
                             collection: str | None = None) -> AsyncIterator[DocumentSummary]:
        cursor = None
        while True:
            page = await self.documents(cursor=cursor, limit=limit, filters=filters, collection=collection)
            for document in page.documents:
                yield document
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def document(self, doc_id: str, *, collection: str | None = None) -> DocumentOut:
        return await self._run(self._calls.document(doc_id, collection))

    async def collections(self) -> CollectionList:
        return await self._run(self._calls.collections())

    async def health(self) -> Health:
        return await self._run(self._calls.health())

    async def reload(self, *, collection: str | None = None) -> ReloadResult:
        return await self._run(self._calls.reload(collection))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def _filters_json(filters: Filters | dict | None) -> dict | None:
    if filters is None:
        return None
    # Validated here too, so a mistake is reported before anything is sent.
    return Filters.model_validate(filters).model_dump(mode="json", exclude_none=True)


def _filter_params(filters: Filters | dict | None) -> list[tuple[str, str]]:
    """/ask's filters as GET /documents's query parameters."""
    given = _filters_json(filters)
    if not given:
        return []
    params = [(name, str(given[name])) for name in ("source", "modified_after", "modified_before") if name in given]
    params += [("doc_id", d) for d in given.get("doc_ids", [])] + [("type", t) for t in given.get("types", [])]
    for name, expected in (given.get("meta") or {}).items():
        for item in expected if isinstance(expected, list) else [expected]:
            params.append(("meta", f"{name}={item}"))
    return params


def _without_none(body: dict) -> dict:
    return {key: value for key, value in body.items() if value is not None}
