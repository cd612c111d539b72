"""Faults and bad input: a hostile corpus, and generated API traffic (killed builds: test_store.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from askdocs.api.tools import TOOLS
from askdocs.search.models import Filters, Question

from .conftest import ROOT, SEED_QUESTION
from .fixtures import PDF_PAGES, PLAIN_NOTE, make_pdf

# A build over a corpus of bad files, twice in one process: first over the one good file (so the model and
# every buffer a build needs are allocated), then with the bad files too. The second build's extra peak
# memory is what the bad files cost; reading the 100 MB file would cost at least 100 MB.
_MEASURED_BUILDS = """
import json, resource, sys
from askdocs.api.cli import build_index_command

def build(corpus, index):
    try:
        build_index_command.main([corpus, "--index", index, "--no-progress"], standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

good, bad, work = sys.argv[1:4]
base = build(good, work + "/index-good")
print("-----", flush=True)
peak = build(bad, work + "/index-bad")
print(json.dumps({"base_bytes": base, "peak_bytes": peak}), file=sys.stderr)
"""


def test_build_over_hostile_files_skips_and_names_each_and_never_reads_the_huge_one(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "bicycle.txt").write_text(PLAIN_NOTE, encoding="utf-8")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bicycle.txt").write_text(PLAIN_NOTE, encoding="utf-8")
    (bad / "empty.txt").write_bytes(b"")
    (bad / "blank.md").write_text("  \n\n\t\n")
    (bad / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (bad / "latin1.txt").write_bytes("Café crème, déjà vu".encode("latin-1"))  # indexed: legacy text is text
    pdf = make_pdf(PDF_PAGES, title="Tea")
    (bad / "truncated.pdf").write_bytes(pdf[: len(pdf) // 2])
    with open(bad / "huge.txt", "wb") as handle:  # 100 MB, sparse: costs no disk, would cost RAM if read
        handle.truncate(100_000_000)
    (bad / "loop-a.txt").symlink_to(bad / "loop-b.txt")
    (bad / "loop-b.txt").symlink_to(bad / "loop-a.txt")
    (bad / "cycle").symlink_to(bad, target_is_directory=True)  # a folder loop: the walk must not follow it

    done = subprocess.run([sys.executable, "-c", _MEASURED_BUILDS, str(good), str(bad), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.stdout.split("-----", 1)[1]
    assert "Indexed 2 documents" in summary
    expected = {
        "empty.txt": "empty file",
        "blank.md": "empty file",
        "binary.txt": "binary file",
        "truncated.pdf": "corrupt PDF",
        "huge.txt": "too large (100.0 MB > 50.0 MB limit)",
        "loop-a.txt": "broken or looping symlink",
        "loop-b.txt": "broken or looping symlink",
        # Symlinked folders are followed now; one that leads back to a folder already walked is named.
        "cycle": f"symlink loop or duplicate: {bad} is already indexed as {bad}",
    }
    assert f"Not indexed: {len(expected)} files and folders" in summary
    for name, reason in expected.items():
        line = next((line for line in summary.splitlines() if line.strip().startswith(str(bad / name))), None)
        assert line is not None and reason in line, (name, summary)
        assert str(bad / name) in done.stderr, f"{name} is named in a warning as well"

    memory = json.loads(done.stderr.strip().splitlines()[-1])
    extra = memory["peak_bytes"] - memory["base_bytes"]
    assert extra < 30_000_000, f"the bad corpus cost {extra / 1e6:.0f} MB of peak memory"


def assert_refusal_is_readable(status: int, content: bytes, what: str = "") -> None:
    """The invariant of every fuzz below: never a 5xx, and every 4xx is JSON with the README's `message`."""
    assert status < 500, f"{status} for {what}: {content[:300]!r}"
    if 400 <= status < 500:
        body = json.loads(content)
        assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], (
            f"{status} without a message for {what}: {content[:300]!r}")


def _schemathesis_failures(operations, max_examples: int) -> list[str]:
    checks = [not_a_server_error, response_schema_conformance]
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                response = case.call(timeout=60)
                case.validate_response(response, checks=checks)
                assert_refusal_is_readable(response.status_code, response.content, f"{case.method} {case.path}")

            try:
                run()
            except Unsatisfiable:
                pass  # nothing invalid can be sent to an operation without parameters or body
            except Exception as exc:  # schemathesis' failure groups carry the request that failed
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


def test_generated_requests_get_no_500_and_responses_match_the_schema(seeds_server):
    # Driven through hypothesis directly: schemathesis' pytest plugin does not run under this pytest.
    schema = schemathesis.openapi.from_url(seeds_server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /ask", "GET /documents/{doc_id}", "POST /tools/ask", "POST /admin/reload"} <= {
        op.label for op in operations
    }
    failures = _schemathesis_failures(operations, max_examples=12)
    assert failures == [], "\n\n".join(failures)


