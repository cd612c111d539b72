"""Command line: ``askdocs build-index|serve|ask`` and the ``build-index`` shortcut."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import NoReturn, get_args

import click

from askdocs.index.errors import AskdocsError, BadInput, describe_validation
from askdocs.index.settings import Settings, SettingsError, env_name
from askdocs.search.models import FileType

from .logs import configure_logging, configure_serve_logging

DEFAULT_CORPUS = Path("seeds")


RUNTIMES = get_args(Settings.model_fields["runtime"].annotation)
VECTOR_STORES = get_args(Settings.model_fields["vector_store"].annotation)
VECTOR_INDEXES = get_args(Settings.model_fields["vector_index"].annotation)


def _settings(no_cache: bool = False, **flags) -> Settings:
    """The command's settings, built once: its flags (field name -> value, None: not given) over the ASKDOCS_*
    variables over the defaults. A value that is not accepted is one line naming it, and exit code 2."""
    if no_cache:
        flags["embedding_cache"] = ""
    try:
        return Settings.from_environment(os.environ, flags, warn=lambda m: click.echo(f"askdocs: {m}", err=True))
    except SettingsError as exc:
        _fail(str(exc), code=2)


def _backend_alias(backend: str | None, runtime: str | None, vector_store: str | None,
                   builds: bool) -> tuple[str | None, str | None]:
    """The deprecated --backend, told once: it named the runtime, then the vector store (now --vector-store)."""
    if backend is None:
        return runtime, vector_store
    if backend in RUNTIMES:
        click.echo(f"askdocs: --backend {backend} is deprecated, use --runtime {backend} "
                   "(--vector-store picks the vector store: faiss|milvus)", err=True)
        return runtime or backend, vector_store
    if builds:
        click.echo(f"askdocs: --backend {backend} is deprecated, use --vector-store {backend}", err=True)
        return runtime, vector_store or backend
    click.echo(f"askdocs: --backend {backend} is deprecated and ignored here: an index is read from the vector "
               "store its manifest names", err=True)
    return runtime, vector_store


def _help(field: str, before: str = "") -> str:
    """A flag's help: the setting's own description (written once, in index.settings), and its default."""
    info = Settings.model_fields[field]
    default = info.default_factory() if info.default_factory else info.default
    shown = "unset" if default is None or default == [] else default
    return f"{before}{info.description} [default: ${env_name(field)} or {shown}]"


def _fail(error: AskdocsError | str, code: int = 1) -> NoReturn:
    """The command line's one way out on an error: ``error: <message>: <hint>`` on stderr (worded as HTTP and
    MCP word it), exit status ``code`` (1; 2 for a command line that cannot be run as written)."""
    click.secho(f"error: {error}", fg="red", err=True)
    sys.exit(code)


def _invalid(exc) -> NoReturn:
    """A command's own arguments failed validation (a pydantic ValidationError): a usage error."""
    _fail(BadInput(describe_validation(exc.errors(), "arguments")), code=2)


