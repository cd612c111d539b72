"""The lexical layer of troff as manual pages use it: escapes, request arguments, defined strings and conditions.

``index.formats.man`` interprets the requests and macros; this module turns one line's escapes into the
characters ``man`` shows a reader (nroff's view of the page: ``.if n`` is true, ``.if t`` false), and knows
nothing of blocks. Fonts, sizes, motions and register values have no text and are dropped.
"""

from __future__ import annotations

import re
import unicodedata

# \c: the next input line continues this output line without a space. Callers remove it.
JOIN = "\ue000"

# groff_char(7) names that man pages use; unknown names are dropped. Minus and hyphens stay ASCII: an option
# is typed "--all", whatever glyph a typesetter would draw.
SPECIAL = {
    "bu": "•", "em": "—", "en": "–", "hy": "-", "mi": "-", "-": "-", "aq": "'", "dq": '"', "lq": "“", "rq": "”",
    "oq": "‘", "cq": "’", "Bq": "„", "bq": "‚", "Fo": "«", "Fc": "»", "fo": "‹", "fc": "›", "co": "©", "rg": "®",
    "tm": "™", "dg": "†", "dd": "‡", "de": "°", "mu": "×", "di": "÷", "+-": "±", "<=": "≤", ">=": "≥", "!=": "≠",
    "==": "≡", "~~": "≈", "~=": "≅", "->": "→", "<-": "←", "<>": "↔", "=>": "⇒", "ua": "↑", "da": "↓", "sq": "□",
    "ti": "~", "ha": "^", "rs": "\\", "sl": "/", "ba": "|", "br": "│", "bv": "│", "ul": "_", "ru": "_", "or": "|",
    "at": "@", "sh": "#", "Do": "$", "Eu": "€", "eu": "€", "ct": "¢", "Po": "£", "Ye": "¥", "ss": "ß", "pl": "+",
    "eq": "=", "lB": "[", "rB": "]", "lC": "{", "rC": "}", "la": "⟨", "ra": "⟩", "fm": "′", "sd": "″", "ci": "○",
    "OK": "✓", "ps": "¶", "sc": "§", "ff": "ff", "fi": "fi", "fl": "fl", "Fi": "ffi", "Fl": "ffl", "12": "½",
    "14": "¼", "34": "¾", "S1": "¹", "S2": "²", "S3": "³", "no": "¬", "ga": "`", "aa": "´", "'": "´", "`": "`",
    "ap": "~", "es": "∅", "if": "∞", "pd": "∂", "sr": "√", "*a": "α", "*b": "β", "*g": "γ", "*d": "δ",
    "*e": "ε", "*l": "λ", "*m": "μ", "*p": "π", "*s": "σ", "*W": "Ω", "AE": "Æ", "ae": "æ", "OE": "Œ", "oe": "œ",
    "/o": "ø", "/O": "Ø", "oA": "Å", "oa": "å", "~n": "ñ", "~N": "Ñ", ",c": "ç", ",C": "Ç", "nbsp": " ",
}
for _accent, _marks in ((":", "äëïöüÿÄËÏÖÜ"), ("'", "áéíóúýÁÉÍÓÚÝ"), ("`", "àèìòùÀÈÌÒÙ"), ("^", "âêîôûÂÊÎÔÛ"),
                        ("~", "ãõÃÕ")):
    for _mark in _marks:
        SPECIAL[_accent + unicodedata.normalize("NFD", _mark)[0]] = _mark
# The strings pages use without defining them (groff's man and mdoc define these).
STRINGS = {"lq": "“", "rq": "”", "R": "®", "Tm": "™", "Aq": "'", "S": "", "HF": "", "Lq": "“", "Rq": "”", "la": "<",
           "ra": ">"}
# nroff answers these conditions: a terminal, groff (\n(.g), page numbers unknown.
_REGISTERS = {".g": 1}
# Escapes whose argument is delimited (\h'3n', \w'text'): positions, lines, widths; none shows text.
_DELIMITED = set("hvwlLDxbXAoZBRNCSH")
_SIMPLE = {"-": "-", "e": "\\", "E": "\\", "\\": "\\", " ": " ", "~": " ", "0": " ", "t": "\t", ".": ".",
           "'": "'", "`": "`", "_": "_", "=": "=", "+": "+"}
