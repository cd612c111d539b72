"""Answer candidates: the spans of a passage that can be presented as the answer.

Works from what the index stores: a chunk's text and its sentence spans (document offsets). Technical
documents keep answers in places a sentence splitter does not see as sentences, and show lines that are never
answers, so the stored sentences are first regrouped and classified:

- hard-wrapped lines of one sentence (a line that does not end a thought, followed by one that starts in lower
  case) are joined back into one sentence;
- headings, questions, table-of-contents lines, navigation lines, bare list markers and very short fragments
  are never candidates (a heading's answer is what follows it, which is a candidate of its own);
- a definition-list term or an option/signature line (short, no closing punctuation) is not a candidate alone
  but together with its description: term + first sentence, and term + the description up to a length cap;
  where the index keeps block kinds, a description's first sentence is not a candidate without its term, a term
  is a term whatever it looks like, and no sentence runs across two blocks of different kinds;
- a lead-in ending in ':' is a candidate together with the list that follows it;
- a sentence followed, in the same paragraph, by a short one that states a value ("The default is 4.0.") is also a
  candidate together with it (``sentence-value``): the first matches the question, the second answers it;
- a command line ("$ ssh-keygen -t rsa") is a candidate together with the sentence that introduces it; a command's
  synopsis ("mapfile [-d delim] [-n count] ... [array]") is a term, answered with its description.

Every candidate is one contiguous span of the stored text (start of its first sentence to the end of its last),
so its citation slices the document exactly. Nothing here crosses a chunk's edge.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------------- lines
_TERMINAL = re.compile(r"[.!?][\"”’')\]]*$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•▪◦‣–]|\d{1,3}[.)]|\([a-z0-9]\))(?:\s+|$)")
_BARE_MARKER = re.compile(r"^\s*(?:[-*+•▪◦‣–]|\d{1,3}[.)])\s*$")
# "Contents ........ 12", "2.3 Pattern Matching . . . . . 42", "Chapter 2: R Basics 10", "DebianReference 81/ 233"
_DOT_LEADER = re.compile(r"(?:\.\s?){4,}|(?:…\s*){2,}|(?:·\s?){4,}")
_TRAILING_PAGE = re.compile(r"\s(?:\d{1,4}|[ivxlc]{1,6}|\d{1,4}\s?/\s?\d{1,4})\s*$", re.IGNORECASE)
_NAV_START = re.compile(
    r"^\s*(?:next|prev|previous|up|home|index|contents|table of contents|top|back|return to|go to|skip to|"
    r"jump to|see also|updated:|last updated|copyright|©|print|edit|search)\b", re.IGNORECASE)
_BREADCRUMB = re.compile(r"\s(?:»|›|>|\||::|→)\s")
_WORD = re.compile(r"[^\W_]+(?:[-_.'’][^\W_]+)*")
_HEADING_MARK = re.compile(r"^\s*(?:#{1,6}\s|(?:chapter|section|part|appendix)\s+[\divxlc]+\b|\d+(?:\.\d+)+\.?\s)",
                           re.IGNORECASE)
# An option, command, setting or signature: what a definition list names.
_TERM_SHAPE = re.compile(r"(?:^|\s)(?:--?[\w][\w-]*|\\\w+|\w+\(.*\)|[\w.]*_[\w.]*|[A-Z][A-Z0-9_]{2,}\b|\[.*\])")
# A command line as manuals print it: a shell or client prompt, then the command ("$ ssh-keygen -t rsa",
# "# dpkg-reconfigure tzdata", "sqlite> PRAGMA foreign_keys = ON;"). "# " followed by a lower-case word is a root
# prompt, not a Markdown heading (the index marks real headings).
_COMMAND = re.compile(r"^\s*(?:[$#%]\s+[a-z][\w.+-]*|[a-z]\w*(?:=[#>]|>)\s+\S|=>\s+\S)")
# A synopsis: a name and its bracketed arguments ("mapfile [-d delim] [-n count] ... [array]"), however long.
_BRACKETED = re.compile(r"\[[^\[\]]*\]")
# A short line that ends in one of these words is a sentence cut off (by a page break, a running header), not a
# term or a heading: "The ERR trap is".
_DANGLING = frozenset("a an the of to and or in on with for by from as at is are was were be been that which "
                      "whose than if when".split())

MAX_SHORT_WORDS = 12   # a line with no closing punctuation and at most this many words is a heading or a term
MIN_WORDS = 3          # fewer words, no digit and no identifier: a fragment
DEFINITION_CHARS = 420  # term + description cap
LIST_CHARS = 520        # lead-in + list cap

ELIGIBLE = "sentence"
DESCRIBES = "describes"  # a description too short to be a sentence alone; a candidate with its term


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


@lru_cache(maxsize=65536)
def line_kind(text: str) -> str:
    """What one (regrouped) sentence is: ``sentence`` (a candidate), or why it cannot be an answer alone."""
    stripped = text.strip()
    marked = bool(_LIST_MARKER.match(stripped))
    body = _LIST_MARKER.sub("", stripped, count=1).strip() if marked else stripped
    words = _words(body)
    if not body or _BARE_MARKER.match(stripped):
        return "marker"
    if _dot_leader(stripped):
        return "toc"
    if _COMMAND.match(stripped) and "\n\n" not in stripped:
        return "command"
    if _synopsis(body):
        return "term"
    first_line = stripped.split("\n", 1)[0]
    if _NAV_START.match(body) and len(words) <= 10:
        return "navigation"
    if (not marked and len(words) <= 12 and "[" not in first_line and "{" not in first_line
            and len(_BREADCRUMB.findall(first_line)) >= 2 and not _terminal(stripped)):
        return "navigation"
    if stripped.endswith("?") and len(words) >= 2:
        return "question"
    if stripped.endswith(":"):
        return "lead-in"
    terminal = _terminal(stripped)
    if not terminal and len(words) <= MAX_SHORT_WORDS and _TRAILING_PAGE.search(stripped) and len(words) >= 2:
        return "toc"  # a TOC line or a running header: "Chapter 2: R Basics 10"
    if not terminal and len(words) <= MAX_SHORT_WORDS:
        if words and words[-1].lower() in _DANGLING:
            return "fragment"
        if marked or _TERM_SHAPE.match(body) or (_TERM_SHAPE.search(body) and not _prose_start(body)):
            return "term"  # "- checkpoint_timeout (integer)", "--norc", "\timing"
        return "fragment" if body[:1].islower() else "heading"
    if _HEADING_MARK.match(stripped) and not terminal:
        return "heading"
    if len(words) < MIN_WORDS and not any(c.isdigit() for c in body) and not _TERM_SHAPE.search(body):
        return "fragment"
    return ELIGIBLE


# The two checks below answer as _DOT_LEADER.search and _TERMINAL.search do, without the regex's attempt at every
# position of the sentence (the bulk of line_kind's time on prose; every new sentence of a passage goes through it).
_CLOSERS = "\"”’')]"


def _dot_leader(text: str) -> bool:
    """``_DOT_LEADER.search(text)``: each of its forms needs four dots, two ellipses or four middle dots."""
    if text.count(".") < 4 and text.count("…") < 2 and text.count("·") < 4:
        return False
    return bool(_DOT_LEADER.search(text))


def _terminal(text: str) -> bool:
    """``bool(_TERMINAL.search(text))``: '.', '!' or '?' followed only by closing quotes and brackets."""
    if text.endswith("\n"):  # the regex's $ also matches before a final newline
        text = text[:-1]
    return text.rstrip(_CLOSERS)[-1:] in (".", "!", "?")


def _synopsis(body: str) -> bool:
    """A command's synopsis: two or more bracketed arguments and hardly a word outside them, no closing '.'."""
    brackets = _BRACKETED.findall(body)
    if len(brackets) < 2 or body.rstrip().endswith((".", ":", "?")) and not body.rstrip().endswith("...]"):
        return False
    outside = _words(_BRACKETED.sub(" ", body))
    return len(outside) <= 6 and bool(outside) and not outside[0][:1].isupper()


