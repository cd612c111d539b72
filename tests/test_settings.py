"""Settings once, from the top: one validated object per command, one line for a bad value, warnings for typos."""

from __future__ import annotations

import os
import subprocess

import pytest

from askdocs.index.settings import Settings, SettingsError

from .conftest import BIN, SEED_QUESTION, SEEDS


def _run(*args, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    # The harness's own ASKDOCS_* variables stay; nothing else of the caller's askdocs configuration leaks in.
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("ASKDOCS_") or k.startswith("ASKDOCS_TEST_")}
    return subprocess.run([str(BIN / args[0]), *args[1:]], check=False, capture_output=True, text=True, timeout=timeout,
                          env={**base, **env})


@pytest.mark.parametrize("command", [
    ["build-index", str(SEEDS)],
    ["askdocs", "build-index", str(SEEDS)],
    ["askdocs", "ask", SEED_QUESTION],
    ["askdocs", "serve", "--port", "1"],
    ["askdocs", "mcp"],
    ["askdocs", "eval", str(SEEDS)],
])
def test_a_bad_value_is_one_line_naming_the_variable_and_what_it_accepts(command, tmp_path):
    done = _run(*command, "--index", str(tmp_path / "index"), env={"ASKDOCS_CHUNK_TOKENS": "8"})
    assert done.returncode == 2
    assert done.stderr.strip() == "error: ASKDOCS_CHUNK_TOKENS='8' is not accepted: chunk_tokens takes an integer >= 16"
    assert not (tmp_path / "index").exists()


def test_a_choice_names_its_values_and_several_bad_values_share_the_line(tmp_path):
    done = _run("build-index", str(SEEDS), "--index", str(tmp_path / "index"),
                env={"ASKDOCS_RUNTIME": "gpu", "ASKDOCS_INCLUDE": "*.md"})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "ASKDOCS_RUNTIME='gpu' is not accepted: runtime takes one of auto, onnx, torch" in done.stderr
    assert "ASKDOCS_INCLUDE='*.md' is not accepted: include takes a JSON list of strings" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_variable_is_warned_about_with_the_closest_name(tmp_path):
    done = _run("askdocs", "ask", SEED_QUESTION, "--index", str(tmp_path / "none"),
                env={"ASKDOCS_CHUNK_TOKEN": "100", "ASKDOCS_MAX_TOP_K": "5"})
    assert "ASKDOCS_CHUNK_TOKEN is not an askdocs setting and is ignored; did you mean ASKDOCS_CHUNK_TOKENS?" \
        in done.stderr
    assert "ASKDOCS_MAX_TOP_K is ignored: it never took effect" in done.stderr
    assert done.returncode == 1 and "no index at" in done.stderr  # the command itself went on


def test_deprecated_backend_names_warn_and_still_pick_the_vector_store(tmp_path):
    environ = {"ASKDOCS_BACKEND": "milvus"}
    warnings: list[str] = []
    settings = Settings.from_environment(environ, warn=warnings.append)
    assert settings.vector_store == "milvus"
    assert warnings == ["ASKDOCS_BACKEND is deprecated, use ASKDOCS_VECTOR_STORE"]
    # The new name wins over the old one.
    assert Settings.from_environment({**environ, "ASKDOCS_VECTOR_STORE": "faiss"}, warn=warnings.append
                                     ).vector_store == "faiss"
    with pytest.raises(SettingsError, match="ASKDOCS_BACKEND='lance' is not accepted: vector_store takes one of "
                                            "faiss, milvus"):
        Settings.from_environment({"ASKDOCS_BACKEND": "lance"}, warn=warnings.append)


def test_deprecated_backend_flag_warns_and_still_works(tmp_path):
    index = tmp_path / "index"
    built = _run("build-index", str(SEEDS), "--index", str(index), "--no-progress", "--backend", "faiss", env={})
    assert built.returncode == 0, built.stderr
    assert "askdocs: --backend faiss is deprecated, use --vector-store faiss" in built.stderr
    asked = _run("askdocs", "ask", SEED_QUESTION, "--index", str(index), "--backend", "milvus", env={})
    assert asked.returncode == 0, asked.stderr
    assert "--backend milvus is deprecated and ignored here" in asked.stderr
    assert "--backend" not in _run("askdocs", "ask", "--help", env={}).stdout  # hidden: no longer offered


def test_flags_go_through_the_same_validation_as_variables():
    with pytest.raises(SettingsError, match="--chunk-tokens 3 is not accepted: chunk_tokens takes an integer >= 16"):
        Settings.from_environment({}, {"chunk_tokens": 3})
    with pytest.raises(SettingsError, match="chunk_tokens"):
        Settings().replace(chunk_tokens=3)


def test_library_code_reads_no_environment(tmp_path, monkeypatch):
    """A bad variable in the environment is no business of a caller that passes its settings."""
    from askdocs.index.build import build_index
    from askdocs.index.embedder import load_embedder
    from askdocs.search import open_index

    for name, value in {"ASKDOCS_RUNTIME": "gpu", "ASKDOCS_PRECISION": "fp64", "ASKDOCS_CHUNK_TOKENS": "8",
                        "ASKDOCS_INDEX": "/nonexistent"}.items():
        monkeypatch.setenv(name, value)
    assert load_embedder(Settings().model, "onnx").runtime == "onnx"
    settings = Settings(index=tmp_path / "index", runtime="onnx")
    build_index([SEEDS], settings, progress=False)
    engine = open_index(settings=settings)
    try:
        assert engine.ask(SEED_QUESTION).answer is not None
    finally:
        engine.close()


def test_each_setting_is_described_once_and_flags_take_the_description():
    from askdocs.api.cli import build_index_command

    undescribed = [name for name, info in Settings.model_fields.items() if not info.description]
    assert undescribed == []
    helps = {p.name: p.help for p in build_index_command.params}
    assert helps["runtime"].startswith(Settings.model_fields["runtime"].description)
    assert helps["vector_store"].startswith(Settings.model_fields["vector_store"].description)
