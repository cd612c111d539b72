from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from index.build import build_index
from index.settings import Settings

from .fixtures import free_port, write_corpus

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
BIN = Path(sys.executable).parent
SEED_QUESTION = "Which G7 country voted in favour of the UN resolution calling for a humanitarian truce?"


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
