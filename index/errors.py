"""Every refusal askdocs makes, under one root: what went wrong (``message``), what to do about it (``hint``),
how a web client should read it (``status``, an HTTP status) and a short machine name (``code``).

This module sits at the bottom of ``index`` (it imports nothing of askdocs), so any layer may raise these and
each face maps them once: HTTP in ``api.errors``, MCP in ``api.mcp``, the command line in ``api.cli``. Classes
that used to derive from ``ValueError``, ``LookupError``, ... still do, so code that catches those keeps working.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "AskdocsError", "BadInput", "BuildError", "Conflict", "Forbidden", "IndexCorrupt", "IndexMismatch", "IndexNeedsRebuild",
    "IndexUnavailable", "NotFound", "Unavailable", "describe_validation", "rebuild_command", "rebuild_hint",
]


class AskdocsError(Exception):
    """The root of askdocs' errors. ``str()`` is the message and the hint in one line, as every face shows it."""

    status = 500
    code = "error"

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint or None
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message

    def __reduce__(self):
        # Subclasses take other arguments than (message, hint); their state is restored as it was, not re-made.
        return _restore, (type(self), self.__dict__)


def _restore(cls: type[AskdocsError], state: dict) -> AskdocsError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message"))
    error.__dict__.update(state)
    return error


# ---------------------------------------------------------------- kinds: each face maps these, not the classes


class BadInput(AskdocsError):
    """What was given cannot be used as it is (a request, an argument, a path, a setting, a file)."""

    status = 422
    code = "bad_input"
    # Where in a request the bad value was (HTTP's ``loc``: ("query", "cursor")); empty: the body.
    loc: tuple[str, ...] = ()


class NotFound(AskdocsError):
    status = 404
    code = "not_found"


class Forbidden(AskdocsError):
    status = 403
    code = "forbidden"


class Conflict(AskdocsError):
    """The request is well formed, but the state of things refuses it (a changed file, a refused reload)."""

    status = 409
    code = "conflict"


class Unavailable(AskdocsError):
    """Something askdocs needs is missing or cannot be reached; trying again after the hint may work."""

    status = 503
    code = "unavailable"


# ---------------------------------------------------------------- the index


class BuildError(BadInput):
    """A build refused before anything was published; the existing index, if any, is unchanged."""

    code = "build_refused"


class IndexUnavailable(Unavailable):
    """Base of the errors an index can be refused with; the message says what to do."""

    code = "index_unavailable"


class IndexNotFound(IndexUnavailable):
    code = "index_not_found"


class BuildLocked(IndexUnavailable):
    code = "build_locked"


class IndexUnwritable(IndexUnavailable):
    code = "index_unwritable"


def rebuild_command(index_dir: Path | None = None, sources: Iterable[str] = (), vector_store: str | None = None) -> str:
    """The ``build-index`` command that rebuilds the index at ``index_dir`` from ``sources`` (the folders its
    manifest recorded), paths absolute: run as written it rebuilds this index, not seeds/ into var/index."""
    words = ["build-index"]
    if index_dir is not None:
        words += [shlex.quote(s) for s in sources] or ["/path/to/your/documents"]
        words += ["--index", shlex.quote(str(Path(index_dir).resolve()))]
    words.append("--rebuild")
    if vector_store is not None:
        words += ["--vector-store", vector_store]
    return f"`{' '.join(words)}`"


def rebuild_hint(index_dir: Path | None = None, sources: Iterable[str] = (), vector_store: str | None = None) -> str:
    return f"rebuild with {rebuild_command(index_dir, sources, vector_store)}"


class IndexNeedsRebuild(IndexUnavailable):
    """The index cannot be used as it is on disk; the hint is the command that rebuilds it (or ``hint``)."""

    code = "index_needs_rebuild"

    def __init__(self, message: str, index_dir: Path | None = None, sources: Iterable[str] = (),
                 vector_store: str | None = None, hint: str | None = None):
        super().__init__(message, hint or rebuild_hint(index_dir, sources, vector_store))
        self.index_dir = index_dir


class IndexCorrupt(IndexNeedsRebuild):
    """Files of the index are missing, damaged or disagree with its manifest."""

    code = "index_corrupt"


class IndexMismatch(IndexNeedsRebuild):
    """A sound index this askdocs cannot use: another format version, model, dimension or runtime."""

    code = "index_mismatch"


# ---------------------------------------------------------------- validation errors, in words


# pydantic's messages start with the kind of value ("String should have at most 2000 characters"); a person
# reads them better with the field's name in its place ("question should have at most 2000 characters").
_PYDANTIC_SUBJECTS = ("String ", "Input ", "Value ", "List ", "Dictionary ", "Datetime ", "Date ")


def describe_validation(errors: Iterable[dict], whole: str = "body") -> str:
    """pydantic's (or FastAPI's) validation errors as one line a person or a model can act on: which field,
    what is wrong with it. ``whole`` names the thing validated, for an error about it rather than a field."""
    return "; ".join(_describe(error, whole) for error in errors)


def _describe(error: dict, whole: str) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or whole
    kind = error.get("type")
    message = error.get("msg", "invalid")
    if kind == "json_invalid":
        return "request body is not valid JSON"
    if kind == "extra_forbidden":
        return f"unknown field {location!r}"
    if kind in ("model_attributes_type", "dict_type") and location == "body":
        return "the request body should be a JSON object, like {\"question\": \"...\"}"
    if kind == "value_error":
        # Some of our validators' messages name the field already ("question must not be blank").
        message = message.removeprefix("Value error, ")
        return message if message.startswith(location.rsplit(".", 1)[-1]) else f"{location}: {message}"
    for subject in _PYDANTIC_SUBJECTS:
        if message.startswith(subject):
            return f"{location} {message[len(subject):]}"
    return f"{location}: {message}"
