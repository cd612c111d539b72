"""Faults and bad input: a hostile corpus, and generated API traffic (killed builds: test_store.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from .conftest import ROOT
from .fixtures import PDF_PAGES, PLAIN_NOTE, make_pdf

# A build over a corpus of bad files, twice in one process: first over the one good file (so the model and
# every buffer a build needs are allocated), then with the bad files too. The second build's extra peak
# memory is what the bad files cost; reading the 100 MB file would cost at least 100 MB.
_MEASURED_BUILDS = """
import json, resource, sys
from api.cli import build_index_command

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
    (bad / "latin1.txt").write_bytes("Café crème, déjà vu".encode("latin-1"))
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
    assert "Indexed 1 documents" in summary
    expected = {
        "empty.txt": "empty file",
        "blank.md": "empty file",
        "binary.txt": "binary file",
        "latin1.txt": "not UTF-8",
        "truncated.pdf": "corrupt PDF",
        "huge.txt": "too large (100.0 MB > 50.0 MB limit)",
        "loop-a.txt": "broken or looping symlink",
        "loop-b.txt": "broken or looping symlink",
        # Symlinked folders are followed now; one that leads back to a folder already walked is named.
        "cycle": f"symlink loop or duplicate: {bad} is already indexed as {bad}",
    }
    assert f"Skipped {len(expected)} files:" in summary
    for name, reason in expected.items():
        line = next((line for line in summary.splitlines() if line.strip().startswith(str(bad / name))), None)
        assert line is not None and reason in line, (name, summary)
        assert str(bad / name) in done.stderr, f"{name} is named in a warning as well"

    memory = json.loads(done.stderr.strip().splitlines()[-1])
    extra = memory["peak_bytes"] - memory["base_bytes"]
    assert extra < 30_000_000, f"the bad corpus cost {extra / 1e6:.0f} MB of peak memory"


def test_generated_requests_get_no_500_and_responses_match_the_schema(seeds_server):
    # Driven through hypothesis directly: schemathesis' pytest plugin does not run under this pytest.
    schema = schemathesis.openapi.from_url(seeds_server.url + "/openapi.json")
    checks = [not_a_server_error, response_schema_conformance]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /ask", "GET /documents/{doc_id}", "POST /tools/ask", "POST /admin/reload"} <= {
        op.label for op in operations
    }
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                case.call_and_validate(checks=checks, timeout=60)

            try:
                run()
            except Unsatisfiable:
                pass  # nothing invalid can be sent to an operation without parameters or body
            except Exception as exc:  # schemathesis' failure groups carry the request that failed
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert failures == [], "\n\n".join(failures)
