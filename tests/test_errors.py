"""One error root: every exception class of askdocs is an ``AskdocsError`` with a status, a code, a message and
a hint, and the three faces (HTTP, MCP, the command line) say the same error in the same words."""

from __future__ import annotations

import ast
import copy
import importlib
import os
import pickle
import pkgutil
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from pydantic import ValidationError
from starlette.testclient import TestClient

from askdocs.api.client import Refused
from askdocs.index.errors import (
    AskdocsError,
    BadInput,
    Conflict,
    Forbidden,
    IndexCorrupt,
    IndexNeedsRebuild,
    NotFound,
    Unavailable,
    describe_validation,
    rebuild_command,
)
from askdocs.index.settings import Settings
from askdocs.search.models import Question

from .conftest import BIN, ROOT, SEED_QUESTION, SEEDS, copy_index

LAYERS = ("index", "search", "api")
KINDS = {BadInput: 422, NotFound: 404, Forbidden: 403, Conflict: 409, Unavailable: 503}


def _modules():
    for layer in LAYERS:
        package = importlib.import_module(f"askdocs.{layer}")
        yield package
        for found in pkgutil.walk_packages(package.__path__, f"askdocs.{layer}."):
            yield importlib.import_module(found.name)


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for module in _modules():
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__):
                found.append(value)
    return found


def test_every_exception_class_has_the_root_a_status_and_a_code():
    classes = _exception_classes()
    assert len(classes) >= 27  # the 27 of the tree before the root, and the kinds; not an empty walk
    for cls in classes:
        assert issubclass(cls, AskdocsError), f"{cls.__module__}.{cls.__qualname__} is not an AskdocsError"
        assert isinstance(cls.status, int) and 400 <= cls.status <= 599, cls
        assert isinstance(cls.code, str) and cls.code, cls
        if cls not in (AskdocsError, Refused):  # Refused: whatever status the server answered with
            # A kind's status is the status of all that derive from it: a face maps kinds, never classes.
            kind = next((k for k in KINDS if issubclass(cls, k)), None)
            assert kind is not None and cls.status == KINDS[kind], cls


def test_the_classes_that_were_stdlib_errors_still_are():
    # Code that catches ValueError, LookupError, PermissionError or RuntimeError keeps catching them.
    from askdocs.api.collections import CollectionForbidden, CollectionSpecError, UnknownCollection
    from askdocs.api.security import KeyConfigError
    from askdocs.api.tracing import TracingUnavailable
    from askdocs.index.vectors import VectorIndexError
    from askdocs.index.decoding import NotText
    from askdocs.index.distributed import RayUnavailable
    from askdocs.index.embedder import UnknownModel
    from askdocs.index.page_render import NoSuchPage
    from askdocs.index.selection import SelectionError
    from askdocs.search.browse import BadCursor

    for cls in (CollectionSpecError, KeyConfigError, VectorIndexError, NotText, UnknownModel, SelectionError,
                BadCursor):
        assert issubclass(cls, ValueError), cls
    assert issubclass(UnknownCollection, LookupError) and issubclass(CollectionForbidden, PermissionError)
    assert issubclass(RayUnavailable, RuntimeError) and issubclass(TracingUnavailable, RuntimeError)
    assert issubclass(NoSuchPage, IndexError)


def test_an_error_is_its_message_and_hint_and_survives_a_copy_and_a_pickle():
    from askdocs.index.documents import Unreadable

    plain = NotFound("no such thing")
    assert str(plain) == "no such thing" and plain.hint is None
    hinted = BadInput("the cursor is out of range", "start again without one")
    assert str(hinted) == "the cursor is out of range: start again without one"
    damaged = IndexCorrupt("index file x is missing", Path("/srv/idx"), ["/docs/a", "/docs/b c"])
    assert damaged.hint == "rebuild with `build-index /docs/a '/docs/b c' --index /srv/idx --rebuild`"
    for again in (copy.copy(damaged), pickle.loads(pickle.dumps(damaged))):
        assert type(again) is IndexCorrupt and str(again) == str(damaged) and again.code == "index_corrupt"
        assert again.__traceback__ is None
    unreadable = pickle.loads(pickle.dumps(Unreadable("permission denied")))
    assert unreadable.category == "unreadable" and str(unreadable) == "permission denied"