class _Command(click.Command):
    """A command that answers any askdocs error it meets with _fail, so no command maps error classes itself."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AskdocsError as exc:
            _fail(exc)


class _Group(click.Group):
    command_class = _Command


FILTER_HELP = (
    "Only search matching documents; repeat to combine (AND). KEY is source (a glob on the document id), "
    f"doc_id, type ({'|'.join(get_args(FileType))}), "
    "modified_after, modified_before (ISO dates) or meta.NAME (front matter / sidecar value). Repeating doc_id, "
    "type or the same meta.NAME means any of the values."
)


index_option = click.option(
    "--index",
    "index",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=_help("index"),
)

def _parse_collections(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Path]:
    from .collections import CollectionSpecError, parse_specs

    try:
        return parse_specs(values)
    except CollectionSpecError as exc:
        raise click.BadParameter(str(exc)) from None


collections_option = click.option(
    "--index",
    "indexes",
    multiple=True,
    metavar="[NAME=]DIR",
    callback=_parse_collections,
    help="Index folder, repeatable as NAME=DIR to serve several collections; a DIR without NAME= is the "
    "collection 'default'. The default collection is 'default' if there is one, else the first "
    "[default: $ASKDOCS_INDEX or var/index].",
)


def _store_options(command, builds: bool):
    """--runtime (how the model runs), --milvus-uri, and on commands that build --vector-store (where a build
    puts the vectors); --backend, hidden, is the deprecated name of both."""
    options = [
        click.option("--runtime", type=click.Choice(RUNTIMES), default=None, help=_help("runtime")),
        *([click.option("--vector-store", type=click.Choice(VECTOR_STORES), default=None,
                        help=_help("vector_store"))] if builds else []),
        click.option("--backend", type=click.Choice(VECTOR_STORES + RUNTIMES), default=None, hidden=True,
                     help="Deprecated: --vector-store (faiss|milvus) or --runtime (auto|onnx|torch)."),
        click.option("--milvus-uri", default=None, metavar="URI", help=_help("milvus_address")),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_store_options(command):
    return _store_options(command, builds=True)


def read_store_options(command):
    return _store_options(command, builds=False)


def vector_index_option(command):
    return click.option("--vector-index", type=click.Choice(VECTOR_INDEXES), default=None,
                        help=_help("vector_index"))(command)


def watch_options(command):
    command = click.option(
        "--poll", type=click.FloatRange(min=0.05), default=None, metavar="SECONDS",
        help="Like --watch, but scan mtimes and sizes every SECONDS instead of trusting file-system events (network "
        "shares, some container mounts).")(command)
    return click.option(
        "--watch", is_flag=True,
        help="Keep the index in sync with its folders: every burst of changes becomes one incremental build, "
        "published only if something changed.")(command)


version_option = click.version_option(package_name="askdocs", message="%(prog)s %(version)s")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@version_option
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Ask questions of a folder of documents, with citations you can check."""
    configure_logging(verbose)


no_cache_option = click.option(
    "--no-cache", is_flag=True,
    help="Neither read nor fill the embedding cache (ASKDOCS_EMBEDDING_CACHE); every chunk to embed goes through the model.",
)


@click.command("build-index", cls=_Command)
@version_option
# The paths are checked by the build (index.walk.check_paths), all problems in one error line.
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, readable=False))
@index_option
@build_store_options
@click.option("--progress/--no-progress", default=None, help="Progress bars [default: only on a terminal].")
@click.option("--rebuild", is_flag=True,
              help="Re-read and re-chunk everything instead of reusing what is unchanged (the embedding cache still "
              "serves texts it has seen; add --no-cache to re-embed them too).")
@click.option("--rehash", is_flag=True,
              help="Read every file to compare its bytes, instead of taking a file whose size, mtime, ctime and inode "
              "are unchanged as unchanged (for file systems whose timestamps cannot be trusted).")
@no_cache_option
@click.option("--ray", "ray_address", default=None, metavar="auto|ADDRESS", help=_help("ray_address"))
@click.option("--ray-workers", type=click.IntRange(min=1), default=None, metavar="N", help=_help("ray_workers"))
@click.option("--include", multiple=True, metavar="GLOB", help=_help("include", "Repeatable. "))
@click.option("--exclude", multiple=True, metavar="GLOB", help=_help("exclude", "Repeatable. "))
@click.option("--json", "as_json", is_flag=True,
              help="Print the build report as JSON (every file indexed or not, with its reason) instead of the "
              "summary.")
