"""One description of a build: the manifest a generation records, and what a build is made of.

``Manifest`` is the typed ``manifest.json``: written by ``store.write_generation``, read by ``Manifest.load``,
which is the one place where what older askdocs wrote is brought to today's shape. ``build_parts`` says what a
build is made of and, for each part, what a change to it means; incremental reuse (``incremental``), the
embedding-cache namespace (``embedding_cache``) and the eval fingerprint (``api.evaluate``) all derive from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import IndexUnavailable, describe_validation

if TYPE_CHECKING:
    from .embedder import Embedder
    from .settings import Settings


class ManifestError(IndexUnavailable, ValueError):
    """A manifest that does not read as one (index.store turns it into IndexCorrupt with the rebuild command)."""

    code = "manifest_invalid"


class ModelSection(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    dimension: int | None = None
    max_tokens: int | None = None
    # Indexes written before runtimes were recorded at all were all torch; older askdocs wrote it as "backend".
    runtime: str = "torch"
    precision: str | None = None  # of the chunks the last full build embedded; absent before precisions existed
    normalized: bool | None = None


class Counts(BaseModel):
    model_config = ConfigDict(extra="allow")

    documents: int | None = None
    chunks: int | None = None
    sentences: int | None = None


class FileRecord(BaseModel):
    bytes: int | None = None
    sha256: str | None = None


class Manifest(BaseModel):
    """``manifest.json`` of one generation. Sections this askdocs does not know are kept (``extra``)."""

    model_config = ConfigDict(extra="allow")

    format: str
    format_version: int | None = None
    generation: int = 0
    name: str = ""
    built_at: str = ""
    model: ModelSection = Field(default_factory=ModelSection)
    chunker: dict[str, Any] = Field(default_factory=dict)
    retrieval_text: dict[str, Any] = Field(default_factory=dict)
    # Absent before the loaders typed blocks: compares as "version None", so such an index is rebuilt in full.
    structure: dict[str, Any] = Field(default_factory=dict)
    # None: written before library versions were recorded; such an index cannot disagree with them.
    libraries: dict[str, str | None] | None = None
    bm25: dict[str, Any] = Field(default_factory=dict)
    # Every index was a flat FAISS file before the section existed.
    vectors: dict[str, Any] = Field(default_factory=lambda: {"type": "flat"})
    counts: Counts = Field(default_factory=Counts)
    sources: list[str] = Field(default_factory=list)
    roots: list[dict[str, Any]] | None = None  # None: built before roots were recorded (walk.legacy_roots)
    file_counts: dict[str, Any] | None = None
    files: dict[str, FileRecord] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _today(cls, data: Any) -> Any:
        # The one place old manifests are normalised: nothing after load knows an older spelling.
        if isinstance(data, dict) and isinstance(data.get("model"), dict) and "backend" in data["model"]:
            model = dict(data["model"])
            backend = model.pop("backend")
            model.setdefault("runtime", backend)
            data = {**data, "model": model}
        if isinstance(data, dict) and data.get("vectors") is None:
            data = {k: v for k, v in data.items() if k != "vectors"}
        return data

    @classmethod
    def load(cls, data: dict) -> Manifest:
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ManifestError(describe_validation(exc.errors(), "manifest")) from None

    def section(self, name: str) -> dict | None:
        """A recorded section as plain data (None: not recorded), for comparing with what a build writes."""
        value = self.model_dump(mode="json").get(name)
        return value

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(mode="json", exclude_unset=True), indent=2, sort_keys=True).encode()


# ---------------------------------------------------------------- what a build is made of


class Change(Enum):
    """What changing a part of a build means (``build_parts`` says it for every part)."""

    # The same text gets another vector: nothing stored can be reused (a full build), and the embedding cache
    # looks in another namespace.
    VECTORS = "vectors"
    # Vectors move, but by less than the runtimes that already share indexes (precision: bf16 vs fp32 agree to
    # cosine >= 0.9999, SciFact nDCG@10 within 0.005): another cache namespace, yet an incremental build keeps
    # the vectors it has and embeds only new text the new way.
    CLOSE_VECTORS = "close vectors"
    # Other chunks or retrieval text: a full build. The cache needs nothing: its key holds the text itself.
    TEXT = "text"
    # The same text and vectors in another structure (vector index type and parameters, BM25, vector store):
    # an incremental build keeps every vector and writes the structure anew.
    STRUCTURE = "structure"


# Changes after which nothing stored can be taken over.
FULL_BUILD = (Change.VECTORS, Change.TEXT)
# Changes after which a cached vector is not the one the model would give now.
NEW_CACHE_NAMESPACE = (Change.VECTORS, Change.CLOSE_VECTORS)

# Libraries that decide the stored text and the chunk boundaries. torch is left out on purpose: a new
# version moves vectors by ~1e-7, which is no reason to re-embed a whole corpus.
TEXT_LIBRARIES = ("pypdf", "pypdfium2", "rapidocr", "lxml", "sentencex", "tokenizers", "python-docx", "odfpy",
                  "python-pptx", "openpyxl", "ebooklib", "docutils", "striprtf")


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in TEXT_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


@dataclass(frozen=True)
class Part:
    """One thing a build is made of."""

    section: str  # the manifest section that records it
    key: str
    value: Any
    change: Change
    cache_as: str | None = None  # its name in the embedding-cache namespace (the names the cache always used)
    recorded: bool = True  # False: only the fingerprint holds it (the manifest records the resolved plan instead)

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


def embedding_parts(embedder: Embedder) -> list[Part]:
    """What decides the vector a chunk's text gets: the model through its runtime."""
    versions = library_versions()
    return [
        Part("model", "name", embedder.name, Change.VECTORS, cache_as="model"),
        Part("model", "dimension", embedder.dimension, Change.VECTORS, cache_as="dimension"),
        Part("model", "max_tokens", embedder.spec.max_tokens, Change.VECTORS, cache_as="max_tokens"),
        Part("model", "runtime", embedder.runtime, Change.VECTORS, cache_as="runtime"),
        Part("model", "precision", embedder.precision, Change.CLOSE_VECTORS, cache_as="precision"),
        # Every vector askdocs stores is L2-normalised (so is every cached one): recorded for readers.
        Part("model", "normalized", True, Change.VECTORS),
        Part("libraries", "tokenizers", versions["tokenizers"], Change.VECTORS, cache_as="tokenizers"),
    ]


