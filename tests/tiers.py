"""Test tiers: every test is exactly one of ``unit``, ``integration`` or ``e2e`` (pyproject registers them).

- unit: no model, no subprocess; seconds for the whole tier (`make test-fast`).
- integration: the real model and index, in process (library calls, an in-process ASGI client).
- e2e: subprocesses (servers, the CLI, MCP over stdio), Chromium, Milvus, Ray.

The tier comes from what a test uses: the names its code, its fixtures' code and the helpers and classes of
tests/ they call refer to (so a fixture that starts a ``Server`` makes every test requesting it e2e). A
``pytest.mark.<tier>`` on a test or a ``pytestmark`` of its module overrides that where the names mislead.
The unit tier is enforced while it runs: loading a model or starting a process fails the test, so a test
that only passes with a model cannot hide in it.
"""

from __future__ import annotations

import dis
import functools
import importlib.abc
import importlib.util
import inspect
import subprocess
import sys
import threading
import types

import pytest

TIERS = ("unit", "integration", "e2e")

# A name (a global of the test's module, or the top of a module it imports) and the tier using it implies.
USES = {
    # A process of its own, a browser or a server of its own.
    "subprocess": "e2e", "BIN": "e2e", "Server": "e2e", "StorageBackend": "e2e", "stdio_client": "e2e",
    "playwright": "e2e", "sync_playwright": "e2e", "ray": "e2e", "pymilvus": "e2e", "MilvusClient": "e2e",
    "schemathesis": "e2e",
    # The embedding model, in process.
    "build_index": "integration", "build_from_documents": "integration", "load_embedder": "integration",
    "open_index": "integration", "Engine": "integration", "Collections": "integration", "create_app": "integration",
    "evaluate": "integration", "TestClient": "integration", "ASGITransport": "integration", "CliRunner": "integration",
}
RANK = {tier: rank for rank, tier in enumerate(TIERS)}


def _own(obj) -> bool:
    """Code of the test suite itself, whose references are followed (library code is not)."""
    module = getattr(obj, "__module__", None) or ""
    return module == "tests" or module.startswith("tests.") or module == "conftest"


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def uses(obj, seen: set[int] | None = None) -> set[str]:
    """The names of ``USES`` that ``obj`` (a function or class of tests/) refers to, following the functions
    and classes of tests/ it refers to in turn."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if inspect.isclass(obj):
        found = {obj.__name__} & USES.keys()
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)
            if inspect.isfunction(member):
                found |= uses(member, seen)
        return found
    obj = inspect.unwrap(obj)
    if not inspect.isfunction(obj):
        return set()
    found: set[str] = set()
    namespace = obj.__globals__
    for code in _codes(obj.__code__):
        imported = {i.argval for i in dis.get_instructions(code) if i.opname in ("IMPORT_NAME", "IMPORT_FROM")}
        for name in code.co_names:
            # A global of that name, or a module imported inside the function (not an attribute that
            # happens to share the name).
            top = name.split(".")[0]
            if top in USES and (name in namespace or name in imported):
                found.add(top)
            value = namespace.get(name)
            if (inspect.isfunction(value) or inspect.isclass(value)) and _own(value):
                found |= uses(value, seen)
    return found


def inferred_tier(item: pytest.Item) -> tuple[str, set[str]]:
    found = uses(getattr(item, "function", None))
    for defs in item._fixtureinfo.name2fixturedefs.values():
        for fixturedef in defs:
            if _own(fixturedef.func):
                found |= uses(fixturedef.func)
    tier = max((USES[name] for name in found), key=RANK.__getitem__, default="unit")
    return tier, found


def assign(items: list[pytest.Item]) -> None:
    """Give every test its tier, and stop the run if a test has none or more than one."""
    wrong = []
    for item in items:
        explicit = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if not explicit:
            item.add_marker(inferred_tier(item)[0])
        tiers = [mark.name for mark in item.iter_markers() if mark.name in TIERS]
        if len(set(tiers)) != 1:
            wrong.append(f"{item.nodeid}: {sorted(set(tiers)) or 'no tier'}")
    if wrong:
        raise pytest.UsageError("every test needs exactly one tier (unit, integration or e2e):\n  " + "\n  ".join(wrong))


# ---------------------------------------------------------------- the unit tier's guard

_forbidden: list[forbidden] = []  # the guards on now
_attempts: list[str] = []


def _refusing() -> forbidden | None:
    here = threading.get_ident()
    return next((guard for guard in reversed(_forbidden) if guard.thread in (None, here)), None)


def _refuse(what: str, guard: forbidden) -> None:
    message = (f"{what} in the unit tier ({guard.why}): a unit test loads no model and starts no "
               "process; mark the test integration or e2e")
    _attempts.append(message)
    pytest.fail(message, pytrace=True)  # BaseException: an `except Exception` in the code under test can't eat it


def _guard_init(cls: type, what: str) -> None:
    original = cls.__init__
    if getattr(original, "_tier_guard", False):
        return

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        guard = _refusing()
        if guard is not None:
            _refuse(what, guard)
        original(self, *args, **kwargs)

    __init__._tier_guard = True
    cls.__init__ = __init__


_GUARDS = {
    "sentence_transformers": lambda m: _guard_init(m.SentenceTransformer, "a sentence-transformers model loaded"),
    "onnxruntime": lambda m: _guard_init(m.InferenceSession, "an ONNX Runtime model loaded"),
}


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Puts the guard on the model libraries when they are first imported, so the unit tier never pays for
    importing torch just to guard it."""

    def find_spec(self, name, path, target=None):
        if name not in _GUARDS:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_guard(module):
            exec_module(module)
            _GUARDS[name](module)

        loader.exec_module = exec_and_guard
        return spec


def install_guards() -> None:
    for name, guard in _GUARDS.items():
        if name in sys.modules:
            guard(sys.modules[name])
    if not any(isinstance(finder, _GuardOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _GuardOnImport())
    _guard_init(subprocess.Popen, "a process started")


class forbidden:
    """While active, loading a model or starting a process fails the test: in the thread that entered it, or
    in every thread with ``every_thread`` (a unit-only run, where no other test's thread can be left running;
    in a mixed run a module fixture's background thread may rightly load a model while a unit test runs)."""

    def __init__(self, why: str, every_thread: bool = False):
        self.why = why
        self.thread = None if every_thread else threading.get_ident()

    def __enter__(self):
        _forbidden.append(self)
        self.mark = len(_attempts)
        return self

    def __exit__(self, *exc):
        _forbidden.remove(self)
        return False

    def swallowed(self) -> str | None:
        """The first refusal made while active, for a test that passed anyway (the code under test caught the
        failure and carried on)."""
        return _attempts[self.mark] if len(_attempts) > self.mark else None