def _prose_start(body: str) -> bool:
    """A line that reads as a clause ("specifying the -p option to the command builtin command"), not as a command
    and its arguments ("set terminal dumb {size <xchars>,<ychars>}"): lower case, with function words in it."""
    words = body.split()
    return (len(words) >= 4 and words[0][:1].islower() and words[0].isalpha()
            and sum(w.lower() in _DANGLING for w in words[1:]) >= 2)


# ---------------------------------------------------------------------------------------------------- units
@dataclass
class Group:
    """Consecutive stored sentences read as one: a sentence whose lines the splitter had cut apart."""

    first: int  # index of the first stored sentence (within the passage)
    last: int   # inclusive
    start: int  # document offsets
    end: int
    text: str
    kind: str = ""
    block: str = ""  # the loader's block kind of its first sentence, where the index keeps them


@dataclass
class Unit:
    """An answer candidate: a contiguous span, the stored sentences it covers and how it was formed."""

    start: int
    end: int
    sentences: list[int]  # indices of the passage's stored sentences (their vectors are averaged)
    kind: str             # sentence | sentence-value | definition | definition-long | list | example
    group: int            # index of the group the answer part starts at
    context: str = ""     # the heading or term this unit sits under (within the chunk), for features
    core: list[int] = field(default_factory=list)  # the sentences whose vectors stand for it (not a term line)

    def __post_init__(self):
        if not self.core:
            self.core = list(self.sentences)