def build_parts(settings: Settings, embedder: Embedder, chunker_settings: dict) -> list[Part]:
    """Everything that changes a build's vectors, text or structure, and what a change to each means.

    Not parts: what only selects the documents (include, exclude, size limits: each document is compared on
    its own by an incremental build), how the work is spread (batch size, Ray), and search-time settings.
    """
    from .lexical import SETTINGS as BM25_SETTINGS
    from .retrieval_text import TITLE_TOKENS
    from .structure import SECTION_TOKENS, STRUCTURE_VERSION

    versions = library_versions()
    parts = embedding_parts(embedder)
    parts += [Part("chunker", key, value, Change.TEXT) for key, value in chunker_settings.items()]
    parts += [
        # title_prefix also prepends the section line (index.structure.section_prefix).
        Part("retrieval_text", "title_prefix", settings.title_prefix, Change.TEXT),
        Part("retrieval_text", "title_tokens", TITLE_TOKENS, Change.TEXT),
        Part("retrieval_text", "section_tokens", SECTION_TOKENS, Change.TEXT),
        # What the loaders keep, drop and type (index.structure): a change means new retrieval text.
        Part("structure", "version", STRUCTURE_VERSION, Change.TEXT),
    ]
    parts += [Part("libraries", name, v, Change.TEXT) for name, v in versions.items() if name != "tokenizers"]
    parts += [Part("bm25", key, value, Change.STRUCTURE) for key, value in BM25_SETTINGS.items()]
    parts += vector_parts(settings)
    return parts


def vector_parts(settings: Settings) -> list[Part]:
    """Where the vectors live and which index holds them, as configured (the manifest's "vectors" section
    records what the build resolved them to: a plan depends on the chunk count)."""
    milvus = settings.vector_store == "milvus"
    address = settings.milvus_address
    if milvus and address and "://" not in address:
        address = str(Path(address).resolve())  # a Lite file named relatively or absolutely is one file
    auto = settings.vector_index == "auto"
    return [
        Part("vector_store", "store", settings.vector_store, Change.STRUCTURE, recorded=False),
        Part("vector_store", "address", address if milvus else None, Change.STRUCTURE, recorded=False),
        Part("vector_store", "collection", settings.milvus_collection if milvus else None, Change.STRUCTURE,
             recorded=False),
        # Milvus keeps its own index: the FAISS vector-index settings do not apply to it.
        Part("vector_index", "type", None if milvus else settings.vector_index, Change.STRUCTURE, recorded=False),
        Part("vector_index", "threshold", settings.ann_threshold if auto and not milvus else None,
             Change.STRUCTURE, recorded=False),
        Part("vector_index", "nlist", None if milvus else settings.ann_nlist, Change.STRUCTURE, recorded=False),
        # Recorded as the readers' default probes, so a build with other probes is another index.
        Part("vector_index", "nprobe", None if milvus else settings.ann_nprobe, Change.STRUCTURE, recorded=False),
    ]


def recorded_sections(parts: list[Part]) -> dict[str, dict]:
    """The manifest sections a build with these parts writes."""
    sections: dict[str, dict] = {}
    for part in parts:
        if part.recorded:
            sections.setdefault(part.section, {})[part.key] = part.value
    return sections


def full_build_reason(manifest: Manifest, parts: list[Part]) -> str | None:
    """Why the generation ``manifest`` describes cannot be taken over by a build made of ``parts``."""
    tolerated = {(p.section, p.key) for p in parts if p.change not in FULL_BUILD}
    reasons = []
    for name, now in recorded_sections([p for p in parts if p.change in FULL_BUILD]).items():
        before = manifest.section(name)
        if name == "libraries" and before is None:
            continue  # an index made before versions were recorded cannot disagree with them
        before = before or {}
        keys = sorted(k for k in set(before) | set(now) if (name, k) not in tolerated)
        changed = [k for k in keys if before.get(k) != now.get(k)]
        if changed:
            details = ", ".join(f"{k} {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
            reasons.append(f"{name.replace('_', ' ')} settings changed ({details})")
    return "; ".join(reasons) or None


def cache_namespace(parts: list[Part]) -> dict[str, Any]:
    """What the embedding cache keys its vectors by besides the text: every part whose change moves vectors."""
    return {p.cache_as: p.value for p in parts if p.change in NEW_CACHE_NAMESPACE and p.cache_as}


def fingerprint_fields(parts: list[Part]) -> dict[str, Any]:
    """Every part: an index made of other parts is another index to score."""
    return {part.name: part.value for part in parts}
