from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from askdocs.index.build import build_index
from askdocs.index.settings import Settings

from . import tiers
from .fixtures import free_port, write_corpus

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
BIN = Path(sys.executable).parent
SEED_QUESTION = "Which G7 country voted in favour of the UN resolution calling for a humanitarian truce?"


# ---------------------------------------------------------------- tiers (tests/tiers.py)

def pytest_configure(config):
    tiers.install_guards()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the markers given here
def pytest_collection_modifyitems(config, items):
    tiers.assign(items)


def pytest_collection_finish(session):
    # A run of the unit tier alone refuses models from the start, session fixtures and cached models included.
    if session.items and all(item.get_closest_marker("unit") for item in session.items):
        session.config._unit_only = tiers.forbidden("a run of the unit tier only", every_thread=True)
        session.config._unit_only.__enter__()


@pytest.fixture(autouse=True)
def _unit_tier_loads_nothing(request):
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    with tiers.forbidden(f"{request.node.nodeid} is marked unit") as guard:
        request.node.stash[UNIT_GUARD] = guard
        yield


UNIT_GUARD = pytest.StashKey()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    guard = item.stash.get(UNIT_GUARD, None)
    if report.when == "call" and report.passed and guard is not None and guard.swallowed():
        report.outcome = "failed"
        report.longrepr = guard.swallowed()


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("seeds") / "index"
    build_index([SEEDS], Settings(index=index), progress=False)
    return index


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "docs")


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory, corpus) -> Path:
    index = tmp_path_factory.mktemp("corpus-index") / "index"
    build_index([corpus], Settings(index=index), progress=False)
    return index


def copy_index(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, symlinks=True, ignore=shutil.ignore_patterns(".lock"))
    return destination


class Server:
    """``askdocs serve`` as a real subprocess on a free loopback port; ``index`` a folder, or {name: folder}
    for a server of several collections."""

    def __init__(self, index: Path | dict[str, Path], extra_args: tuple[str, ...] = (), env: dict | None = None,
                 host: str = "127.0.0.1"):
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        indexes = index if isinstance(index, dict) else {None: index}
        self.log = open(next(iter(indexes.values())).parent / f"serve-{self.port}.log", "w+")
        index_args = [a for name, path in indexes.items() for a in ("--index", f"{name}={path}" if name else str(path))]
        self.process = subprocess.Popen(
            [str(BIN / "askdocs"), "serve", *index_args, "--host", host, "--port", str(self.port), *extra_args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                httpx.get(self.url + "/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def seeds_server(seeds_index):
    server = Server(seeds_index)
    yield server
    server.stop()


API_KEY = "test-key-7f3a9c"
FILE_KEY = "file-key-41d2e8"


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory, seeds_index):
    """A server that wants API keys (one from the environment, one from a file of digests), allows one CORS
    origin and one extra /mcp host, on a loopback address other than 127.0.0.1."""
    import hashlib

    folder = tmp_path_factory.mktemp("keyed")
    keys_file = folder / "keys.sha256"
    keys_file.write_text(f"# askdocs keys\n{hashlib.sha256(FILE_KEY.encode()).hexdigest()}  # ci\n")
    index = copy_index(seeds_index, folder / "index")
    server = Server(index, host="127.0.0.2", env={
        "ASKDOCS_API_KEYS": API_KEY, "ASKDOCS_API_KEYS_FILE": str(keys_file),
        "ASKDOCS_CORS_ORIGINS": "https://app.example", "ASKDOCS_ALLOWED_HOSTS": "docs.example",
    })
    yield server
    server.stop()


# ---------------------------------------------------------------- storage backends (README "Scaling out")

MILVUS_SERVER = os.environ.get("ASKDOCS_TEST_MILVUS_SERVER")


class StorageBackend:
    """How a test builds an index on one storage backend, and what it leaves behind to clean up."""

    def __init__(self, name: str, tag: str):
        self.name = name
        self.tag = tag  # unique per test: collections on a shared server never collide
        self._collections: list[str] = []

    @property
    def is_milvus(self) -> bool:
        return self.name != "faiss"

    @property
    def concurrent(self) -> bool:
        # Milvus Lite opens its file for one process: no build while another process serves it.
        return self.name != "milvus-lite"

    def settings(self, index: Path, **overrides) -> Settings:
        if self.name == "faiss":
            return Settings(index=index, **overrides)
        if self.name == "milvus-lite":
            return Settings(index=index, vector_store="milvus", **overrides)  # the default: <index>/milvus.db
        collection = f"askdocs_test_{self.tag}_{len(self._collections)}"
        self._collections.append(collection)
        return Settings(index=index, vector_store="milvus", milvus_address=MILVUS_SERVER, milvus_collection=collection,
                        **overrides)

    def cleanup(self) -> None:
        if self.name != "milvus-server":
            return
        from pymilvus import MilvusClient

        client = MilvusClient(uri=MILVUS_SERVER)
        for name in client.list_collections():
            if name.startswith(f"askdocs_test_{self.tag}_"):
                client.drop_collection(name)
        client.close()


@pytest.fixture(params=["faiss", "milvus-lite", "milvus-server"])
def backend(request):
    if request.param == "milvus-server" and not MILVUS_SERVER:
        pytest.skip("no Milvus server: set ASKDOCS_TEST_MILVUS_SERVER=http://127.0.0.1:19530 (.ci/run starts one)")
    import secrets

    storage = StorageBackend(request.param, secrets.token_hex(4))
    yield storage
    storage.cleanup()