_DROPPED = set("&)%|^,/:{}adyprujz!?")
_NAMED = set("fFgkmMnVY*")  # followed by a name: one character, (xx, or [name]


def _name(s: str, i: int) -> tuple[str, int]:
    """The name at ``s[i]``: ``x``, ``(xx`` or ``[long name]``; and the index after it."""
    if i >= len(s):
        return "", i
    if s[i] == "(":
        return s[i + 1:i + 3], i + 3
    if s[i] == "[":
        end = s.find("]", i)
        return (s[i + 1:end], end + 1) if end >= 0 else (s[i + 1:], len(s))
    return s[i], i + 1


def _delimited(s: str, i: int) -> tuple[str, int]:
    """The argument of a delimited escape starting at its delimiter ``s[i]``, nested escapes skipped whole."""
    if i >= len(s):
        return "", i
    delim, j = s[i], i + 1
    while j < len(s) and s[j] != delim:
        if s[j] == "\\" and j + 1 < len(s):
            j = _delimited(s, j + 2)[1] if s[j + 1] in _DELIMITED else j + 2
        else:
            j += 1
    return s[i + 1:j], min(j + 1, len(s))


def strip_comment(line: str) -> str:
    """``line`` without its comment (``\\"`` or groff's ``\\#`` to the end)."""
    i = line.find("\\")
    while 0 <= i < len(line) - 1:
        if line[i + 1] in '"#':
            return line[:i]
        i = line.find("\\", i + 2)
    return line