def test_generated_input_to_the_question_tool_and_document_routes(seeds_server):
    # The routes that take the most input get more examples than the sweep above, both valid and invalid.
    schema = schemathesis.openapi.from_url(seeds_server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = [op for op in operations
              if op.label in ("POST /ask", "GET /documents/{doc_id}") or op.label.startswith("POST /tools/")]
    assert len(chosen) == 6, [op.label for op in chosen]
    failures = _schemathesis_failures(chosen, max_examples=40)
    assert failures == [], "\n\n".join(failures)


# ---------------------------------------------------------------- JSON no schema would generate


class Raw:
    """A JSON token written as is: numbers Python would not print (5,000 digits, 1e999)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:20]!r}{'...' if len(self.text) > 20 else ''})"


def to_json(value) -> str:
    """``value`` as JSON text the way a careless client writes it: NaN and Infinity bare, lone surrogates as
    \\uXXXX escapes, raw tokens verbatim."""
    if isinstance(value, Raw):
        return value.text
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return json.dumps(value, allow_nan=True)
    if isinstance(value, (int, str)):
        return json.dumps(value)  # ensure_ascii: a lone surrogate is written as its escape
    if isinstance(value, list):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return "{" + ",".join(f"{json.dumps(key)}:{to_json(item)}" for key, item in value.items()) + "}"


# Control characters, glob and path syntax, astral characters, and halves of a surrogate pair.
CHARS = st.sampled_from([*"ab \x00\x01\n\t\x7f/*?[]!#%\\\"é", "😀", "\ud800", "\udc00", "\ud83d"])
STRINGS = st.text(CHARS, max_size=12) | st.sampled_from([SEED_QUESTION, "lamp", "0", "1", "²", "-1", "9" * 30])
NUMBERS = (st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([Raw("9" * 5000), Raw("-" + "1" * 4301), Raw("1e999"), Raw("-0"), Raw("1E+2")]))
LEAVES = st.none() | st.booleans() | NUMBERS | STRINGS
FIELDS = sorted({*Question.model_fields, *Filters.model_fields,
                 *(name for tool in TOOLS.values() for name in tool.arguments.model_fields)})
KEYS = st.sampled_from(FIELDS) | st.text(CHARS, max_size=6)
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=16)
PATHS = ["/ask", *(f"/tools/{name}" for name in TOOLS)]
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


def _arguments(path: str):
    """Bodies shaped like the endpoint's arguments (its own fields, each any value) or anything at all."""
    model = Question if path == "/ask" else TOOLS[path.removeprefix("/tools/")].arguments
    shaped = st.fixed_dictionaries({}, optional={name: VALUES for name in model.model_fields})
    return st.one_of(shaped, VALUES, st.dictionaries(KEYS, VALUES, max_size=5))


def _post(client: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": "application/json"})


def test_fuzzed_json_bodies_get_a_readable_refusal_or_an_answer(seeds_server):
    with httpx.Client(base_url=seeds_server.url, timeout=60) as client:

        @FUZZ
        @given(data=st.data(), path=st.sampled_from(PATHS))
        def run(data, path):
            body = to_json(data.draw(_arguments(path), label="body"))
            response = _post(client, path, body.encode("utf-8"))
            assert_refusal_is_readable(response.status_code, response.content, f"POST {path} {body[:300]}")

        run()


def test_fuzzed_filters_get_a_readable_refusal_or_an_answer(seeds_server):
    filters = st.fixed_dictionaries({}, optional={name: VALUES for name in Filters.model_fields}) | VALUES
    with httpx.Client(base_url=seeds_server.url, timeout=60) as client:

        @FUZZ
        @given(filters=filters, path=st.sampled_from(["/ask", "/tools/ask", "/tools/search_documents"]))
        def run(filters, path):
            question = "query" if path.endswith("search_documents") else "question"
            body = to_json({question: "Which country voted in favour?", "filters": filters})
            response = _post(client, path, body.encode("utf-8"))
            assert_refusal_is_readable(response.status_code, response.content, f"POST {path} {body[:300]}")

        run()


def test_fuzzed_raw_bodies_get_a_readable_refusal(seeds_server):
    deep = st.integers(500, 5000).map(lambda n: ("[" * n + "]" * n).encode())
    undecodable = st.binary(max_size=64).map(lambda junk: b'{"question": "' + junk + b'"}')
    with httpx.Client(base_url=seeds_server.url, timeout=60) as client:

        @FUZZ
        @given(body=st.binary(max_size=200) | deep | undecodable, path=st.sampled_from(PATHS))
        def run(body, path):
            response = _post(client, path, body)
            assert_refusal_is_readable(response.status_code, response.content, f"POST {path} {body[:300]!r}")

        run()
