"""The real-documents benchmark (issue 15, section 3): Debian documentation, hand-written questions.

    bench/realdocs_corpus.sh                      # once: the corpus into var/realdocs/corpus
    python bench/realdocs.py verify               # every gold answer occurs in its gold document (and page)
    python bench/realdocs.py build [--rebuild]    # only the index (reused when nothing it depends on changed)
    python bench/realdocs.py run [--rebuild]      # build or reuse, serve, ask every question, report
    python bench/realdocs.py run --split dev      # only the dev half (while tuning)
    python bench/realdocs.py run --set unseen     # the unseen set (bench/realdocs_unseen_corpus.sh): report only
    python bench/realdocs.py run --set manuals    # man pages and Info manuals (bench/realdocs_manuals_corpus.sh)

Everything goes through the real components: `build-index` as a child process, a real `askdocs serve` on a
free loopback port, and HTTP. Results are reported per split: tune on dev, look at test only to confirm.
The JSON keeps every question's outcome so that a change can be diffed question by question.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, ROOT, free_port, loadavg, machine, median, run_measured, write_result  # noqa: E402

# The question set, its corpus and index under var/, and where its results go. "unseen" is a second corpus and
# question set nobody tunes on: every question is in test, so it is only ever reported. "manuals" is the same
# kind of set over man pages and GNU Info manuals, kept gzip-compressed as Debian ships them.
SETS = {
    "main": {"questions": ROOT / "bench" / "realdocs_questions.jsonl", "var": ROOT / "var" / "realdocs",
             "out": "realdocs.json", "split": None},
    "unseen": {"questions": ROOT / "bench" / "realdocs_unseen_questions.jsonl",
               "var": ROOT / "var" / "realdocs-unseen", "out": "realdocs-unseen.json", "split": "test"},
    "manuals": {"questions": ROOT / "bench" / "realdocs_manuals_questions.jsonl",
                "var": ROOT / "var" / "realdocs-manuals", "out": "realdocs-manuals.json", "split": "test"},
}
KINDS = ("html", "pdf", "man", "info")
STAMP = "realdocs-stamp.json"  # in the index folder: what the index was built from, and how long it took
TOP_K = 5
MODE = "hybrid"
# Code whose change can change the index; a change anywhere else (search/, api/) needs no rebuild.
INDEX_CODE = ["index", "pyproject.toml", "requirements.lock"]
PRODUCT_CODE = ["index", "search", "api", "pyproject.toml", "requirements.lock"]


def norm(text: str) -> str:
    """What 'contains the answer' compares: NFKC (PDF ligatures such as "ﬁ"), case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def contains(haystack: str | None, answers: list[str]) -> bool:
    if not haystack:
        return False
    hay = norm(haystack)
    return any(norm(a) in hay for a in answers)


def load_questions(qset: dict = SETS["main"]) -> list[dict]:
    questions = [json.loads(line) for line in qset["questions"].read_text().splitlines() if line.strip()]
    ids = [q["id"] for q in questions]
    if len(ids) != len(set(ids)):
        raise SystemExit("duplicate question ids")
    for q in questions:
        expected = qset["split"] or split_of(q["id"])
        if q.get("split") != expected:
            raise SystemExit(f"{q['id']}: split must be {expected!r} (sha256 of the id), not {q.get('split')!r}")
    return questions


def split_of(question_id: str) -> str:
    """Fixed by the id alone, so nobody chooses which questions land in test."""
    return "dev" if hashlib.sha256(question_id.encode()).digest()[0] % 2 == 0 else "test"


def kind_of(doc_id: str) -> str:
    """The kind a question must declare, from the gold document's name as the index reads it (ls.1.gz is a man
    page, find.info-1.gz an Info manual); any other kind counts as html, the corpora's other documents."""
    from askdocs.index.documents import file_kind

    kind = file_kind(doc_id.rsplit("/", 1)[-1])
    return kind if kind in KINDS else "html"


def page_text(text: str, page_starts: list[int], page: int) -> str:
    end = page_starts[page] if page < len(page_starts) else len(text)
    return text[page_starts[page - 1]:end]


# ---------------------------------------------------------------------------------------------------- verify

