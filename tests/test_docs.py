"""The documentation agrees with the code: the generated references are current, every link lands on a file and
a heading, every HTTP route is documented, every ASKDOCS_* name the docs mention is a setting, and the README
stays a front page. No model is loaded: the app is built without entering its lifespan."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from askdocs.api import reference
from askdocs.api.app import create_app
from askdocs.index.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 200
# ASKDOCS_* names the docs may mention that are not settings: variables the test suite reads.
NOT_SETTINGS = {"ASKDOCS_TEST_MILVUS_SERVER"}

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def _prose(text: str) -> str:
    """The page without fenced code blocks and inline code, where brackets are not links."""
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|_(?=\W)|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip()).lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    fenced = False
    for line in page.read_text().splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
        match = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = _slug(match.group(1))
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_generated_references_are_current():
    for path, text in reference.generated().items():
        assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `python -m askdocs.api.reference`"
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is out of date: run `python -m askdocs.api.reference`"
    assert reference.main(["--check"]) == 0


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_the_link_checker_sees_a_broken_link_and_a_missing_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A section: with `code`\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#a-section-with-code) [gone](nope.md) [bad](other.md#nope)\n"
                    "```\n[in code](ignored.md)\n```\n")
    found = LINK.findall(_prose(page.read_text()))
    assert found == ["other.md#a-section-with-code", "nope.md", "other.md#nope"]
    assert "a-section-with-code" in _anchors(tmp_path / "other.md")
    assert "nope" not in _anchors(tmp_path / "other.md")


def test_every_http_route_is_in_the_http_api_page(tmp_path):
    # The lifespan (which loads the model and the index) never runs: only the routes are read.
    app = create_app(Settings(index=tmp_path / "no-index"))
    page = (DOCS / "http-api.md").read_text()
    routes = [f"{method.upper()} {path}" for path, operations in app.openapi()["paths"].items()
              for method in operations]
    assert len(routes) >= 10
    missing = [route for route in routes if route not in page]
    assert not missing, f"routes not described in docs/http-api.md: {missing}"
    assert "/mcp" in page  # served outside the OpenAPI schema


def test_every_askdocs_variable_the_docs_name_is_a_setting():
    from askdocs.index.settings import REMOVED_VARIABLES

    known = set(reference.environment_names()) | set(REMOVED_VARIABLES) | NOT_SETTINGS
    unknown = {}
    for page in [*PAGES, ROOT / "bench" / "README.md"]:
        for name in set(re.findall(r"\bASKDOCS_[A-Z0-9_]*[A-Z0-9]\b", page.read_text())) - known:
            unknown.setdefault(name, []).append(str(page.relative_to(ROOT)))
    assert not unknown, f"the docs name settings that do not exist: {unknown}"


def test_every_setting_is_in_the_configuration_page():
    page = (DOCS / "configuration.md").read_text()
    names = reference.environment_names()
    assert "ASKDOCS_INDEX" in names and len(names) >= 30
    assert not [name for name in names if f"`{name}`" not in page]


def test_the_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    for needed in ("make run", "make test", "pip install", "build-index", "/ask", "docs/screenshot.png"):
        assert needed in readme


def test_the_configuration_page_has_every_section_and_the_old_names():
    from askdocs.index.settings import DEPRECATED_VARIABLES, REMOVED_VARIABLES, SECTIONS

    page = (DOCS / "configuration.md").read_text()
    for section in SECTIONS:
        for name in section.model_fields:
            assert f"`ASKDOCS_{name.upper()}`" in page, name
    assert page.count("\n## ") == len(SECTIONS) + bool(REMOVED_VARIABLES)
    assert all(f"(deprecated: `{old}`)" in page for old in DEPRECATED_VARIABLES)
    assert all(f"| `{gone}` |" in page for gone in REMOVED_VARIABLES)