def _continues(previous: str, gap: str, following: str) -> bool:
    """Is ``following`` the next line of the same sentence as ``previous`` (hard-wrapped text)?"""
    if not following:
        return False
    if not gap and previous and not previous[-1].isspace():
        return True  # cut inside a word ("from ." + "RData"): the splitter saw a sentence end that is not one
    if gap.count("\n") > 1:
        return False
    if _terminal(previous.rstrip()) or _BARE_MARKER.match(previous) or _LIST_MARKER.match(following):
        return False
    head = following.lstrip()[:1]
    return head.islower() or head in "([{"


def groups(text: str, offset: int, spans, blocks: list[str] | None = None) -> list[Group]:
    """Regroup the stored sentence spans of one passage (``text`` starts at document offset ``offset``).

    ``blocks``: each stored sentence's block kind, where the index keeps them (None: the text alone decides).
    Sentences of two blocks of different kinds are never one sentence: a manual page's option term ("-a, --all")
    and its lower-case description ("write counts for all files, not just directories") read as one hard-wrapped
    sentence, and a whole option list ran together into one candidate."""
    out: list[Group] = []
    for i, (s, e) in enumerate(spans):
        s, e = int(s), int(e)
        sentence = text[s - offset:e - offset]
        if out and (blocks is None or blocks[i] == blocks[out[-1].last]) and _continues(
                out[-1].text, text[out[-1].end - offset:s - offset], sentence):
            last = out[-1]
            last.last, last.end = i, e
            last.text = text[last.start - offset:e - offset]
            continue
        out.append(Group(i, i, s, e, sentence))
    for g in out:
        g.kind = line_kind(g.text)
        if blocks is not None:
            g.block = blocks[g.first]
            g.kind = _as_typed(g.kind, g.block)
    return out


