"""mdoc(7), the BSD manual macros: a line of callable macros and their arguments as the text a reader sees.

``.Op Fl l Ar length`` shows ``[-l length]``, ``.Xr ls 1`` ``ls(1)``: inside a line, a macro name starts the
macro its following arguments belong to, and enclosures (``Op``, ``Dq``) close at the line's end. The macros that
make blocks (``.Sh``, ``.Bl``/``.It``, ``.Bd``) are read by ``index.formats.man``.
"""

from __future__ import annotations

from collections.abc import Callable

from .troff import JOIN

_PUNCT = {".", ",", ";", ":", ")", "]", "?", "!"}
# Enclosures: those that take the rest of the line (Op a b -> [a b]) and the open/close pairs.
_OPEN = {"Op": "[]", "Bq": "[]", "Brq": "{}", "Pq": "()", "Dq": "“”", "Qq": '""', "Sq": "‘’", "Aq": "<>",
         "Oo": "[]", "Bo": "[]", "Bro": "{}", "Po": "()", "Do": "“”", "Qo": '""', "So": "‘’", "Ao": "<>"}
_ENCLOSE_LINE = {"Op", "Bq", "Brq", "Pq", "Dq", "Qq", "Sq", "Aq"}
_CLOSE = {"Oc": "]", "Bc": "]", "Brc": "}", "Pc": ")", "Dc": "”", "Qc": '"', "Sc": "’", "Ac": ">"}
_FIXED = {"Ux": "UNIX", "Bx": "BSD", "At": "AT&T UNIX", "Nx": "NetBSD", "Fx": "FreeBSD", "Ox": "OpenBSD",
          "Dx": "DragonFly", "Bsx": "BSD/OS"}
# The callable macros that show text inside a line.
INLINE = {
    "Ad", "An", "Ap", "Ar", "Cd", "Cm", "Dv", "Er", "Ev", "Fa", "Fd", "Fl", "Fn", "Ft", "Ic", "In", "Li", "Lk", "Ms",
    "Mt", "Nm", "No", "Ot", "Pa", "Pf", "St", "Tn", "Va", "Vt", "Xr", "Em", "Sy", "Ql", "Sx", "Lb", "Fo", "Fc",
    "%A", "%B", "%C", "%D", "%I", "%J", "%N", "%O", "%P", "%Q", "%R", "%T", "%U", "%V", "Eo", "Ec", "Es", "En",
    *_OPEN, *_CLOSE, *_FIXED,
}
CALLABLE = INLINE | {"Ns", "Ta", "Xo", "Xc"}
# The macros that make or shape blocks, read by index.formats.man.
BLOCKS = {"Sh", "Ss", "Pp", "Lp", "Dd", "Dt", "Os", "Bd", "Ed", "Bl", "El", "It", "Dl", "D1", "Nd", "Ex", "Rv", "Bk",
          "Ek", "Bf", "Ef", "Sm", "Xc", "Xo", "Rs", "Re"}
_STANDARDS = (("-p1003.1", "IEEE Std 1003.1 (“POSIX.1”)"), ("-p1003.2", "IEEE Std 1003.2 (“POSIX.2”)"),
              ("-ansiC", "ANSI X3.159-1989 (“ANSI C89”)"), ("-isoC", "ISO/IEC 9899 (“ISO C”)"),
              ("-xpg", "X/Open Portability Guide"), ("-susv", "Single UNIX Specification"),
              ("-svid", "System V Interface Definition"), ("-ieee754", "IEEE Std 754-1985"))


def _standard(arg: str) -> str:
    return next((name for prefix, name in _STANDARDS if arg.startswith(prefix)), arg.lstrip("-"))


def line_text(tokens: list[str], render: Callable[[str], str], name: str, spacing: bool = True,
              cell: str = " ") -> tuple[str, str]:
    """An mdoc line of callable macros and their arguments as text (``Op Fl a Ar file`` -> ``[-a file]``), and the
    page's name (``Nm``'s first argument, which a later bare ``Nm`` shows)."""
    out: list[str] = []
    closers: list[str] = []
    tight = True  # no space before the next word
    macro, took_arg = "", True  # the macro the next arguments belong to; whether it had one yet
    xr: list[str] = []

    def word(text: str, space: bool = True) -> None:
        nonlocal tight
        if out and space and not tight and spacing:
            out.append(" ")
        out.append(text)
        tight = False

    def end_macro() -> None:
        if xr:
            word(xr[0] + (f"({xr[1]})" if len(xr) > 1 else ""))
            xr.clear()
        if macro == "Fl" and not took_arg:
            word("-")  # a lone Fl is a lone dash: "Fl Fl a" shows "--a" rather than "-a"

    def next_is_argument(i: int) -> bool:
        return i < len(tokens) and tokens[i] not in CALLABLE and tokens[i] not in _PUNCT

    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token in CALLABLE:
            end_macro()
            macro, took_arg = token, False
            if token == "Ns":
                tight = True
            elif token == "Ta":
                word(cell.strip() or " ")
            elif token in _OPEN:
                word(_OPEN[token][0])
                tight = True
                if token in _ENCLOSE_LINE:
                    closers.append(_OPEN[token][1])
            elif token in _CLOSE:
                word(_CLOSE[token], space=False)
            elif token in _FIXED:
                word(_FIXED[token])
            elif token == "Ap":
                word("'", space=False)
                tight = True
            elif token == "Nm" and not next_is_argument(i):
                word(name)
            elif token == "Ar" and not next_is_argument(i):
                word("file ...")
            elif token == "Pf" and i < len(tokens):
                word(render(tokens[i]))
                tight = True
                i += 1
            continue
        if token in _PUNCT:
            end_macro()
            took_arg = True
            word(token, space=False)
            continue
        took_arg = True
        if token in ("(", "["):
            word(token)
            tight = True
            continue
        text = render(token).replace(JOIN, "")
        if macro == "Fl":
            word("-" + text)
        elif macro == "Xr":
            xr.append(text)
            if len(xr) == 2:
                end_macro()
        elif macro == "Nm":
            name = name or text
            word(text)
        elif macro == "Fn":
            word(f"{text}()")
            macro = "Fa"
        elif macro == "Ql":
            word(f"‘{text}’")
        elif macro == "In":
            word(f"#include <{text}>")
        elif macro == "St":
            word(_standard(text))
        elif macro == "An" and text in ("-split", "-nosplit"):
            continue  # how authors are laid out, not an author
        else:
            word(text)
    end_macro()
    for closer in reversed(closers):
        word(closer, space=False)
    return "".join(out), name