@click.option("--follow-outside-links", is_flag=True, default=None, help=_help("follow_outside_links"))
@vector_index_option
@watch_options
def build_index_command(paths: tuple[Path, ...], index: Path | None, runtime: str | None,
                        vector_store: str | None, backend: str | None, milvus_uri: str | None, progress: bool | None, rebuild: bool, rehash: bool, no_cache: bool,
                        ray_address: str | None, ray_workers: int | None, include: tuple[str, ...],
                        exclude: tuple[str, ...], as_json: bool, follow_outside_links: bool | None,
                        vector_index: str | None, watch: bool, poll: float | None) -> None:
    """Index PATHS (files or folders of .txt, .md, .html, .pdf, the formats in docs/formats.md, text files
    without an extension, and any of these compressed as .gz) [default: seeds/].

    Over an existing index only new and changed files are read and embedded, and the result is the same as
    a build from scratch. A changed model or chunk setting makes it a full build; the summary says why.
    A PATH that does not exist, cannot be read or is an index folder is an error: nothing is built. The
    summary accounts for every file under PATHS: indexed, unchanged, or why not.
    """
    from askdocs.index.build import build_index

    configure_logging()
    runtime, vector_store = _backend_alias(backend, runtime, vector_store, builds=True)
    settings = _settings(no_cache, index=index, runtime=runtime, vector_store=vector_store, milvus_address=milvus_uri,
                         ray_address=ray_address, ray_workers=ray_workers, follow_outside_links=follow_outside_links,
                         include=list(include) or None, exclude=list(exclude) or None, vector_index=vector_index)

    def first_build() -> None:
        report = build_index(list(paths) or [DEFAULT_CORPUS], settings, progress=progress, rebuild=rebuild,
                             rehash=rehash)
        if as_json:
            import json

            click.echo(json.dumps(report.as_json(), indent=2))
        else:
            click.echo(report.summary())

    if watch or poll is not None:
        from askdocs.index.build import plan_roots

        plan_roots(list(paths) or [DEFAULT_CORPUS], settings)  # a bad path is the build's error, said before watching
        _watch_until_interrupted(list(paths) or [DEFAULT_CORPUS], settings, poll, as_json, first_build)
    else:
        first_build()


def _watch_until_interrupted(paths: list[Path], settings, poll: float | None, as_json: bool,
                             first_build) -> None:
    """Arm the watcher, run ``first_build``, then follow ``paths``: what changed during the first build is the
    first sync. Each sync prints its summary, or with --json one line of JSON (the first build's object plus
    ``sync``: when, how long, ok, error), for a log shipper to read."""
    import json
    import threading
    import time

    from askdocs.index.watch import FolderSync

    sync = None

    def report(result, error: str | None) -> None:
        if as_json:
            # Every file would make a line per sync grow with the folder: the counts and changes are kept.
            line = {**({k: v for k, v in result.as_json().items() if k != "indexed"} if result is not None else {}),
                    "sync": sync.last}
            click.echo(json.dumps(line))
        elif error is not None:
            click.echo(f"error: {error}", err=True)
        else:
            click.echo(result.summary(), nl=True)

    how = f"polling every {poll:g} s" if poll is not None else "watching for changes"

    def watching() -> None:  # the watcher is in place: a change made from now on is never missed
        first_build()
        sync.checked_at = time.monotonic()  # the build just run trusted stats as build-index does (--rehash)
        click.echo(f"{how} under {', '.join(map(str, paths))}; Ctrl-C stops", err=as_json)
    try:
        sync = FolderSync(paths, settings, poll=poll, on_build=report)
        sync.run(threading.Event(), on_watching=watching)
    except KeyboardInterrupt:
        # Ctrl-C during a sync: a build publishes atomically, so the last published generation stands.
        pass
    click.echo("stopped watching", err=as_json)


@main.command()
@collections_option
@read_store_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--insecure", is_flag=True,
              help="Serve on a non-loopback address without API keys (only behind something that authenticates).")
@click.option("--metrics-public", is_flag=True, default=None, help=_help("metrics_public"))
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per line (time, level, logger, message, request_id).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Processes answering on the one port, each with its own copy of the model and the index files "
              "memory-mapped (shared); more than the cores gives nothing. /metrics is per process; with --watch one "
              "of them runs the syncs.")
