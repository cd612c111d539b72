"""What the benchmarks share: running a measured child process, the machine's state, writing results."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
BIN = Path(sys.executable).parent


def machine() -> dict:
    """Enough to tell two runs' conditions apart: on a shared 2-core box the load average matters most."""
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_name(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def eval_index(dataset: Path) -> Path:
    """The eval index of ``dataset`` under var/eval: the one today's settings would build (``askdocs eval``), else
    the newest there is (said on stderr: built under other settings, still one index both installs read)."""
    from askdocs.api.evaluate import fingerprint
    from askdocs.index.settings import Settings

    name = Path(dataset).resolve().name
    exact = ROOT / "var" / "eval" / f"{name}-{fingerprint(Path(dataset), Settings())}"
    if exact.is_dir():
        return exact
    found = sorted((ROOT / "var" / "eval").glob(f"{name}-*"), key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"no {name} index under var/eval (askdocs eval {dataset} builds one)")
    print(f"using {found[-1]}, built under other settings than today's", file=sys.stderr)
    return found[-1]


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_measured(args: list[str], timeout: float, env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run a child to completion: its wall time, stdout, and its own peak RSS from wait4 (not all children's)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True, cwd=cwd,
                                   env={**os.environ, **(env or {})}, start_new_session=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                os.wait4(process.pid, 0)
                raise RuntimeError(f"{' '.join(map(str, args[:3]))} … did not finish in {timeout:.0f} s")
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args[:3]))} … exited with {process.returncode}:\n{stderr[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "stdout": stdout, "stderr": stderr}


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