def verify(qset: dict, corpus: Path) -> int:
    import logging

    from askdocs.index.documents import load_document
    from askdocs.index.reading import LoadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # font-encoding notes from the R manuals, one per page

    questions = load_questions(qset)
    docs: dict[str, object] = {}
    problems = []
    for q in questions:
        if not q["answers"]:
            if q.get("doc_id") is not None:
                problems.append(f"{q['id']}: unanswerable but has a doc_id")
            continue
        doc_id = q["doc_id"]
        if doc_id not in docs:
            path = corpus / doc_id
            if not path.exists():
                problems.append(f"{q['id']}: no such document {doc_id}")
                continue
            try:
                docs[doc_id] = load_document(path, doc_id, 50_000_000)
            except LoadError as exc:  # one unreadable document is one problem to report, not the end of the check
                docs[doc_id] = exc
        doc = docs[doc_id]
        if isinstance(doc, LoadError):
            problems.append(f"{q['id']}: {doc_id} cannot be read: {doc}")
            continue
        kind = kind_of(doc_id)
        if q.get("kind") != kind:
            problems.append(f"{q['id']}: kind {q.get('kind')!r}, document is {kind}")
        scope = doc.text
        if kind == "pdf":
            page = q.get("page")
            if not isinstance(page, int) or not 1 <= page <= len(doc.page_starts):
                problems.append(f"{q['id']}: PDF question needs a page in 1..{len(doc.page_starts)}, has {page!r}")
                continue
            scope = page_text(doc.text, list(doc.page_starts), page)
        # Within one line: an answer that spans a line break or a hyphenation would stop matching as soon as a
        # loader cleans the text differently, and the benchmark must outlive such loader changes.
        lines = [norm(line) for line in scope.splitlines()]
        for answer in q["answers"]:
            where = f"page {q['page']} of " if kind == "pdf" else ""
            if not norm(answer):
                problems.append(f"{q['id']}: blank answer")
            elif norm(answer) not in norm(scope):
                problems.append(f"{q['id']}: {answer!r} not in {where}{doc_id}")
            elif not any(norm(answer) in line for line in lines):
                problems.append(f"{q['id']}: {answer!r} occurs in {where}{doc_id} only across a line break")
    answerable = [q for q in questions if q["answers"]]
    print(f"{len(questions)} questions ({len(answerable)} answerable, {len(questions) - len(answerable)} not), "
          f"{len(docs)} gold documents")
    for split in ("dev", "test"):
        qs = [q for q in questions if q["split"] == split]
        kinds = ", ".join(f"{n} {kind}" for kind in KINDS
                          if (n := sum(1 for q in qs if q["answers"] and q["kind"] == kind)))
        print(f"  {split}: {len(qs)} ({sum(1 for q in qs if q['answers'])} answerable{': ' + kinds if kinds else ''})")
    for problem in problems:
        print("FAIL", problem)
    print("verify:", "ok" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


# ----------------------------------------------------------------------------------------------------- build

def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def askdocs_state() -> dict:
    """The commit, and whether the code that shapes the index differs from it (a dirty tree is still measured)."""
    dirty = git("status", "--porcelain", "--", *INDEX_CODE)
    tree = git("rev-parse", "HEAD:index")
    if dirty:
        tree += "+dirty:" + hashlib.sha256(
            b"".join(Path(ROOT, p).read_bytes() for p in _files(INDEX_CODE))).hexdigest()[:16]
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain")), "index_code": tree,
            # The last commit that changed what is measured: bench/ commits alone do not change askdocs.
            "product_commit": git("rev-list", "-1", "HEAD", "--", *PRODUCT_CODE),
            "product_dirty": bool(git("status", "--porcelain", "--", *PRODUCT_CODE))}


def _files(paths: list[str]) -> list[Path]:
    out = []
    for p in paths:
        path = ROOT / p
        out.extend(sorted(f for f in path.rglob("*.py")) if path.is_dir() else [path])
    return out


