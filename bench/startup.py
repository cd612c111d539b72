"""Start-up: how long `askdocs serve` takes from the command to its first answer, and where that time goes.

    python bench/startup.py                          # 5 starts on a SciFact index (reused, or built under var/eval)
    python bench/startup.py --index var/eval/scifact-… --runs 5
    python bench/startup.py --compare /work/main/.venv/bin    # alternate with another install's askdocs (before)

Each run starts `askdocs serve` on a free port as a real subprocess (the console script, as a user would), polls
the port until it accepts a connection (time to listening) and then `POST /ask` until one answers (time to first
answer), both from the moment the process was started. The phases:

- python imports: a separate child importing what `serve` imports (``askdocs.api.cli``, ``askdocs.api.app``,
  uvicorn), timed in that child, with ``-X importtime``'s heaviest top-level packages; and a bare interpreter's
  start-up for scale;
- opening the index and loading the question model (the ONNX session), done at once: the server's own log line
  (``opened generation … in … s (question model … s and index … s at once)``), and the warm-up question it
  asks itself before it listens;
- the first request: the server's access-log time for the first `/ask`, and the client's time from listening to
  the answer.
Which heavy modules the server process has imported is read from its ``/proc/PID/maps`` (torch's shared
libraries mapped = torch imported). Writes bench/results/startup.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, RESULTS, SCIFACT, free_port, loadavg, machine, median  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EVAL_FOLDERS = (ROOT / "var" / "eval", ROOT.parent / "main" / "var" / "eval")
QUESTION = "Does vitamin D supplementation lower the risk of fractures?"
OPENED = re.compile(r"opened generation \S+ in ([\d.]+) s \(question model ([\d.]+) s and index ([\d.]+) s at once\), "
                    r"warm-up question ([\d.]+) s")
ACCESS = re.compile(r"POST /ask 200 ([\d.]+) ms")
SERVE_IMPORTS = "import askdocs.api.cli, askdocs.api.app, uvicorn"
# Shared libraries whose mapping shows that a heavy package was imported by the serving process.
LIBRARIES = {"torch": "libtorch", "onnxruntime": "onnxruntime_pybind11", "faiss": "_swigfaiss"}


def scifact_index() -> Path:
    """A SciFact index to serve: one under var/eval (this checkout's, then the main checkout's), else built."""
    for folder in EVAL_FOLDERS:
        for found in sorted(folder.glob("scifact-*/CURRENT")):
            return found.parent
    from askdocs.api.evaluate import prepare_index
    from askdocs.index.settings import Settings

    return prepare_index(SCIFACT, Settings.from_environment(os.environ), None, progress=None).path


def import_phase(python: str) -> dict:
    """What `serve`'s imports cost in a fresh interpreter, and which top-level packages cost most."""
    timed = subprocess.run([python, "-c", f"import time; t = time.perf_counter(); {SERVE_IMPORTS}; "
                            "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
    bare = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True)
    bare_s = time.perf_counter() - bare
    traced = subprocess.run([python, "-X", "importtime", "-c", SERVE_IMPORTS], capture_output=True,
                            text=True, check=True)
    packages: dict[str, float] = {}
    for line in traced.stderr.splitlines():
        # Each module's own time, summed by distribution (its top-level package): what each library costs.
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)", line)
        if match:
            name = match.group(2).split(".")[0]
            packages[name] = packages.get(name, 0.0) + int(match.group(1)) / 1e6
    heaviest = dict(sorted(packages.items(), key=lambda item: -item[1])[:8])
    return {"imports_s": round(float(timed.stdout.strip()), 3), "interpreter_s": round(bare_s, 3),
            "heaviest_s": {name: round(s, 3) for name, s in heaviest.items()}}


