"""Why the answer sentence misses: every real-documents dev question whose gold string is in the top-5 passages
but not in the answer, with what was chosen, where the gold is and a category (issue 15, section 2).

    PYTHONPATH=. python bench/answer_errors.py [--index var/realdocs/index] [--split dev] [--out answer-errors.json]

In process through Engine.evidence (the code POST /ask runs). The category is proposed by the rules below from
where the gold string sits; the table in bench/README.md is after reading every case.

- ``refused``: no_answer, though a passage holds the gold string;
- ``gold not a candidate``: no candidate of the first five passages contains it; the sub-kind says what the stored
  sentences holding it are (a heading, a term line alone, a code line, a fragment ...) or that it spans two units;
- ``wrong unit, right passage``: a candidate of the chosen passage holds it, another one of that passage won;
- ``wrong passage``: only candidates of other passages hold it.

Never run on the test split while tuning.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, write_result  # noqa: E402
from bench.realdocs import contains, load_questions  # noqa: E402
from askdocs.index.structure import KIND_CODE  # noqa: E402
from askdocs.search import open_index  # noqa: E402
from askdocs.search.candidates import groups  # noqa: E402

KIND_NAME = {v: k for k, v in KIND_CODE.items()}


def where_gold(stored, rows: dict[str, int], passage, answers: list[str]) -> list[dict]:
    """The regrouped sentences of ``passage`` that overlap an occurrence of a gold string, with their kinds."""
    start = passage.citation.char_start
    text = passage.text
    lowered = text.casefold()
    out = []
    row = rows[passage.citation.chunk_id]
    first, count = int(stored.chunks.sentence_first[row]), int(stored.chunks.sentence_count[row])
    sentence_spans = [(int(a), int(b)) for a, b in stored.sentence_spans[first:first + count]
                      if start <= int(a) and int(b) <= start + len(text)]
    gs = groups(text, start, sentence_spans)
    kinds = stored.sentence_kinds[first:first + count] if stored.sentence_kinds is not None else None
    for a in answers:
        i = lowered.find(a.casefold())
        while i >= 0:
            s, e = start + i, start + i + len(a)
            hit = [g for g in gs if g.start < e and s < g.end]
            out.append({"answer": a, "groups": [{"text": g.text[:200], "line_kind": g.kind,
                                                 "block_kinds": _block_kinds(stored, first, sentence_spans, g, kinds)}
                                                for g in hit],
                        "outside_sentences": not hit})
            i = lowered.find(a.casefold(), i + 1)
    return out


def _block_kinds(stored, first, spans, g, kinds):
    if kinds is None:
        return None
    all_spans = [(int(a), int(b)) for a, b in stored.sentence_spans[first:first + len(kinds)]]
    return sorted({KIND_NAME.get(int(kinds[all_spans.index(sp)]), "?") for sp in spans[g.first:g.last + 1]
                   if sp in all_spans})


def analyse(engine, rows: dict[str, int], q: dict) -> dict:
    response, _, ev = engine.evidence(q["question"], 5, "hybrid")
    answers = q["answers"]
    passages = response.passages[:5]
    in_passages = [i for i, p in enumerate(passages) if contains(p.text, answers)]
    answer_text = response.answer.text if response.answer else None
    out = {"id": q["id"], "question": q["question"], "answers": answers, "gold_doc": q["doc_id"],
           "no_answer": response.no_answer, "answer": answer_text,
           "answer_rank": response.answer.passage_rank if response.answer else None,
           "answer@5": bool(in_passages), "answer_sentence": contains(answer_text, answers)}
    if not in_passages or out["answer_sentence"]:
        return out
    ranks = np.array(ev.ranks)
    logits = np.array(ev.logits)
    allowed = ranks < 5
    order = np.argsort(-np.where(allowed, logits, -np.inf))
    best = int(order[0]) if len(order) and allowed.any() else None
    gold_cands = [i for i in range(len(ev.texts)) if allowed[i] and contains(ev.texts[i], answers)]
    out["chosen"] = ({"rank": int(ranks[best]) + 1, "kind": ev.kinds[best], "logit": round(float(logits[best]), 3),
                      "text": ev.texts[best][:300]} if best is not None else None)
    out["gold_candidates"] = [{"rank": int(ranks[i]) + 1, "kind": ev.kinds[i], "logit": round(float(logits[i]), 3),
                               "place": int(np.flatnonzero(order == i)[0]) + 1, "text": ev.texts[i][:300]}
                              for i in gold_cands]
    out["gold_in_passages"] = [{"rank": i + 1, "doc": passages[i].citation.doc_id,
                                "where": where_gold(engine.stored, rows, passages[i], answers)} for i in in_passages]
    out["passages"] = [{"rank": p.rank, "doc": p.citation.doc_id, "section": p.citation.section,
                        "text": p.text[:600]} for p in passages]
    if response.no_answer:
        out["category"] = "refused"
    elif not gold_cands:
        out["category"] = "gold not a candidate"
        kinds = Counter()
        for g in out["gold_in_passages"]:
            for w in g["where"]:
                if w["outside_sentences"]:
                    kinds["outside stored sentences"] += 1
                elif len(w["groups"]) > 1:
                    kinds["spans two units"] += 1
                else:
                    kinds[w["groups"][0]["line_kind"] + "/" + ",".join(w["groups"][0]["block_kinds"] or [])] += 1
        out["sub"] = dict(kinds)
    elif best is not None and any(int(ranks[i]) == int(ranks[best]) for i in gold_cands):
        out["category"] = "wrong unit, right passage"
    else:
        out["category"] = "wrong passage"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=ROOT / "var" / "realdocs" / "index")
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    parser.add_argument("--out", default="answer-errors.json")
    args = parser.parse_args()
    engine = open_index(args.index)
    # Chunk rows by chunk id, to find a passage's stored sentences (the benchmark index is small enough to list).
    rows = {cid: i for i, cid in enumerate(engine.stored.chunk_ids(list(range(engine.stored.n_chunks))))}
    questions = [q for q in load_questions() if q["split"] == args.split and q["answers"]]
    results = [analyse(engine, rows, q) for q in questions]
    engine.close()
    failures = [r for r in results if r.get("category")]
    counts = Counter(r["category"] for r in failures)
    print(f"{len(questions)} answerable {args.split} questions; answer@5 {sum(r['answer@5'] for r in results)}, "
          f"answer_sentence {sum(r['answer_sentence'] for r in results)}; "
          f"{len(failures)} with the gold in the passages but not in the answer")
    for category, n in counts.most_common():
        print(f"  {category:28s} {n}")
    for r in failures:
        print(f"\n[{r['category']}] {r['id']}: {r['question']}  gold={r['answers']}")
        if r["chosen"]:
            c = r["chosen"]
            print(f"   chosen  p{c['rank']} {c['kind']:16s} {c['logit']:7.3f}  {c['text'][:220]!r}")
        for g in r["gold_candidates"][:3]:
            print(f"   gold #{g['place']:<3d}p{g['rank']} {g['kind']:16s} {g['logit']:7.3f}  {g['text'][:220]!r}")
        if r.get("sub"):
            print(f"   where: {r['sub']}")
            for g in r["gold_in_passages"][:2]:
                for w in g["where"][:2]:
                    for gr in w["groups"][:2]:
                        print(f"     p{g['rank']} {gr['line_kind']}/{gr['block_kinds']}: {gr['text'][:160]!r}")
    write_result(args.out, {"split": args.split, "counts": dict(counts), "results": results})


if __name__ == "__main__":
    main()