def test_the_rebuild_command_is_written_in_one_place():
    assert rebuild_command() == "`build-index --rebuild`"
    assert rebuild_command(vector_store="milvus") == "`build-index --rebuild --vector-store milvus`"
    assert rebuild_command(Path("/srv/idx")) == "`build-index /path/to/your/documents --index /srv/idx --rebuild`"
    assert isinstance(IndexCorrupt("x"), IndexNeedsRebuild)
    # No module but index/errors.py spells the command out: the others raise IndexNeedsRebuild and its kin.
    writers = []
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                        "rebuild with" in node.value or "--rebuild`" in node.value):
                    writers.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(writers)) == ["index/errors.py"]


def test_one_validation_formatter_words_every_face_alike():
    try:
        Question(question="   ", top_k=0)
    except ValidationError as exc:
        errors = exc.errors()
    assert describe_validation(errors) == "question must not be blank; top_k should be greater than or equal to 1"
    assert describe_validation([{"type": "extra_forbidden", "loc": ("body", "colour"), "msg": "x"}]) \
        == "unknown field 'colour'"
    assert describe_validation([{"type": "missing", "loc": (), "msg": "Field required"}], "arguments") \
        == "arguments: Field required"


# ---------------------------------------------------------------- the three faces, over one damaged index


@pytest.fixture(scope="module")
def damaged_index(tmp_path_factory, seeds_index) -> Path:
    index = copy_index(seeds_index, tmp_path_factory.mktemp("damaged") / "index")
    generation = index / "generations" / (index / "CURRENT").read_text().strip()
    database = next(p for p in generation.iterdir() if p.suffix == ".sqlite")
    database.write_bytes(database.read_bytes() + b"\0")
    return index


def _expected(index: Path) -> IndexCorrupt:
    """The error the damaged index is refused with, as the library raises it."""
    from askdocs.index.store import open_stored_index

    with pytest.raises(IndexCorrupt) as refused:
        open_stored_index(index)
    return refused.value


def test_http_mcp_and_cli_say_the_same_error_with_the_same_hint(damaged_index, tmp_path):
    from askdocs.api.app import create_app

    expected = _expected(damaged_index)
    assert expected.hint == f"rebuild with `build-index {SEEDS} --index {damaged_index} --rebuild`"
    text = str(expected)

    with TestClient(create_app(Settings(index=damaged_index)), base_url="http://127.0.0.1") as client:
        answered = client.post("/ask", json={"question": SEED_QUESTION})
        blank = client.post("/ask", json={"question": "   "})
    assert answered.status_code == 503
    body = answered.json()
    assert body["message"] == body["detail"] == text
    assert body["code"] == "index_corrupt" and body["hint"] == expected.hint

    async def over_mcp() -> tuple[str, str]:
        params = StdioServerParameters(command=str(BIN / "askdocs"), args=["mcp", "--index", str(damaged_index)],
                                       env=dict(os.environ))
        async with Client(stdio_client(params, errlog=open(tmp_path / "mcp.log", "w")),
                          read_timeout_seconds=60) as mcp:
            refused = await mcp.call_tool("ask", {"question": SEED_QUESTION})
            invalid = await mcp.call_tool("ask", {"question": "   "})
        assert refused.is_error and invalid.is_error
        return refused.content[0].text, invalid.content[0].text

    mcp_text, mcp_invalid = anyio.run(over_mcp)
    assert mcp_text == text

    cli = subprocess.run([str(BIN / "askdocs"), "ask", SEED_QUESTION, "--index", str(damaged_index)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1
    assert cli.stderr.strip().splitlines()[-1] == f"error: {text}"

    # A question that fails validation: the same words from the one formatter, whichever face was asked.
    cli_blank = subprocess.run([str(BIN / "askdocs"), "ask", "   "], capture_output=True, text=True, timeout=120)
    assert cli_blank.returncode == 2
    assert blank.status_code == 422 and blank.json()["message"] == "question must not be blank"
    assert mcp_invalid == "invalid arguments for ask: question must not be blank"
    assert cli_blank.stderr.strip().splitlines()[-1] == "error: question must not be blank"