def one_start(bin_folder: Path, index: Path, timeout: float) -> dict:
    port = free_port()
    lines: list[tuple[float, str]] = []
    started = time.perf_counter()
    process = subprocess.Popen([str(bin_folder / "askdocs"), "serve", "--index", str(index), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def read() -> None:
        for line in process.stdout:
            lines.append((time.perf_counter() - started, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    listening = answered = None
    libraries: dict[str, bool] = {}
    try:
        while listening is None:
            if process.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError("the server did not start:\n" + "\n".join(line for _, line in lines[-30:]))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                listening = time.perf_counter() - started
            except OSError:
                time.sleep(0.005)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while answered is None:
                try:
                    response = client.post("/ask", json={"question": QUESTION})
                except httpx.TransportError:
                    time.sleep(0.005)
                    continue
                response.raise_for_status()
                answered = time.perf_counter() - started
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        libraries = {name: marker in maps for name, marker in LIBRARIES.items()}
        # Let the access-log line of that request reach the reader.
        deadline = time.perf_counter() + 2
        while not any(ACCESS.search(line) for _, line in lines) and time.perf_counter() < deadline:
            time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=5)
    text = "\n".join(line for _, line in lines)
    opened, access = OPENED.search(text), ACCESS.search(text)
    complete = next((at for at, line in lines if "Application startup complete" in line), None)
    return {
        "listening_s": round(listening, 3),
        "first_answer_s": round(answered, 3),
        "first_request_s": round(answered - listening, 3),
        "startup_complete_logged_s": None if complete is None else round(complete, 3),
        "opened_s": float(opened.group(1)) if opened else None,
        "question_model_s": float(opened.group(2)) if opened else None,
        "index_s": float(opened.group(3)) if opened else None,
        "warm_up_question_s": float(opened.group(4)) if opened else None,
        "first_ask_server_ms": float(access.group(1)) if access else None,
        "imported": libraries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: a SciFact eval index)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", type=Path, default=None,
                        help="bin folder of another install (e.g. the main checkout's .venv/bin), started alternately")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--out", type=Path, default=RESULTS / "startup.json")
    args = parser.parse_args()

    index = args.index or scifact_index()
    installs = {"this": BIN, **({"compared": args.compare} if args.compare else {})}
    load_before = loadavg()
    runs: dict[str, list[dict]] = {name: [] for name in installs}
    imports: dict[str, list[dict]] = {name: [] for name in installs}
    for n in range(args.runs):
        for name, folder in installs.items():  # alternated, and imports beside each start: the same machine for all
            imports[name].append(import_phase(str(folder / "python")))
            run = one_start(folder, index, args.timeout)
            runs[name].append(run)
            print(f"{name} run {n + 1}: listening {run['listening_s']:.2f} s, first answer {run['first_answer_s']:.2f} s "
                  f"(imports {imports[name][-1]['imports_s']:.2f} s; opened {run['opened_s']} s = model "
                  f"{run['question_model_s']} s and index {run['index_s']} s at once; warm-up "
                  f"{run['warm_up_question_s']} s; first /ask {run['first_ask_server_ms']} ms in the server, "
                  f"{run['first_request_s']:.3f} s at the client); imported {run['imported']}", flush=True)
    summaries = {}
    for name in installs:
        summary = {key: median([run[key] for run in runs[name]]) for key in
                   ("listening_s", "first_answer_s", "first_request_s", "opened_s", "question_model_s", "index_s",
                    "warm_up_question_s", "first_ask_server_ms")}
        summary["imports_s"] = median([i["imports_s"] for i in imports[name]])
        summary["interpreter_s"] = median([i["interpreter_s"] for i in imports[name]])
        summaries[name] = summary
        print(f"{name} ({installs[name]}) median: " + ", ".join(f"{key} {value}" for key, value in summary.items()))
    result = {"benchmark": "startup", "index": str(index), "question": QUESTION,
              "command": "python bench/startup.py " + " ".join(sys.argv[1:]),
              "installs": {name: str(folder) for name, folder in installs.items()}, "median": summaries,
              "runs": runs, "imports": imports, "machine": machine(), "loadavg_before": load_before,
              "loadavg_after": loadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