@watch_options
def serve(indexes: dict[str, Path], runtime: str | None, backend: str | None, milvus_uri: str | None, host: str,
          port: int, insecure: bool, metrics_public: bool | None, log_format: str, workers: int, watch: bool,
          poll: float | None) -> None:
    """Serve the HTTP API (and the web page) over one index or several named ones (collections).

    A new index generation (a finished build-index) is picked up without a restart. Set ASKDOCS_API_KEYS or
    ASKDOCS_API_KEYS_FILE to require a key; on an address other than loopback that is required.
    """
    from .collections import DEFAULT
    from .security import LOOPBACK_NAMES, api_keys, is_loopback

    runtime, _ = _backend_alias(backend, runtime, None, builds=False)
    settings = _settings(runtime=runtime, milvus_address=milvus_uri, metrics_public=metrics_public)
    indexes = indexes or {DEFAULT: settings.index}
    has_keys = bool(api_keys(settings, list(indexes)))
    if not is_loopback(host) and not has_keys and not insecure:
        _fail(
            f"refusing to serve on {host} without API keys: anyone who can reach that address could read every "
            "document in the index. Set ASKDOCS_API_KEYS (comma-separated keys) or ASKDOCS_API_KEYS_FILE (a file "
            "of their sha256 digests), or pass --insecure if a proxy in front of askdocs authenticates.",
            code=2,
        )
    # Loading the model takes seconds; an address that cannot be listened on should be said before, not after.
    unusable = _cannot_listen(host, port)
    if unusable:
        _fail(f"cannot serve on {host}:{port}: {unusable}", code=2)
    import uvicorn

    from .app import VERSION, create_app
    from .http_protocol import head_timeout_protocol

    configure_serve_logging(log_format)
    # /mcp answers loopback names, and the address served on unless it is "every interface".
    hosts = [*LOOPBACK_NAMES, *([host] if host not in ("0.0.0.0", "::", "") else [])]
    served = (str(indexes[DEFAULT]) if list(indexes) == [DEFAULT]
              else ", ".join(f"{name}={folder}" for name, folder in indexes.items()))
    if workers > 1:
        _serve_workers(workers, dict(runtime=runtime, milvus_address=milvus_uri, metrics_public=metrics_public),
                       settings, indexes, hosts, host, port, has_keys, served, log_format, watch, poll)
        return
    app = create_app(settings, allowed_hosts=hosts, indexes=indexes, watch=watch, poll=poll)
    click.echo(f"askdocs serving {served} on http://{host}:{port}/  (API docs at /docs)"
               + ("; API keys required" if has_keys else ""))
    from .tracing import configure_tracing

    traced = configure_tracing(VERSION)
    if traced:
        click.echo(f"sending traces to {traced}")
    for name, sync in app.state.collections.syncs.items():
        status = sync.status()
        click.echo(f"watching {', '.join(status['folders'])} for collection {name!r} ({status['mode']})")
    # uvicorn's access log would print query strings and no request id; the app logs each request itself.
    # No connection may be held for free: idle ones and slow request heads time out, and past max_connections
    # requests get a 503 rather than a queue.
    # JSON: uvicorn's own lines go through the root logger's JSON handler rather than its text handlers.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False,
                **({"log_config": None} if log_format == "json" else {}),
                http=head_timeout_protocol(settings.request_head_timeout),
                timeout_keep_alive=settings.keep_alive_timeout,
                limit_concurrency=settings.max_connections or None)


def _serve_workers(workers: int, flags: dict, settings, indexes: dict[str, Path], hosts: list[str], host: str,
                   port: int, has_keys: bool, served: str, log_format: str, watch: bool, poll: float | None) -> None:
    """serve --workers N: uvicorn's supervisor, with each worker building the app itself (api.workers)."""
    import tempfile

    import uvicorn

    from . import workers as worker_app
    from .collections import Collections

    # What a worker would refuse at start (an index that records no folders to watch, a bad key file) is said
    # here, once, instead of N workers failing and the supervisor giving up.
    Collections(settings, indexes, watch=watch, poll=poll)
    from .security import api_keys

    api_keys(settings, list(indexes))
    with tempfile.TemporaryDirectory(prefix="askdocs-serve-") as scratch:
        os.environ[worker_app.SPEC] = worker_app.spec(
            {k: v for k, v in flags.items() if v is not None}, indexes, hosts, watch, poll, log_format,
            Path(scratch) / "syncs.lock")
        click.echo(f"askdocs serving {served} on http://{host}:{port}/  (API docs at /docs) with {workers} worker "
                   "processes" + ("; API keys required" if has_keys else ""))
        uvicorn.run("askdocs.api.workers:app", factory=True, workers=workers, host=host, port=port,
                    log_level="info", access_log=False, **({"log_config": None} if log_format == "json" else {}),
                    http="askdocs.api.workers:HeadTimeoutProtocol",
                    timeout_keep_alive=settings.keep_alive_timeout,
                    limit_concurrency=settings.max_connections or None)


