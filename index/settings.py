"""All of askdocs' knobs in one place: four sections composed into one ``Settings``, validated once.

A face (the CLI, the HTTP app) builds the settings once per command with ``from_environment``: its flags over
the ``ASKDOCS_*`` environment variables over the defaults, all through the same validation. Library code only
ever receives a ``Settings``; nothing below the faces reads the environment. Each setting is described once,
in its ``Field(description=...)``; the flags' help and the configuration reference derive from it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from .errors import BadInput

CACHE_FILE = "embedding-cache.sqlite"  # in the index folder, beside generations/, so a new generation keeps it
ENV_PREFIX = "ASKDOCS_"


class BuildSettings(BaseModel):
    """What build-index reads and how it embeds (the runtime also embeds questions)."""

    index: Path = Field(Path("var/index"), description="Index folder that build-index writes and serve reads.")
    model: str = Field("all-MiniLM-L6-v2", description="Embedding model name (see index.embedder.MODELS).")
    runtime: Literal["auto", "onnx", "torch"] = Field(
        "auto",
        description="Embedding runtime, the same model either way: onnx (the int8 file through ONNX Runtime), torch "
        "(fp32), or auto: build with torch and answer with onnx, the faster of the two at each (docs/quality-and-performance.md).",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Arithmetic of the torch runtime: bf16 (autocast; 2.3x the fp32 build speed where the CPU "
        "multiplies bf16 in hardware, vectors at cosine >= 0.9999 of fp32), fp32, or auto: bf16 on CPUs with AMX "
        "or AVX512-BF16, else fp32. The onnx runtime always runs its int8 file.",
    )
    chunk_tokens: int = Field(200, ge=16, description="Target chunk size in model tokens.")
    chunk_overlap: int = Field(40, ge=0, description="Tokens of trailing sentences repeated at the start of the next chunk.")
    title_prefix: bool = Field(True, description="Prepend the document title to every chunk for BM25 and the model.")
    embed_batch_size: int | None = Field(
        None, ge=1, description="Chunks per model call in a build; unset: the runtime's measured best "
        "(index.embedder.DEFAULT_BATCH_SIZES; docs/quality-and-performance.md).",
    )
    embedding_cache: str | None = Field(
        None, description="SQLite file of vectors by content hash, so no text is embedded twice across builds; "
        "indexes may share one. Unset: embedding-cache.sqlite in the index folder; empty: no cache.",
    )
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are skipped, never read into memory.")
    max_pdf_pages: int = Field(
        5_000, ge=1, description="PDFs with more pages than this are skipped (counted before any text is extracted).",
    )
    max_text_chars: int = Field(
        20_000_000, ge=1, description="A file whose extracted text passes this many characters (about 10,000 pages) "
        "is skipped. PDFs are checked page by page, so a small PDF that inflates to gigabytes stops early, and are also "
        "skipped once their pages' decoded content streams pass 4 bytes per allowed character.",
    )
    include: list[str] = Field(
        default_factory=list, description="Index only files matching one of these globs (gitignore syntax, relative "
        "to the folder given); folders are still walked. Empty: every supported file.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Skip files and folders matching these globs (gitignore syntax, relative "
        "to the folder given), as a .askdocsignore file in that folder does; named in the summary as excluded.",
    )
    follow_outside_links: bool = Field(
        False, description="Index symlinked files and folders whose target lies outside the folder given to "
        "build-index (and read such sidecars); by default they are skipped and named in the summary.",
    )
    ray_address: str | None = Field(
        None, description="Embed a build's chunks on this Ray cluster: host:6379 (its GCS address) or auto (the "
        "cluster `ray start` runs on this machine). Needs the ray extra (docs/scaling.md).",
    )
    ray_workers: int | None = Field(
        None, ge=1, description="Embedding actors for a Ray build, one CPU each; unset: every CPU of the cluster.",
    )


class VectorStoreSettings(BaseModel):
    """Where a build puts the vectors and which vector index holds them."""

    # Not MILVUS_URI for the address: pymilvus reads that variable when it is imported.
    vector_store: Literal["faiss", "milvus"] = Field(
        "faiss", description="Where a build puts the chunk vectors: faiss (a file in the index folder) or milvus "
        "(docs/scaling.md). An existing index is read from the store its manifest names.",
    )
    milvus_address: str | None = Field(
        None, description="Milvus for vector store milvus: a local .db file (Milvus Lite) or http://host:19530; "
        "default <index>/milvus.db. For an existing index it overrides the URI the build recorded.",
    )
    milvus_collection: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$",
        description="Milvus collection; default one per index folder and model.",
    )
    milvus_token: SecretStr = Field(SecretStr(""), description="Milvus credentials, user:password or an API key.")
    vector_index: Literal["auto", "flat", "ivf", "ivf-sq8"] = Field(
        "auto",
        description="Vector index a build writes: flat (exact), ivf (approximate), ivf-sq8 (IVF over 8-bit "
        "vectors, a quarter of the memory; the exact ones kept beside it on disk), or auto: flat below "
        "ann_threshold chunks, IVF from there (docs/scaling.md).",
    )
    ann_threshold: int = Field(100_000, ge=1, description="Chunks from which vector_index=auto builds IVF.")
    ann_nlist: int = Field(0, ge=0, description="IVF lists; 0: about the square root of the chunk count.")
    ann_nprobe: int = Field(
        0, ge=0, description="IVF lists probed per question; 0: what the build chose (recorded in the manifest). "
        "A build records it; serve, ask and eval search with it instead of the manifest's when it is set.",
    )


class SearchSettings(BaseModel):
    """How a question is answered."""

    dense_weight: float = Field(0.5, ge=0, le=1, description="Weight of the dense score in hybrid fusion.")
    fusion: Literal["zscore", "minmax", "rrf"] = Field("zscore", description="How hybrid mode mixes dense and BM25.")
    rrf_k: int = Field(60, ge=1, description="The k of reciprocal rank fusion (fusion rrf): 1 / (k + rank).")
    candidates: int = Field(100, ge=1, description="Chunks each retriever contributes to hybrid fusion.")
    no_answer_threshold: float = Field(
        0.6, description="Confidence under which /ask answers no_answer (docs/how-it-works.md)."
    )
    no_answer_coverage_weight: float = Field(
        0.5, ge=0, description="Weight of the question-word coverage of the top passage in the confidence."
    )
    answer_scorer: bool = Field(
        True, description="Choose the answer with the trained answer scorer over answer candidates "
        "(docs/how-it-works.md); off: the earlier rule, each stored sentence scored by cosine + 0.5 x coverage.",
    )
    answer_cache: int = Field(
        1024, ge=0, description="Responses kept for repeated questions (same question and parameters), per index "
        "generation; 0 turns the cache off.",
    )
    query_threads: int = Field(
        1, ge=1, description="Intra-op threads for embedding one question (1 vs 2 measured: docs/quality-and-performance.md)."
    )
    model_cache: Path | None = Field(
        None, description="Folder for model files built from the installed packages on first use: the onnx "
        "runtime's int8 question model (index.query_model). Unset: $XDG_CACHE_HOME/askdocs/models (~/.cache/...), "
        "one place whatever folder askdocs is started from.",
    )


class ServerSettings(BaseModel):
    """Serving: keys, limits, reload (docs/operating.md)."""

    api_keys: SecretStr = Field(
        SecretStr(""), description="Comma-separated API keys; when any key is set, every endpoint but GET /health needs one."
    )
    api_keys_file: Path | None = Field(None, description="File of sha256 hex digests of API keys, one per line.")
    metrics_public: bool = Field(False, description="Serve GET /metrics without an API key (serve --metrics-public).")
    max_body_bytes: int = Field(65536, ge=1024, description="Request bodies larger than this get a 413.")
    cors_origins: str = Field("", description="Comma-separated origins a browser may call the API from; empty: CORS off.")
    allowed_hosts: str = Field(
        "", description="Comma-separated extra Host names the server answers to (any port), besides loopback names, "
        "serve's --host and IP addresses; other names get a 421 (DNS-rebinding guard). '*': no check, e.g. behind "
        "a proxy that rewrites Host.",
    )
    keep_alive_timeout: float = Field(
        5.0, gt=0, description="Seconds an idle keep-alive connection is kept open between requests."
    )
    request_head_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's line and headers (from connecting, or "
        "from the first byte of a next request); a connection that takes longer is answered 408 and closed.",
    )
    max_connections: int = Field(
        256, ge=0, description="Open connections (or requests in progress) from which a new request is answered "
        "503 at once instead of queued; 0: no limit.",
    )
    reload_interval: float = Field(
        1.0, ge=0, description="Seconds between checks for a newly published index generation; 0 turns it off."
    )


class Settings(BuildSettings, VectorStoreSettings, SearchSettings, ServerSettings):
    """Every section in one object. ``Settings()`` is the defaults; a face builds it with ``from_environment``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def embedding_cache_path(self) -> Path | None:
        if self.embedding_cache is None:
            return Path(self.index) / CACHE_FILE
        return Path(self.embedding_cache) if self.embedding_cache.strip() else None

    @property
    def build_runtime(self) -> str:
        return "torch" if self.runtime == "auto" else self.runtime

    @property
    def query_runtime(self) -> str:
        return "onnx" if self.runtime == "auto" else self.runtime

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated like every other value (model_copy(update=...) would not)."""
        return _validated(type(self), {**dict(self), **changes}, {})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], flags: Mapping[str, Any] | None = None,
                         warn=None) -> Settings:
        """``flags`` (field name -> value; None: not given) over ``ASKDOCS_*`` variables in ``environ`` over the
        defaults. A value that is not accepted raises SettingsError naming the variable or flag and what it
        accepts; ``warn`` (default: the askdocs.settings logger) is told of deprecated and unknown variables."""
        return _from_environment(cls, environ, flags or {}, warn)


SECTIONS = (BuildSettings, VectorStoreSettings, SearchSettings, ServerSettings)


class SettingsError(BadInput, ValueError):
    """A setting's value is not accepted; the message is one line naming its variable or flag."""


