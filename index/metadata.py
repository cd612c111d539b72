"""A document's own key/values: Markdown/YAML front matter and an optional ``NAME.meta.json`` sidecar.

Values are kept only as filters can compare them: strings, numbers, booleans, or lists of those.
Dates become ISO strings. The built-in fields (path, folder, type, size, modified time, title) are
columns of every document, not part of this dictionary.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import yaml

from .documents import LoadError

FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(\n|\Z)", re.DOTALL)
Scalar = str | int | float | bool


def sidecar_paths(path: Path) -> list[Path]:
    """``report.pdf.meta.json`` or ``report.meta.json``, in that order of preference."""
    return [path.with_name(path.name + ".meta.json"), path.with_name(path.stem + ".meta.json")]


def document_metadata(path: Path, text: str, kind: str) -> dict:
    meta: dict = {}
    if kind == "markdown":
        meta.update(front_matter(text))
    for sidecar in sidecar_paths(path):
        if sidecar.is_file():
            meta.update(_read_sidecar(sidecar))
            break
    return meta


def front_matter(text: str) -> dict:
    match = FRONT_MATTER.match(text)
    if not match or not match.group(1):
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid front matter ({str(exc).splitlines()[0]})") from None
    return _clean(data) if isinstance(data, dict) else {}


def _read_sidecar(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LoadError(f"invalid sidecar {path.name} ({exc})") from None
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
