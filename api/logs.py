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
