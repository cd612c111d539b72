"""BEIR-layout datasets (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) as askdocs documents and questions."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from .documents import Document


def load_corpus(folder: Path) -> list[Document]:
    """One document per corpus line; its text is the title, a blank line, then the body, so titles are searchable."""
    documents = []
    path = Path(folder) / "corpus.jsonl"
    mtime = path.stat().st_mtime
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            title = (record.get("title") or "").strip()
            body = (record.get("text") or "").strip()
            text = f"{title}\n\n{body}" if title else body
            if not text:
                continue
            documents.append(
                Document(
                    doc_id=str(record["_id"]),
                    title=title or body[:80],
                    source=f"{path}#{record['_id']}",
                    sha256=hashlib.sha256(text.encode()).hexdigest(),
                    text=text,
                    kind="text",
                    size=len(text.encode()),
                    mtime=mtime,
                )
            )
    return documents


def load_queries(folder: Path) -> dict[str, str]:
    with open(Path(folder) / "queries.jsonl", encoding="utf-8") as handle:
        return {str(r["_id"]): r["text"] for r in map(json.loads, handle)}


def load_qrels(folder: Path, split: str) -> dict[str, dict[str, int]]:
    path = Path(folder) / "qrels" / f"{split}.tsv"
    if not path.is_file():
        available = sorted(p.stem for p in (Path(folder) / "qrels").glob("*.tsv"))
        raise FileNotFoundError(f"no qrels for split {split!r} in {folder} (available: {', '.join(available)})")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for row in reader:
            if not row or row[0] in ("query-id", "query_id"):
                continue
            query_id, doc_id, score = row[0], row[1], int(row[2])
            qrels.setdefault(query_id, {})[doc_id] = score
    return qrels


def load_answers(folder: Path) -> dict[str, list[str]] | None:
    path = Path(folder) / "answers.jsonl"
    if not path.is_file():
        return None
    answers: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for record in map(json.loads, handle):
            answers[str(record.get("_id", record.get("query_id")))] = list(record.get("answers", []))
    return answers