def index_settings() -> dict:
    """The ASKDOCS_* environment: any of them may change what build-index writes or serve answers."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("ASKDOCS_")}


def build_key(corpus: Path) -> dict:
    manifest = corpus / "MANIFEST.sha256"
    if not manifest.exists():
        raise SystemExit(f"no corpus at {corpus}: run its bench/realdocs*_corpus.sh first")
    from askdocs.index.manifest import library_versions

    # The libraries too: a new pypdf or trafilatura changes the stored text without any askdocs commit.
    return {"corpus_manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
            "index_code": askdocs_state()["index_code"], "settings": index_settings(),
            "libraries": library_versions()}


def build(corpus: Path, index: Path, rebuild: bool) -> dict:
    key = build_key(corpus)
    stamp_path = index / STAMP
    if not rebuild and stamp_path.exists():
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("key") == key:
            print(f"index reused: {index} (built {stamp['built_at']} in {stamp['build']['wall_s']} s)")
            return {**stamp, "reused": True}
        print("index is stale (corpus, index code or settings changed): rebuilding")
    warm_cache = (index / "embedding-cache.sqlite").exists()
    load_before = loadavg()
    print(f"build-index {corpus} --index {index} --rebuild (load {load_before}) ...", flush=True)
    measured = run_measured([str(BIN / "build-index"), str(corpus), "--index", str(index), "--rebuild"],
                            timeout=3 * 3600, env={"PYTHONPATH": str(ROOT)})
    summary = measured["stdout"].strip().splitlines()[-40:]
    stamp = {"key": key, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "build": {k: measured[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")},
             "embedding_cache_warm": warm_cache, "loadavg_before": load_before, "loadavg_after": loadavg(),
             "summary_tail": summary}
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
    print(f"built in {measured['wall_s']} s (embedding cache {'warm' if warm_cache else 'cold'})")
    return {**stamp, "reused": False}


# ------------------------------------------------------------------------------------------------------- run

class Server:
    def __init__(self, index: Path, log: Path):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")
        self.process = subprocess.Popen(
            [str(BIN / "askdocs"), "serve", "--index", str(index), "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        started = time.monotonic()
        while time.monotonic() - started < 300:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {log}")
            try:
                health = httpx.get(self.url + "/health", timeout=2)
                if health.status_code == 200:
                    self.health = health.json()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not become healthy in 300 s; see {log}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def ask_all(url: str, questions: list[dict]) -> list[dict]:
    import httpx

    outcomes = []
    documents: dict[str, dict] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for q in questions[:3]:  # warm-up, not timed: first requests load lazily initialised parts
            client.post("/ask", json={"question": q["question"], "top_k": TOP_K, "mode": MODE}).raise_for_status()
        for q in questions:
            started = time.perf_counter()
            response = client.post("/ask", json={"question": q["question"], "top_k": TOP_K, "mode": MODE})
            latency_ms = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            outcomes.append(score_one(q, response.json(), latency_ms, client, documents))
    return outcomes


def _slice_ok(client, documents: dict, citation: dict, text: str) -> bool:
    doc_id = citation["doc_id"]
    if doc_id not in documents:
        r = client.get(f"/documents/{doc_id}")
        r.raise_for_status()
        documents[doc_id] = r.json()
    return documents[doc_id]["text"][citation["char_start"]:citation["char_end"]] == text


def score_one(q: dict, body: dict, latency_ms: float, client, documents: dict) -> dict:
    passages = body.get("passages") or []
    answer = body.get("answer")
    doc_ids = [p["citation"]["doc_id"] for p in passages]
    gold, answers = q["doc_id"], q["answers"]
    # Citation exactness: every span the response quotes must be the stored text at its offsets.
    checks = []
    for p in passages:
        checks.append(_slice_ok(client, documents, p["citation"], p["text"]))
        h = p["highlight"]
        checks.append(_slice_ok(client, documents, {**p["citation"], **h}, h["text"]))
    if answer:
        checks.append(_slice_ok(client, documents, answer["citation"], answer["text"]))
    top = passages[0]["citation"] if passages else None
    out = {
        "id": q["id"], "split": q["split"], "kind": q.get("kind"), "answerable": bool(answers),
        "no_answer": bool(body.get("no_answer")), "latency_ms": round(latency_ms, 1),
        "citations_checked": len(checks), "citations_exact": sum(checks),
        "top_doc_ids": doc_ids, "top_pages": [p["citation"].get("page") for p in passages],
        # Enough of each passage to see what was retrieved (a TOC page, a running header) without the index.
        "top_passages": [{"chunk_id": p["citation"]["chunk_id"], "head": p["text"][:160],
                          "highlight": p["highlight"]["text"]} for p in passages],
        "answer_text": answer["text"] if answer else None,
        "answer_passage_rank": answer["passage_rank"] if answer else None,
        "signals": body.get("signals"),
    }
    if answers:
        # Passages are judged even when no_answer is set, so retrieval is measured apart from the abstention
        # decision (which has its own rate); with no_answer there is no sentence, and answer_sentence is False.
        out.update({
            "hit@1": bool(doc_ids[:1]) and doc_ids[0] == gold,
            "hit@5": gold in doc_ids[:TOP_K],
            "answer@5": any(contains(p["text"], answers) for p in passages[:TOP_K]),
            "answer_sentence": contains(out["answer_text"], answers),
            "gold_rank": doc_ids.index(gold) + 1 if gold in doc_ids else None,
        })
        if q.get("kind") == "pdf":
            out["page@1"] = top is not None and top["doc_id"] == gold and top.get("page") == q["page"]
    return out


def rate(outcomes: list[dict], key: str) -> dict:
    values = [o[key] for o in outcomes if key in o]
    return {"rate": round(sum(values) / len(values), 4) if values else None, "n": len(values)}


def percentile(values: list[float], p: float) -> float | None:
    values = sorted(values)
    if not values:
        return None
    return round(values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))], 1)


def summarise(outcomes: list[dict]) -> dict:
    answerable = [o for o in outcomes if o["answerable"]]
    unanswerable = [o for o in outcomes if not o["answerable"]]
    latencies = [o["latency_ms"] for o in outcomes]
    checked = sum(o["citations_checked"] for o in outcomes)
    summary = {
        "questions": len(outcomes), "answerable": len(answerable), "unanswerable": len(unanswerable),
        **{k: rate(answerable, k) for k in ("hit@1", "hit@5", "answer@5", "answer_sentence", "page@1")},
        "no_answer_on_unanswerable": rate(unanswerable, "no_answer"),
        "no_answer_on_answerable": rate(answerable, "no_answer"),
        "citation_exact": {"rate": round(sum(o["citations_exact"] for o in outcomes) / checked, 4) if checked else None,
                           "n": checked},
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "median": median(latencies)},
    }
    # html and pdf always, as before; man and info only in a set that has them.
    for kind in [k for k in KINDS if k in ("html", "pdf") or any(o["kind"] == k for o in answerable)]:
        subset = [o for o in answerable if o["kind"] == kind]
        summary[f"by_kind_{kind}"] = {k: rate(subset, k)["rate"] for k in ("hit@1", "hit@5", "answer@5", "answer_sentence")}
        summary[f"by_kind_{kind}"]["n"] = len(subset)
    packages = sorted({o["gold_doc_id"].split("/")[0] for o in answerable})
    summary["by_package"] = {
        p: {k: rate([o for o in answerable if o["gold_doc_id"].startswith(p + "/")], k)["rate"]
            for k in ("hit@1", "hit@5", "answer@5", "answer_sentence")}
        | {"n": sum(1 for o in answerable if o["gold_doc_id"].startswith(p + "/"))}
        for p in packages}
    return summary


def print_table(summaries: dict, build_info: dict) -> None:
    rows = [("hit@1", "hit@1"), ("hit@5", "hit@5"), ("answer@5", "answer@5"), ("answer_sentence", "answer_sentence"),
            ("page@1 (PDF)", "page@1"), ("no_answer | unanswerable", "no_answer_on_unanswerable"),
            ("no_answer | answerable", "no_answer_on_answerable"), ("citation exact", "citation_exact")]
    splits = list(summaries)
    print()
    print(f"{'metric':28s}" + "".join(f"{s:>16s}" for s in splits))
    for label, key in rows:
        cells = []
        for s in splits:
            r = summaries[s][key]
            cells.append(f"{r['rate']:.3f} (n={r['n']})" if r["rate"] is not None else "-")
        print(f"{label:28s}" + "".join(f"{c:>16s}" for c in cells))
    for pct in ("p50", "p95"):
        print(f"{'/ask latency ' + pct + ' ms':28s}" + "".join(f"{summaries[s]['latency_ms'][pct]:>16}" for s in splits))
    asked = " + ".join(x for x in summaries if x != "all")
    print(f"\nby gold package ({asked}): {'hit@1':>7s}{'hit@5':>7s}{'ans@5':>7s}{'sentence':>9s}")
    for package, r in summaries["all"]["by_package"].items():
        print(f"  {package:22s} n={r['n']:<4d}" + "".join(f"{r[k]:7.2f}" for k in ("hit@1", "hit@5", "answer@5"))
              + f"{r['answer_sentence']:9.2f}")
    print(f"\nbuild: {build_info['build']['wall_s']} s wall ({'reused index' if build_info['reused'] else 'this run'}, "
          f"embedding cache {'warm' if build_info['embedding_cache_warm'] else 'cold'})")


def run(args) -> int:
    qset = SETS[args.set]
    questions = load_questions(qset)
    if args.split != "all":
        # Tuning runs ask dev alone, so the test half is not seen until the change is final.
        questions = [q for q in questions if q["split"] == args.split]
    build_info = build(args.corpus, args.index, args.rebuild)
    qset["var"].mkdir(parents=True, exist_ok=True)  # an --index elsewhere leaves the set's folder unmade
    server = Server(args.index, qset["var"] / "serve.log")
    try:
        health = server.health
        load_before = loadavg()
        outcomes = ask_all(server.url, questions)
        load_after = loadavg()
    finally:
        server.stop()
    by_id = {q["id"]: q for q in questions}
    for o in outcomes:
        q = by_id[o["id"]]
        o["question"], o["gold_doc_id"], o["answers"] = q["question"], q["doc_id"], q["answers"]
        if q.get("page"):
            o["gold_page"] = q["page"]
    splits = [s for s in ("dev", "test") if any(q["split"] == s for q in questions)]
    summaries = {split: summarise([o for o in outcomes if o["split"] == split]) for split in splits}
    summaries["all"] = summarise(outcomes)
    print_table(summaries, build_info)
    state = askdocs_state()
    result = {
        "benchmark": "realdocs", "set": args.set, "askdocs": state, "machine": machine(),
        "loadavg_during_questions": [load_before, load_after],
        "settings": {"top_k": TOP_K, "mode": MODE, "askdocs_env": index_settings(), "server_args": "defaults"},
        "corpus": {"manifest_sha256": build_info["key"]["corpus_manifest_sha256"],
                   "packages": (args.corpus / "PACKAGES.versions").read_text().split("\n")[:-1],
                   "files": len((args.corpus / "MANIFEST.sha256").read_text().splitlines())},
        "index": {k: health.get("index", {}).get(k)
                  for k in ("documents", "chunks", "model", "runtime", "precision", "vectors", "built_at")},
        "build": {**build_info["build"], "reused": build_info["reused"], "built_at": build_info["built_at"],
                  "embedding_cache_warm": build_info["embedding_cache_warm"],
                  "loadavg_before": build_info.get("loadavg_before"), "loadavg_after": build_info.get("loadavg_after")},
        "command": " ".join(["bench/realdocs.py", *sys.argv[1:]]),
        "summary": summaries,
        "outcomes": outcomes,
    }
    path = write_result(args.out, result)
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["verify", "build", "run"])
    parser.add_argument("--set", choices=sorted(SETS), default="main",
                        help="main: the set tuned on (dev) and confirmed on (test); unseen: only ever reported; "
                             "manuals: man pages and Info manuals, only ever reported")
    parser.add_argument("--corpus", type=Path, help="default var/realdocs/corpus (var/realdocs-SET/ for the other sets)")
    parser.add_argument("--index", type=Path, help="default var/realdocs/index (var/realdocs-SET/ for the other sets)")
    parser.add_argument("--rebuild", action="store_true", help="build even when the stamp says the index is current")
    parser.add_argument("--out", help="file name under bench/results/ (default realdocs.json, realdocs-SET.json)")
    parser.add_argument("--split", choices=["all", "dev", "test"], default="all",
                        help="ask only this split's questions (tune with dev; test once, at the end)")
    args = parser.parse_args()
    qset = SETS[args.set]
    args.corpus = args.corpus or qset["var"] / "corpus"
    args.index = args.index or qset["var"] / "index"
    args.out = args.out or qset["out"]
    if args.command == "verify":
        return verify(qset, args.corpus)
    if args.command == "build":
        build(args.corpus, args.index, args.rebuild)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