def ends_continued(line: str) -> bool:
    """True when the line ends in an escaped newline (an odd run of backslashes): the next line continues it."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def split_args(s: str) -> list[str]:
    """Request arguments: blank-separated, ``"quoted with spaces"`` (``""`` is a quote), escapes kept whole."""
    args: list[str] = []
    i, n = 0, len(s)
    while i < n:
        while i < n and s[i] in " \t":
            i += 1
        if i >= n:
            break
        if s[i] == '"':
            i += 1
            arg = []
            while i < n:
                if s[i] == '"':
                    if i + 1 < n and s[i + 1] == '"':
                        arg.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                if s[i] == "\\" and i + 1 < n:
                    arg.append(s[i:i + 2])
                    i += 2
                    continue
                arg.append(s[i])
                i += 1
            args.append("".join(arg))
        else:
            start = i
            while i < n and s[i] not in " \t":
                if s[i] == "\\" and i + 1 < n:
                    i += 2
                    if s[i - 1] == "[" or (s[i - 1] in "*f" and i < n and s[i] == "["):
                        i = s.find("]", i) + 1 or n
                else:
                    i += 1
            args.append(s[start:i])
    return args


def escape_braces(line: str) -> int:
    """How many conditional blocks the line opens (``\\{``) less those it closes (``\\}``)."""
    pairs = re.findall(r"\\(.)", line)
    return pairs.count("{") - pairs.count("}")


class Troff:
    """Strings defined so far and character translations: the state escapes are rendered with."""

    def __init__(self):
        self.strings = dict(STRINGS)
        self.macros: dict[str, list[str]] = {}  # the page's own, by .de: their lines
        self.translations: dict[str, str] = {}

    def define(self, rest: str) -> None:
        """``.ds NAME value``: the value is the rest of the line, a leading quote dropped."""
        m = re.match(r"\s*(\S+)\s?(.*)", rest)
        if m:
            value = m.group(2).lstrip(" \t")
            self.strings[m.group(1)] = value[1:] if value.startswith('"') else value

    def translate(self, rest: str) -> None:
        """``.tr abcd``: a becomes b, c becomes d (pod2man turns its \\(*W into hyphens this way)."""
        chars = self.render(rest.strip())
        for a, b in zip(chars[::2], chars[1::2] + " " * (len(chars) % 2)):
            self.translations[a] = b

    def render(self, s: str, depth: int = 0) -> str:
        """The text ``s`` shows: escapes resolved, fonts and motions dropped, \\c left as JOIN."""
        out: list[str] = []
        i, n = 0, len(s)
        while i < n:
            j = s.find("\\", i)
            if j < 0:
                out.append(s[i:])
                break
            out.append(s[i:j])
            if j + 1 >= n:
                break
            c, i = s[j + 1], j + 2
            if c in _SIMPLE:
                out.append(_SIMPLE[c])
            elif c == "(" or c == "[":
                name, i = _name(s, j + 1)
                out.append(_special(name))
            elif c == "*":
                name, i = _name(s, i)
                name = name.split(" ")[0]
                if depth < 8:
                    out.append(self.render(self.strings.get(name, ""), depth + 1))
            elif c == "s":  # size: \s0 \s-2 \s+1 \s(12 \s[12] \s'12'
                if i < n and s[i] in "+-":
                    i += 1
                if i < n and s[i] in "([":
                    i = _name(s, i)[1]
                elif i < n and s[i] == "'":
                    i = _delimited(s, i)[1]
                else:
                    while i < n and s[i].isdigit() and i < j + 4:
                        i += 1
            elif c in _NAMED:
                i = _name(s, i)[1]
            elif c in _DELIMITED:
                arg, i = _delimited(s, i)
                if c == "C":
                    out.append(_special(arg))
                elif c == "h" and arg.strip("'") and not arg.startswith("-") and arg.strip("0+.unmi|"):
                    out.append(" ")  # a move to the right parts words (DocBook's "1.\h'+01'item")
                elif c == "N" and arg.isdigit():
                    out.append(chr(int(arg)) if 31 < int(arg) < 0x110000 else "")
                elif c in "oZ":
                    out.append(self.render(arg, depth + 1))
            elif c == "c":
                out.append(JOIN)
            elif c == "$":  # a macro argument: only inside definitions, which are not read
                i = _name(s, i)[1]
            elif c not in _DROPPED:
                out.append(c)  # troff prints an unknown escape's character
        text = "".join(out)
        if self.translations:
            text = text.translate(str.maketrans(self.translations))
        return text

    def condition(self, rest: str) -> tuple[bool, str]:
        """``.if``/``.ie``'s condition, as nroff answers it, and the body after it."""
        s = rest.lstrip(" \t")
        negate = False
        while s.startswith("!"):
            negate, s = not negate, s[1:]
        if m := re.match(r"([ntoev])(?=[\s\\]|$)", s):
            value, s = m.group(1) in "no", s[1:]
        elif m := re.match(r"([cdrmFS])\s+(\S+)", s):
            defined = m.group(2) in self.strings or m.group(2) in self.macros
            value, s = m.group(1) == "d" and defined, s[m.end():]
        elif s[:1] and not s[0].isalnum() and s[0] not in "\\(+-|.!":
            first, after = _delimited(s, 0)
            second, after = _delimited(s, after - 1)
            value, s = self.render(first) == self.render(second), s[after:]
        else:
            end = _expression_end(s)
            value, s = self._number(s[:end]), s[end:]
        return value != negate, s.lstrip(" \t")

    def argument(self, arg: str) -> str:
        """A macro argument's text: read in copy mode first, where ``\\\\`` is one backslash (``\\\\-`` a hyphen)."""
        return self.render(arg.replace("\\\\", "\\"))

    def _number(self, expr: str) -> bool:
        """A numeric condition: a groff register (\\n(.g), a width (\\w'text') or a number; anything more is false."""
        if m := re.fullmatch(r"\\n(?:\((..)|\[([^\]]*)\]|(.))", expr):
            return bool(_REGISTERS.get(m.group(1) or m.group(2) or m.group(3), 0))
        if expr.startswith("\\w") and _delimited(expr, 2)[1] == len(expr):
            return bool(self.render(_delimited(expr, 2)[0]))
        return bool(re.fullmatch(r"[+-]?\d+", expr)) and int(expr) > 0


def _special(name: str) -> str:
    if name in SPECIAL:
        return SPECIAL[name]
    if m := re.fullmatch(r"u([0-9A-Fa-f]{4,6})(?:_.*)?", name):
        return chr(int(m.group(1), 16))
    if m := re.fullmatch(r"char(\d+)", name):
        return chr(int(m.group(1)))
    return ""


def _expression_end(s: str) -> int:
    """Where a numeric condition ends: at the first blank outside its escapes (``\\w'a b'`` holds one)."""
    i, n = 0, len(s)
    while i < n and s[i] not in " \t":
        if s[i] == "\\" and i + 1 < n:
            c = s[i + 1]
            i = _delimited(s, i + 2)[1] if c in _DELIMITED else _name(s, i + 2)[1] if c in _NAMED else i + 2
        else:
            i += 1
    return i
