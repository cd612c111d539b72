"""The answer scorer: which candidate (search.candidates) answers the question.

A logistic model over cheap features of each (question, candidate) pair, trained by
bench/train_answer_scorer.py on one half of SQuAD v1.1 dev (split by a hash of the article title) and the
real-documents dev questions; its weights ship in ``search/data/answer_scorer.json``. Features:

- ``cos``: the candidate's vector (the mean of its stored sentence vectors) against the question's;
- ``coverage``: idf share of the question's terms (lemma keys) the candidate contains; ``context_coverage``:
  the same for the heading or definition term it sits under; relative versions (minus the best candidate's);
- novelty: the share of the candidate's words the question does not have (an answer adds something);
- ``term_cue``: a definition unit whose term is an identifier the question lacks, for "which option/setting";
  ``name_coverage``: the share of the question's names (capitalised or non-dictionary words) it contains;
- answer-type cues: a number for "how many/much/long", a year or date for "when", a capitalised name for
  "who", an identifier / ``--option`` / ``\\command`` for "which option/command/setting", "default" for
  "default" questions; each cue fires only when the question asks for it;
- where it is: passage rank, fused score behind the top passage, same document as the top passage, the kind of
  unit (sentence, definition, list, example: a command line with the sentence that introduces it), its length.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from .terms import QUESTION_WORDS, coverage, name_terms
from .terms import _keys, keys

SCORER_FILE = "answer_scorer.json"

_NUMBER = re.compile(r"\d")
_YEAR_OR_DATE = re.compile(
    r"\b(?:1[5-9]\d\d|20\d\d)\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d|"
    r"\b\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)|\bcentury\b",
    re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?:^|[\s(\[{\"'`])(?:--?[A-Za-z][\w-]*|\\[A-Za-z]+|[A-Za-z]\w*_\w+|[A-Za-z_]\w*\(\)|"
                         r"[A-Z][A-Z0-9_]{2,}\b|\.[A-Za-z]\w+|~/\S+|/\w+/\S*|\w+\.\w{1,4}\b|%\w)|"
                         r"(?m:^\s*[$#]\s+[a-z][\w.+-]*)")  # a command after a shell prompt
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")
_UNIT_WORDS = re.compile(r"\b(?:seconds?|minutes?|hours?|days?|bytes?|kb|mb|gb|kib|mib|gib|percent|%|ms|s)\b",
                         re.IGNORECASE)

_ASKS_NUMBER = re.compile(r"\bhow (?:many|much|long|big|large|old|far|often|high|low|fast|small)\b|"
                          r"\bwhat (?:is the |was the )?(?:number|percentage|size|limit|maximum|minimum|amount|"
                          r"population|cost|price|length)\b|\bhow\s+\w+\s+(?:bytes|characters|rows|columns)\b|"
                          # a quantity named anywhere: "the largest page size", "the cost of a ... page", "what exit
                          # status", "default memory for VACUUM"
                          r"\b(?:largest|smallest|maximum|minimum|cost|port|exit (?:status|code)|timeout|memory)\b",
                          re.IGNORECASE)
_ASKS_WHEN = re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|century|decade|time)\b|\bin which year\b",
                        re.IGNORECASE)
_ASKS_WHO = re.compile(r"\bwho(?:m|se)?\b|\bwhich (?:person|man|woman|company|organi[sz]ation|team|country|city)\b",
                       re.IGNORECASE)
_ASKS_IDENTIFIER = re.compile(
    r"\b(?:option|flag|switch|command|meta-command|setting|parameter|variable|function|keyword|pragma|"
    r"directive|builtin|escape|syntax|argument|file|program|utility|tool|extension|clause|statement|key|"
    r"env(?:ironment)?|shortcut)s?\b", re.IGNORECASE)
_ASKS_DEFAULT = re.compile(r"\bdefault", re.IGNORECASE)
_ASKS_HOW = re.compile(r"^\s*how (?:do|can|to|would|should)\b|\bwhat (?:command|do i)\b", re.IGNORECASE)

FEATURES = [
    "cos", "cos_rel", "coverage", "coverage_rel", "context_coverage", "novelty", "log_chars",
    "rank", "fused_gap", "same_doc_as_top",
    "kind_definition", "kind_definition_long", "kind_list",
    "number_cue", "when_cue", "who_cue", "identifier_cue", "default_cue", "how_cue", "no_cue_asked",
    "cos_x_coverage", "term_cue", "name_coverage", "kind_example",
]


@dataclass
class Candidate:
    """One (question, candidate) pair's raw inputs; ``features`` turns a question's candidates into a matrix."""

    text: str
    vector: np.ndarray
    kind: str
    context: str
    rank: int           # 0-based passage rank
    fused_gap: float    # top passage's fused score minus this passage's
    same_doc: bool


@dataclass
class QuestionInfo:
    text: str
    keys: set[str]
    weights: dict[str, float]
    asks_number: bool
    asks_when: bool
    asks_who: bool
    asks_identifier: bool
    asks_default: bool
    asks_how: bool
    names: set[str]


def question_info(question: str, weights: dict[str, float]) -> QuestionInfo:
    return QuestionInfo(
        text=question, keys=set(keys(question)), weights=weights, names=name_terms(question),
        asks_number=bool(_ASKS_NUMBER.search(question)), asks_when=bool(_ASKS_WHEN.search(question)),
        asks_who=bool(_ASKS_WHO.search(question)), asks_identifier=bool(_ASKS_IDENTIFIER.search(question)),
        asks_default=bool(_ASKS_DEFAULT.search(question)), asks_how=bool(_ASKS_HOW.search(question)),
    )


def _new_matches(pattern: re.Pattern, text: str, asked: str) -> bool:
    """Does ``text`` have a match of ``pattern`` that the question (``asked``, lower-cased) does not already contain?"""
    return any(m.group(0).strip().lower() not in asked for m in pattern.finditer(text))


def features(q: QuestionInfo, candidates: list[Candidate], query_vector: np.ndarray) -> np.ndarray:
    if not candidates:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    vectors = np.stack([c.vector for c in candidates]).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    cos = ((vectors @ query_vector) / np.maximum(norms, 1e-6)).tolist()
    asked = q.text.lower()
    # The coverage of each heading or term once per call: many candidates sit under the same one.
    context_cov: dict[str, float] = {}
    covs = []
    for c in candidates:
        ks = set(_keys(c.text))
        ctx = 0.0
        if c.context:
            ctx = context_cov.get(c.context)
            if ctx is None:
                ctx = context_cov[c.context] = coverage(q.weights, c.context)
        covs.append((coverage(q.weights, ks), ctx, ks))
    best_cov = max(cv for cv, _, _ in covs)
    best_cos = max(cos)
    any_cue = q.asks_number or q.asks_when or q.asks_who or q.asks_identifier or q.asks_default
    names = len(q.names)
    rows = []
    for c, cs, (cv, ctx, ks) in zip(candidates, cos, covs):
        content = ks - QUESTION_WORDS
        novelty = len(content - q.keys) / len(content) if content else 0.0
        text = c.text
        kind = c.kind
        identifier = (q.asks_identifier or q.asks_how) and _new_matches(_IDENTIFIER, text, asked)
        rows.append([
            cs, cs - best_cos, cv, cv - best_cov, ctx, novelty, math.log(1 + len(text)),
            float(c.rank), float(c.fused_gap), float(c.same_doc),
            float(kind == "definition"), float(kind == "definition-long"), float(kind == "list"),
            float(q.asks_number and (_new_matches(_NUMBER, text, asked) or bool(_UNIT_WORDS.search(text)))),
            float(q.asks_when and _new_matches(_YEAR_OR_DATE, text, asked)),
            float(q.asks_who and _new_matches(_CAPITALISED, text, asked)),
            float(q.asks_identifier and identifier),
            float(q.asks_default and "default" in text.lower()),
            float(q.asks_how and identifier),
            float(not any_cue),
            cs * cv,
            # a definition whose term is a new identifier, for a question that asks for one ("which option")
            float(q.asks_identifier and kind.startswith("definition") and _new_matches(_IDENTIFIER, c.context, asked)),
            len(q.names & ks) / names if names else 0.0,
            float(kind == "example"),
        ])
    return np.asarray(rows, dtype=np.float32)


class Scorer:
    """Logistic scores from standardised features; ``score`` returns one logit per candidate."""

    def __init__(self, spec: dict):
        if spec["features"] != FEATURES:
            raise ValueError("answer scorer weights were trained on other features; retrain "
                             "(bench/train_answer_scorer.py)")
        self.spec = spec
        self.mean = np.asarray(spec["mean"], dtype=np.float32)
        self.scale = np.asarray(spec["scale"], dtype=np.float32)
        self.coef = np.asarray(spec["coef"], dtype=np.float32)
        self.intercept = float(spec["intercept"])

    def score(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept


@lru_cache(maxsize=1)
def load_scorer() -> Scorer:
    """The packaged weights: read from inside the package, never downloaded."""
    spec = json.loads(resources.files(__package__).joinpath("data", SCORER_FILE).read_text())
    return Scorer(spec)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))