# Old names still read, each with what replaced it.
DEPRECATED_VARIABLES = {"ASKDOCS_BACKEND": "vector_store"}
# Settings that no longer exist, with what a user who sets them should know.
REMOVED_VARIABLES = {
    "ASKDOCS_MAX_QUESTION_CHARS": "it never took effect: a question is at most search.models.MAX_QUESTION_CHARS "
                                  "(2000) characters, as the API schema says",
    "ASKDOCS_MAX_TOP_K": "it never took effect: top_k is at most search.models.MAX_TOP_K (50), as the API schema says",
}
# Variables of the test harness, not settings.
_NOT_SETTINGS_PREFIX = "ASKDOCS_TEST_"


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _from_environment(cls, environ: Mapping[str, str], flags: Mapping[str, Any], warn) -> Settings:
    if warn is None:
        import logging

        warn = logging.getLogger("askdocs.settings").warning
    fields = cls.model_fields
    known = {env_name(name): name for name in fields}
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}  # field -> the variable or flag its value came from, for messages
    # pydantic-settings matched names case-insensitively; so does this.
    for variable, raw in sorted(environ.items()):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper.startswith(_NOT_SETTINGS_PREFIX):
            continue
        if upper in DEPRECATED_VARIABLES:
            field = DEPRECATED_VARIABLES[upper]
            warn(f"{variable} is deprecated, use {env_name(field)}")
            if env_name(field) in {v.upper() for v in environ}:
                continue  # the new name wins
        elif upper in REMOVED_VARIABLES:
            warn(f"{variable} is ignored: {REMOVED_VARIABLES[upper]}")
            continue
        elif upper in known:
            field = known[upper]
        else:
            close = difflib.get_close_matches(upper, list(known), n=1, cutoff=0.6)
            warn(f"{variable} is not an askdocs setting and is ignored"
                 + (f"; did you mean {close[0]}?" if close else " (docs/configuration.md lists them)"))
            continue
        values[field] = _decode(fields[field].annotation, raw)
        origin[field] = f"{variable}={raw!r}" if not _secret(fields[field].annotation) else variable
    for field, value in flags.items():
        if value is not None:
            values[field] = value
            origin[field] = f"--{field.replace('_', '-')} {value!r}" if not isinstance(value, SecretStr) else field
    return _validated(cls, values, origin)


