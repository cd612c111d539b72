"""All of askdocs' knobs in one place, read from flags and ``ASKDOCS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


CACHE_FILE = "embedding-cache.sqlite"  # in the index folder, beside generations/, so a new generation keeps it


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASKDOCS_", extra="ignore")

    index: Path = Field(Path("var/index"), description="Index folder that build-index writes and serve reads.")
    model: str = Field("all-MiniLM-L6-v2", description="Embedding model name (see index.embedder.MODELS).")

    chunk_tokens: int = Field(200, ge=16, description="Target chunk size in model tokens.")
    chunk_overlap: int = Field(40, ge=0, description="Tokens of trailing sentences repeated at the start of the next chunk.")
    title_prefix: bool = Field(True, description="Prepend the document title to every chunk for BM25 and the model.")
    embed_batch_size: int | None = Field(
        None, ge=1, description="Chunks per model call in a build; unset: the runtime's measured best "
        "(index.embedder.DEFAULT_BATCH_SIZES; README 'Performance').",
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

    max_question_chars: int = Field(2000, ge=1)
    max_top_k: int = Field(50, ge=1)
    dense_weight: float = Field(0.5, ge=0, le=1, description="Weight of the dense score in hybrid fusion.")
    fusion: str = Field("zscore", pattern="^(zscore|minmax|rrf)$", description="How hybrid mode mixes dense and BM25.")
    rrf_k: int = Field(60, ge=1)
    candidates: int = Field(100, ge=1, description="Chunks each retriever contributes to hybrid fusion.")
    no_answer_threshold: float = Field(
        0.6, description="Confidence under which /ask answers no_answer (README: 'Choosing the no-answer threshold')."
    )
    no_answer_coverage_weight: float = Field(
        0.5, ge=0, description="Weight of the question-word coverage of the top passage in the confidence."
    )
    runtime: str = Field(
        "auto", pattern="^(auto|onnx|torch)$",
        description="Embedding runtime, the same model either way: onnx (the int8 file through ONNX Runtime), torch "
        "(fp32), or auto: build with torch and answer with onnx, the faster of the two at each (README 'Performance').",
    )
    backend: str = Field(
        "faiss", pattern="^(faiss|milvus)$",
        description="Where chunk vectors live: faiss (a file in the index folder) or milvus (README 'Scaling out').",
    )
    # Not MILVUS_URI: pymilvus reads that variable when it is imported.
    milvus_address: str | None = Field(
        None, description="Milvus for backend milvus: a local .db file (Milvus Lite) or http://host:19530; "
        "default <index>/milvus.db. For an existing index it overrides the URI the build recorded.",
    )
    milvus_collection: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$",
        description="Milvus collection; default one per index folder and model.",
    )
    milvus_token: SecretStr = Field(SecretStr(""), description="Milvus credentials, user:password or an API key.")
    ray_address: str | None = Field(
        None, description="Embed a build's chunks on this Ray cluster: host:6379 (its GCS address) or auto (the "
        "cluster `ray start` runs on this machine). Needs the ray extra (README 'Distributed builds with Ray').",
    )
    ray_workers: int | None = Field(
        None, ge=1, description="Embedding actors for a Ray build, one CPU each [default: every CPU of the cluster].",
    )
    precision: str = Field(
        "auto", pattern="^(auto|fp32|bf16)$",
        description="Arithmetic of the torch runtime: bf16 (autocast; 2.3x the fp32 build speed where the CPU "
        "multiplies bf16 in hardware, vectors at cosine >= 0.9999 of fp32), fp32, or auto: bf16 on CPUs with AMX "
        "or AVX512-BF16, else fp32. The onnx runtime always runs its int8 file.",
    )
    answer_scorer: bool = Field(
        True, description="Choose the answer with the trained answer scorer over answer candidates (README 'The "
        "answer'); off: the earlier rule, each stored sentence scored by cosine + 0.5 x coverage.",
    )
    answer_cache: int = Field(
        1024, ge=0, description="Responses kept for repeated questions (same question and parameters), per index "
        "generation; 0 turns the cache off.",
    )
    query_threads: int = Field(
        1, ge=1, description="Intra-op threads for embedding one question (README 'Performance': 1 vs 2 measured)."
    )
    model_cache: Path | None = Field(
        None, description="Folder for model files built from the installed packages on first use: the onnx "
        "runtime's int8 question model (index.query_model). Unset: $XDG_CACHE_HOME/askdocs/models (~/.cache/...), "
        "one place whatever folder askdocs is started from.",
    )

    vector_index: str = Field(
        "auto", pattern="^(auto|flat|ivf)$",
        description="Vector index a build writes: flat (exact), ivf (approximate), or auto: flat below "
        "ann_threshold chunks, IVF from there (README 'Large corpora: the approximate index').",
    )
    ann_threshold: int = Field(100_000, ge=1, description="Chunks from which vector_index=auto builds IVF.")
    ann_nlist: int = Field(0, ge=0, description="IVF lists; 0: about the square root of the chunk count.")
    ann_nprobe: int = Field(
        0, ge=0, description="IVF lists probed per question; 0: what the build chose (recorded in the manifest). "
        "A build records it; serve, ask and eval search with it instead of the manifest's when it is set.",
    )

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

    # Serving: keys, limits, reload (README "Operating askdocs").
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
