"""Compare BM25 tokenisation choices (stopword lists) alone and fused with dense, on a built eval index.

    python bench/tune_bm25.py ../shared/data/scifact --split train
    python bench/tune_bm25.py ../shared/data/squad-v1.1-dev --split dev --limit 2000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import bm25s
import ir_measures
import numpy as np
import Stemmer
from ir_measures import R, nDCG
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bm25s.stopwords import STOPWORDS_EN  # noqa: E402

from askdocs.index import beir  # noqa: E402
from askdocs.index.settings import Settings  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.api.evaluate import prepare_index  # noqa: E402
from askdocs.search.retrieve import _zscore  # noqa: E402

TOKEN = re.compile(r"[^\W_]{2,}|\d")
STEMMER = Stemmer.Stemmer("english")
STOPWORD_LISTS = {"lucene-33": frozenset(STOPWORDS_EN), "sklearn-318": frozenset(ENGLISH_STOP_WORDS), "none": frozenset()}


def tokenizer(stopwords: frozenset, stem: bool):
    def tokenize(text: str) -> list[str]:
        words = [w for w in TOKEN.findall(text.lower()) if w not in stopwords]
        return STEMMER.stemWords(words) if stem else words
    return tokenize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    settings = Settings.from_environment(os.environ)
    engine = open_index(prepare_index(args.dataset, settings, None, progress=False).path, settings)
    stored = engine.stored
    rows = list(range(stored.n_chunks))
    texts = stored.chunk_texts(rows)
    titles = [stored.doc_titles[d] for d in stored.chunks.doc_row]
    retrieval_texts = [t if t.startswith(title) else f"{title}\n{t}" for t, title in zip(texts, titles)]
    doc_of_row = np.array([stored.doc_ids[r] for r in stored.chunks.doc_row], dtype=object)

    qrels = beir.load_qrels(args.dataset, args.split)
    query_texts = beir.load_queries(args.dataset)
    queries = [q for q in qrels if q in query_texts][: args.limit]
    vectors = engine.embedder.encode_queries([query_texts[q] for q in queries])
    dense_all = [stored.vectors.search(v.reshape(1, -1), 100)[0] for v in vectors]

    for name, stopwords in STOPWORD_LISTS.items():
        for k1, b in ((1.2, 0.75), (0.9, 0.4)):
            tokenize = tokenizer(stopwords, stem=True)
            model = bm25s.BM25(method="lucene", k1=k1, b=b)
            model.index([tokenize(t) for t in retrieval_texts], show_progress=False)
            runs = {"bm25": {}, "hybrid": {}}
            for query_id, vector, dense_hits in zip(queries, vectors, dense_all):
                tokens = [t for t in tokenize(query_texts[query_id]) if t in model.vocab_dict]
                lexical_all = model.get_scores(tokens) if tokens else np.zeros(stored.n_chunks, np.float32)
                lexical_rows = np.argsort(-lexical_all)[:100]
                lexical_rows = lexical_rows[lexical_all[lexical_rows] > 0]
                pool = np.union1d(dense_hits.ids, lexical_rows)
                cosine = stored.vectors.get(pool.astype(np.int64)) @ vector
                for run_name, fused in (("bm25", lexical_all[pool]),
                                        ("hybrid", 0.5 * _zscore(cosine) + 0.5 * _zscore(lexical_all[pool]))):
                    docs: dict[str, float] = {}
                    order = np.argsort(-fused, kind="stable")
                    for position, row in enumerate(pool[order]):
                        docs.setdefault(doc_of_row[row], float(len(order) - position))
                    runs[run_name][query_id] = docs
            for run_name, run in runs.items():
                scores = ir_measures.calc_aggregate([nDCG @ 10, R @ 5], {q: qrels[q] for q in queries}, run)
                print(json.dumps({"stopwords": name, "k1": k1, "b": b, "run": run_name,
                                  "ndcg@10": round(scores[nDCG @ 10], 4), "recall@5": round(scores[R @ 5], 4)}),
                      flush=True)


if __name__ == "__main__":
    main()