def _validated(cls, values: dict[str, Any], origin: dict[str, str]) -> Settings:
    fields = cls.model_fields
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            where = origin.get(field, field)
            info = fields.get(field)
            accepts = accepted(info) if info is not None else error["msg"]
            problems.append(f"{where} is not accepted: {field} takes {accepts}")
        raise SettingsError("; ".join(dict.fromkeys(problems))) from None


def _secret(annotation) -> bool:
    return annotation is SecretStr


def _decode(annotation, raw: str):
    # As pydantic-settings did: a list comes as JSON; everything else is parsed by the field's validation.
    if get_origin(annotation) is list or (_optional(annotation) is not None and get_origin(_optional(annotation)) is list):
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # validation then says a list is expected
    return raw


def _optional(annotation):
    if get_origin(annotation) in (Union, type(int | None)):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return None


def accepted(info) -> str:
    """What a field accepts, in words: "an integer >= 16", "one of auto, onnx, torch"."""
    annotation = info.annotation
    optional = _optional(annotation)
    base = optional if optional is not None else annotation
    if get_origin(base) is Literal:
        words = "one of " + ", ".join(str(a) for a in get_args(base))
    elif base is bool:
        words = "true or false"
    elif base is int:
        words = "an integer"
    elif base is float:
        words = "a number"
    elif base is Path:
        words = "a path"
    elif get_origin(base) is list:
        words = 'a JSON list of strings (e.g. ["*.md"])'
    else:
        words = "text"
    bounds = []
    for item in info.metadata:
        for attribute, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(item, attribute, None) is not None:
                bounds.append(f"{sign} {getattr(item, attribute)}")
        if getattr(item, "pattern", None):
            bounds.append(f"matching {item.pattern}")
    return " ".join([words, *bounds]) + (" (or unset)" if optional is not None else "")