def _as_typed(kind: str, block: str) -> str:
    """Where the loader's block kind says more than the text's shape: a definition list's term is a term whatever
    it looks like, and a description that reads as a fragment (GNU's option descriptions are lower case without a
    closing period: "print sizes in human readable format") is what its term means: an answer together with its
    term (``DESCRIBES``), not alone."""
    # The loader has already dropped navigation and typed the headings: in a definition list, a line that starts
    # like a navigation link ("print sizes ...") or reads like a short title is the definition's own text.
    if block == "term" and kind in (ELIGIBLE, "heading", "fragment", "navigation"):
        return "term"
    if block == "description" and kind in ("fragment", "heading", "navigation", "term"):
        return DESCRIBES  # "like -l, but do not list owner" has an option in it; it is still -g's description
    return kind


def units(text: str, offset: int, spans, blocks: list[str] | None = None) -> tuple[list[Group], list[Unit]]:
    """The passage's groups and its answer candidates, in document order (``blocks``: as for ``groups``)."""
    gs = groups(text, offset, spans, blocks)
    found: list[Unit] = []
    context = ""
    for j, g in enumerate(gs):
        if g.kind in ("heading", "term"):
            context = g.text
        if g.kind == ELIGIBLE:
            # A description's first sentence with its term before it is answered with the term (its definition
            # units): "Ignore case distinctions in patterns" alone does not say it is -i, and the one describing
            # --no-ignore-case, worded alike, won as often as not.
            defined = g.block == "description" and j > 0 and gs[j - 1].kind == "term"
            if _states_value(gs, j, text, offset):
                # Its vector is the first sentence's (what matches the question), so it scores as the sentence
                # alone does, or higher where the value carries a cue the question asks for; listed first, so that
                # a tie shows the value too. A description's sentence takes its term along.
                nxt, opens = gs[j + 1], gs[j - 1] if defined else g
                found.append(Unit(opens.start, nxt.end, list(range(opens.first, nxt.last + 1)), "sentence-value", j,
                                  context, core=list(range(g.first, g.last + 1))))
            if not defined:
                found.append(Unit(g.start, g.end, list(range(g.first, g.last + 1)), "sentence", j, context))
        elif g.kind == "term":
            found.extend(_definition(gs, j))
        elif g.kind == "lead-in":
            unit = _list(gs, j, context)
            if unit:
                found.append(unit)
        elif g.kind == "command" and j > 0 and gs[j - 1].kind == ELIGIBLE:
            found.append(_example(gs, j, context))
    return gs, found


# A short sentence that states a value of what the sentence before it names: "The default is 4.0.", "It defaults
# to 64 megabytes (64MB).", "The default is “read committed”.", "Its maximum is 1024.". A short sentence with a
# number and a subject of its own ("The warehouse was added in 1910.") is another fact, not that value.
_VALUE_SENTENCE = re.compile(r"\bdefault|^\W*(?:it|its|this|that|these|those)\b.*\d", re.IGNORECASE)
VALUE_WORDS = 10
# Or how to do what the sentence before describes: "In some cases it is useful to add a user to a group ..." +
# "This can be achieved with a command such as adduser user group." (manuals say "how" one sentence later).
_MEANS_SENTENCE = re.compile(r"^\W*(?:this|it|that)\s+(?:can|may|is|should)\s+(?:be\s+|also\s+be\s+)?"
                             r"(?:done|achieved|accomplished|obtained|enabled|disabled|changed|set|configured)\s+"
                             r"(?:with|by|using|through|via|from)\b", re.IGNORECASE)
MEANS_WORDS = 20
_SEE = re.compile(r"^\s*(?:see|cf\.)\s", re.IGNORECASE)