def _cannot_listen(host: str, port: int) -> str | None:
    """Why uvicorn could not bind ``host:port`` (as it binds: SO_REUSEADDR set), or None if it can."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"{host!r} is not an address of this machine ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return ("the port is already in use (another askdocs serve?). Stop what is using it, or pass "
                        "another --port")
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine; pass one of its own to --host"
            return exc.strerror or str(exc)
    return None


@main.command("mcp")
@collections_option
@read_store_options
def mcp_command(indexes: dict[str, Path], runtime: str | None, backend: str | None, milvus_uri: str | None) -> None:
    """Serve the tools over MCP on stdin/stdout, for chat clients and agent frameworks.

    The same tools are served over HTTP at /mcp by `askdocs serve`. Several --index NAME=DIR give the tools
    several collections to choose from. A newly published index generation is picked up while it runs, as
    `serve` does (every ASKDOCS_RELOAD_INTERVAL seconds); calls in flight finish on the generation they began on.
    """
    import anyio

    from .app import VERSION
    from .collections import Collections
    from .mcp import build_server, serve_stdio

    runtime, _ = _backend_alias(backend, runtime, None, builds=False)
    collections = Collections(_settings(runtime=runtime, milvus_address=milvus_uri), indexes)

    def load_and_watch() -> None:
        collections.load()
        collections.start_watching()

    try:
        anyio.run(serve_stdio, build_server(collections, VERSION), load_and_watch)
    finally:
        collections.stop_watching()
        collections.close()


@main.command()
@click.argument("question")
@index_option
@read_store_options
@click.option("--top-k", default=5, show_default=True, type=int, help="How many passages.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid", show_default=True)
@click.option("--filter", "filter_items", multiple=True, metavar="KEY=VALUE", help=FILTER_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print exactly the body POST /ask would return.")
def ask(question: str, index: Path | None, runtime: str | None, backend: str | None, milvus_uri: str | None,
        top_k: int, mode: str, filter_items: tuple[str, ...], as_json: bool) -> None:
    """Answer QUESTION from the index, with citations."""
    from pydantic import ValidationError

    from askdocs.search import open_index
    from askdocs.search.models import Question

    try:
        query = Question(question=question, top_k=top_k, mode=mode, filters=_parse_filters(filter_items))
    except ValidationError as exc:
        _invalid(exc)
    runtime, _ = _backend_alias(backend, runtime, None, builds=False)
    engine = open_index(settings=_settings(index=index, runtime=runtime, milvus_address=milvus_uri))
    response = engine.ask(query)
    if as_json:
        click.echo(response.model_dump_json(indent=2))
        return
    _print_response(response)


@main.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to score.")
@index_option
@build_store_options
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25", "all"]), default="hybrid", show_default=True)
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the metrics as JSON.")
@click.option("--limit", type=int, default=None, help="Only the first N queries (a quick look).")
@click.option("--filter", "filter_items", multiple=True, metavar="KEY=VALUE", help=FILTER_HELP)
@click.option("--progress/--no-progress", default=None, help="Progress bars [default: only on a terminal].")
@vector_index_option
@no_cache_option
def eval_command(dataset: Path, split: str, index: Path | None, runtime: str | None, vector_store: str | None,
                 backend: str | None, milvus_uri: str | None, mode: str, json_out: Path | None, limit: int | None,
                 filter_items: tuple[str, ...], progress: bool | None, vector_index: str | None,
                 no_cache: bool) -> None:
    """Score retrieval on a BEIR-layout DATASET (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).

    Builds an index of the corpus, or reuses one built from the same corpus and settings.
    """
    import json

    from pydantic import ValidationError

    from .evaluate import evaluate

    modes = ["hybrid", "dense", "bm25"] if mode == "all" else [mode]
    runtime, vector_store = _backend_alias(backend, runtime, vector_store, builds=True)
    settings = _settings(no_cache, runtime=runtime, vector_store=vector_store, milvus_address=milvus_uri,
                         vector_index=vector_index)
    try:
        results = [
            evaluate(dataset, split, m, settings, index=index, progress=progress, limit=limit,
                     filters=_parse_filters(filter_items))
            for m in modes
        ]
    except FileNotFoundError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _invalid(exc)
    _print_eval_table(results)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results[0] if len(results) == 1 else results, indent=2) + "\n")


def _print_eval_table(results: list[dict]) -> None:
    first = results[0]
    built = f"built in {first['build_s']} s" if first["build_s"] is not None else "reused index"
    click.echo(f"{first['dataset']} / {first['split']}: {first['queries']} queries ({built}, {first['index']})")
    columns = ["ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr@10", "answer@1", "answer@5",
               "answer_sentence"]
    columns = [c for c in columns if c in first]
    click.echo(f"{'mode':8}" + "".join(f"{c:>{max(len(c) + 2, 9)}}" for c in columns) + f"{'p50 ms':>9}{'p95 ms':>9}")
    for r in results:
        click.echo(f"{r['mode']:8}" + "".join(f"{r[c]:>{max(len(c) + 2, 9)}.4f}" for c in columns)
                   + f"{r['latency_ms']['p50']:>9.1f}{r['latency_ms']['p95']:>9.1f}")


def _parse_filters(items: tuple[str, ...]) -> dict | None:
    """`--filter type=pdf --filter meta.year=2024` -> the `filters` object of POST /ask."""
    if not items:
        return None
    filters: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--filter")
        if key in ("source", "modified_after", "modified_before"):
            filters[key] = value
        elif key in ("doc_id", "type"):
            filters.setdefault(f"{key}s", []).append(value)
        elif key.startswith("meta.") and len(key) > 5:
            values = filters.setdefault("meta", {}).setdefault(key[5:], [])
            values.append(value)
        else:
            raise click.BadParameter(f"unknown filter key {key!r}", param_hint="--filter")
    if "meta" in filters:
        filters["meta"] = {k: v[0] if len(v) == 1 else v for k, v in filters["meta"].items()}
    return filters


def _print_response(response) -> None:
    if response.no_answer:
        click.secho("No answer in these documents.", fg="yellow", bold=True)
        if response.passages:
            click.echo("Closest passages, for what they are worth:")
    else:
        answer = response.answer
        click.secho(answer.text, bold=True)
        click.echo(f"  — {_where(answer.citation)}")
    for passage in response.passages:
        click.echo()
        click.secho(f"[{passage.rank}] {_where(passage.citation)}  score {passage.score:.3f}", fg="cyan")
        click.echo(textwrap.indent(textwrap.fill(" ".join(passage.text.split()), 100), "    "))
    click.echo(f"\n({response.took_ms:.0f} ms)")


def _where(citation) -> str:
    lines = f"lines {citation.line_start}-{citation.line_end}" if citation.line_end != citation.line_start else f"line {citation.line_start}"
    page = f", page {citation.page}" if citation.page else ""
    page += f", slide {citation.slide}" if citation.slide else ""
    if citation.row_start is not None:
        rows = f"row {citation.row_start}" if citation.row_start == citation.row_end else \
            f"rows {citation.row_start}-{citation.row_end}"
        page += f", sheet {citation.sheet}, {rows}" if citation.sheet else f", {rows}"
    return f"{citation.doc_id} ({citation.title}) {lines}{page}, chars {citation.char_start}-{citation.char_end}"


main.add_command(build_index_command)
