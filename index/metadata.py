"""A document's own key/values: Markdown/YAML front matter, e-mail headers and an optional ``NAME.meta.json`` sidecar.

Values are kept only as filters can compare them: strings, numbers, booleans, or lists of those.
Dates become ISO strings. The built-in fields (path, folder, type, size, modified time, title) are
columns of every document, not part of this dictionary.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import re
import stat
from pathlib import Path

import yaml

from .errors import BadInput
from .reading import LoadError, inside_folder, read_regular

FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(\n|\Z)", re.DOTALL)
Scalar = str | int | float | bool
# Front matter is a few lines of keys; these bounds keep a hostile file's parse to milliseconds.
MAX_FRONT_MATTER_CHARS = 64 * 1024
MAX_FRONT_MATTER_DEPTH = 20
MAX_SIDECAR_BYTES = 256 * 1024
# The header lines index.formats.email writes into a mail's stored text, after the subject.
EMAIL_HEADERS = ("From", "To", "Cc", "Date")
_HEADER_LINE = re.compile(r"^(From|To|Cc|Date): (.*)$", re.MULTILINE)


class _Refused(BadInput, yaml.YAMLError):
    code = "front_matter_refused"


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases, and with a bounded nesting depth.

    Aliases are how a few hundred bytes expand to billions of values ("billion laughs"), and front matter
    has no use for them; refusing them at composition means nothing is ever expanded.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(f"anchors and aliases are not allowed (line {event.start_mark.line + 1})")
        self._depth += 1
        try:
            if self._depth > MAX_FRONT_MATTER_DEPTH:
                raise _Refused(f"nested more than {MAX_FRONT_MATTER_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def sidecar_paths(path: Path) -> list[Path]:
    """``report.pdf.meta.json`` or ``report.meta.json``, in that order of preference."""
    return [path.with_name(path.name + ".meta.json"), path.with_name(path.stem + ".meta.json")]


def document_metadata(path: Path, text: str, kind: str, root: Path | None = None) -> dict:
    """``root``: the resolved folder a sidecar that is a symlink must point into (None: anywhere)."""
    meta: dict = {}
    if kind == "markdown":
        meta.update(front_matter(text))
    elif kind == "email":
        meta.update(email_metadata(text))
    for sidecar in sidecar_paths(path):
        try:
            if stat.S_ISLNK(os.lstat(sidecar).st_mode) and not os.path.exists(sidecar):
                continue  # a dangling link is no sidecar, as before
        except OSError:
            continue
        meta.update(_read_sidecar(sidecar, root))
        break
    return meta


def front_matter(text: str) -> dict:
    match = FRONT_MATTER.match(text)
    if not match or not match.group(1):
        return {}
    if len(match.group(1)) > MAX_FRONT_MATTER_CHARS:
        raise LoadError(f"front matter too large ({len(match.group(1)):,} characters > "
                        f"{MAX_FRONT_MATTER_CHARS:,} limit)")
    try:
        data = yaml.load(match.group(1), Loader=_FrontMatterLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid front matter ({str(exc).splitlines()[0]})") from None
    except Exception as exc:  # a date like 2024-02-30 is a ValueError, a huge int an OverflowError, ...
        raise LoadError(f"invalid front matter ({type(exc).__name__}: {exc})") from None
    return _clean(data) if isinstance(data, dict) else {}


def _read_sidecar(path: Path, root: Path | None) -> dict:
    if root is not None and not inside_folder(os.path.realpath(path), root):
        raise LoadError(f"sidecar {path.name} is a symlink to {os.path.realpath(path)} outside the indexed "
                        f"folder {root} (see follow_outside_links)")
    try:
        raw, _ = read_regular(path, MAX_SIDECAR_BYTES)
    except LoadError as exc:
        raise LoadError(f"invalid sidecar {path.name} ({exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise LoadError(f"invalid sidecar {path.name} ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise LoadError(f"invalid sidecar {path.name} (a JSON object is expected)")
    return _clean(data)


def _clean(data: dict) -> dict:
    clean = {}
    for key, value in data.items():
        value = _scalar_or_list(value)
        if value is not None:
            clean[str(key)] = value
    return clean


def _scalar_or_list(value) -> Scalar | list[Scalar] | None:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list):
        items = [_scalar_or_list(v) for v in value]
        return [v for v in items if v is not None and not isinstance(v, list)]
    return None  # nested objects cannot be filtered on; they are left out rather than stringified


def email_metadata(text: str) -> dict:
    """``from``, ``to``, ``cc`` (addresses, lower case) and ``date`` (ISO 8601) from a stored e-mail's header lines."""
    meta: dict = {}
    # The header lines come right after the subject, before the body: only the first few lines are theirs.
    head = "\n".join(text.split("\n", len(EMAIL_HEADERS) + 1)[: len(EMAIL_HEADERS) + 1])
    for name, value in _HEADER_LINE.findall(head):
        key = name.lower()
        if name == "Date":
            meta[key] = value
            continue
        addresses = [address.lower() for _, address in email.utils.getaddresses([value]) if address]
        if addresses:
            meta[key] = addresses[0] if name == "From" else addresses
    return meta
