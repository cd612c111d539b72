"""``serve --log-format json``: one JSON object per log line, for log shippers that parse fields."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from .security import REQUEST_ID


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, and the request id of the request being handled (if any), as the client
    saw it in X-Request-ID; a traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(verbose: bool = False) -> None:
    if logging.getLogger().handlers:
        return
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # faiss announces every CPU-feature library it tries; only failures matter to a user.
    logging.getLogger("faiss.loader").setLevel(logging.DEBUG if verbose else logging.WARNING)


def configure_serve_logging(log_format: str) -> None:
    """Every line logged while a request is handled ends with its id, the one the client sees in X-Request-ID."""
    from .security import RequestIdFormatter

    configure_logging()
    if log_format == "json":
        formatter = JsonFormatter()
    else:
        formatter = RequestIdFormatter("%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