def _states_value(gs: list[Group], j: int, text: str, offset: int) -> bool:
    """Is the sentence after ``gs[j]``, in the same paragraph, a short one that states a value?

    A setting's description restates the question ("Sets the planner's estimate of the cost of a
    non-sequentially-fetched disk page.") and the value comes one sentence later ("The default is 4.0."): the
    sentence that matches the question and the one that answers it are two. Together they are a candidate of their
    own, so that the value is shown with what it is the value of."""
    if j + 1 >= len(gs) or gs[j + 1].kind != ELIGIBLE:
        return False
    nxt = gs[j + 1]
    if "\n\n" in text[gs[j].end - offset:nxt.start - offset]:
        return False
    words = len(_words(nxt.text))
    return ((words <= VALUE_WORDS and bool(_VALUE_SENTENCE.search(nxt.text)) and not _SEE.match(nxt.text))
            or (words <= MEANS_WORDS and bool(_MEANS_SENTENCE.match(nxt.text))))  # "See ..." states nothing


def _example(gs: list[Group], j: int, context: str) -> Unit:
    """The sentence that introduces a command line, with the command lines after it ("Generate authentication keys
    locally ... by the following." + "$ ssh-keygen -t rsa"): the command is the answer to "how do I", and the
    sentence says what it does. Its vector is the sentence's (a command says little to the model)."""
    lead = gs[j - 1]
    end = j
    while end + 1 < len(gs) and gs[end + 1].kind == "command" and gs[end + 1].end - lead.start <= LIST_CHARS:
        end += 1
    return Unit(lead.start, gs[end].end, list(range(lead.first, gs[end].last + 1)), "example", j - 1, context,
                core=list(range(lead.first, lead.last + 1)))


def _definition(gs: list[Group], j: int) -> list[Unit]:
    """Term + first description sentence, and term + description up to DEFINITION_CHARS."""
    term = gs[j]
    k = j + 1
    while k < len(gs) and gs[k].kind == "marker":
        k += 1
    # A term continued on the next line ("- \?" then "[ topic ]") stays part of the term.
    while k < len(gs) and gs[k].kind == "term" and not _LIST_MARKER.match(gs[k].text) and k - j < 3:
        k += 1
        while k < len(gs) and gs[k].kind == "marker":
            k += 1
    if k >= len(gs) or gs[k].kind not in (ELIGIBLE, "lead-in", DESCRIBES):
        return []
    members = list(range(term.first, gs[k].last + 1))
    # The unit's vector is its description's: a term line ("--norc") says little to the model, and averaging it
    # in would make the definition lose to its own description sentence.
    out = [Unit(term.start, gs[k].end, members, "definition", k, term.text,
                core=list(range(gs[k].first, gs[k].last + 1)))]
    end = k
    # Where the index keeps block kinds, the description ends where its block does: the paragraph after an option
    # list is not what the last option means.
    while (end + 1 < len(gs) and gs[end + 1].kind in (ELIGIBLE, "lead-in", "fragment", DESCRIBES)
           and (not gs[k].block or gs[end + 1].block == gs[k].block)
           and not _LIST_MARKER.match(gs[end + 1].text) and gs[end + 1].end - term.start <= DEFINITION_CHARS):
        end += 1
    if end > k:
        out.append(Unit(term.start, gs[end].end, list(range(term.first, gs[end].last + 1)), "definition-long", k,
                        term.text, core=list(range(gs[k].first, gs[end].last + 1))))
    return out


def _list(gs: list[Group], j: int, context: str) -> Unit | None:
    """A lead-in ending in ':' with the list items (and their descriptions) after it, up to LIST_CHARS."""
    lead = gs[j]
    end = j
    items = 0
    k = j + 1
    while k < len(gs) and gs[k].end - lead.start <= LIST_CHARS:
        g = gs[k]
        if g.kind in ("heading", "question", "toc", "navigation"):
            break
        if _LIST_MARKER.match(g.text) or g.kind in ("term", "marker", "command"):
            items += g.kind != "marker"
        elif items == 0:
            # Not a list: a lead-in followed by prose or a code line is still its own introduction.
            if g.kind not in (ELIGIBLE, "fragment"):
                break
            items += 1
        end = k
        k += 1
    if end == j:
        return None
    return Unit(lead.start, gs[end].end, list(range(lead.first, gs[end].last + 1)), "list", j, context)
