"""The command line as users' scripts call it."""

from __future__ import annotations

import json
import os
import subprocess

import httpx

from askdocs.search.models import AskResponse

from .conftest import BIN, SEED_QUESTION


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "askdocs"), *args], capture_output=True, text=True, timeout=120)


def test_ask_prints_answer_and_citations(seeds_index):
    done = _run("ask", SEED_QUESTION, "--index", str(seeds_index), "--top-k", "2")
    assert done.returncode == 0, done.stderr
    assert "France was the only G7 country" in done.stdout
    assert "[1] 000_df85b2084c0590de.txt" in done.stdout and "[2]" in done.stdout and "[3]" not in done.stdout
    assert "chars " in done.stdout and "line" in done.stdout


def test_ask_json_is_the_api_body(seeds_index, seeds_server):
    done = _run("ask", SEED_QUESTION, "--index", str(seeds_index), "--json")
    assert done.returncode == 0, done.stderr
    cli_body = json.loads(done.stdout)
    AskResponse.model_validate(cli_body)
    api_body = httpx.post(seeds_server.url + "/ask", json={"question": SEED_QUESTION}).json()
    cli_body.pop("took_ms"), api_body.pop("took_ms")
    for body in (cli_body, api_body):
        for passage in body["passages"]:
            passage["citation"].pop("source")  # absolute path of each test's own copy
        body["answer"]["citation"].pop("source")
    assert cli_body == api_body


def test_ask_without_index_fails_with_advice(tmp_path):
    done = _run("ask", "anything", "--index", str(tmp_path / "none"))
    assert done.returncode == 1
    assert "build-index" in done.stderr


def test_ask_rejects_a_blank_question():
    done = _run("ask", "   ")
    assert done.returncode == 2
    assert "blank" in done.stderr


def test_build_index_prints_a_summary(tmp_path, corpus):
    (corpus.parent / "junk.txt").write_bytes(b"\x00\x00")
    done = subprocess.run(
        [str(BIN / "build-index"), str(corpus), str(corpus.parent / "junk.txt"), "--index", str(tmp_path / "i")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Indexed 4 documents as" in done.stdout
    assert "Not indexed: 1 files and folders" in done.stdout and "junk.txt: binary file" in done.stdout
    assert "junk.txt" in done.stderr  # the warning as it happened


def test_eval_takes_the_vector_index_as_build_index_does(tmp_path):
    # ivf-sq8 is a build choice; eval builds too, so a user can score the index they would serve.
    from askdocs.index.store import read_current

    from .test_retrieval import _write_dataset

    dataset = _write_dataset(tmp_path / "tiny")
    index, scores = tmp_path / "index", tmp_path / "scores.json"
    done = subprocess.run([str(BIN / "askdocs"), "eval", str(dataset), "--index", str(index), "--mode", "dense",
                           "--vector-index", "ivf-sq8", "--json", str(scores), "--no-progress"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ASKDOCS_ANN_NLIST": "1"})
    assert done.returncode == 0, done.stderr
    assert read_current(index)[1].vectors["type"] == "ivf-sq8"
    assert json.loads(scores.read_text())
    refused = _run("eval", str(dataset), "--index", str(index), "--vector-index", "hnsw")
    assert refused.returncode == 2 and "--vector-index" in refused.stderr
