"""Logging set-up: text or JSON lines on stderr, secrets always redacted."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from crmsync.redact import RedactingFilter, redact


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the connection when known."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        connection = getattr(record, "connection", None)
        if connection:
            entry["connection"] = connection
        event = getattr(record, "event", None)
        if event:
            entry["event"] = event
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):  # facts as keys, not buried in the message
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:  # RedactingFilter already formatted (and redacted) the traceback
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Route crmsync's logs to stderr in the chosen format, with the redacting filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("crmsync")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # Libraries log through the same handler (so the same format and redaction), at warnings and above:
    # a filter on a logger does not reach its children, a filter on the handler does.
    for noisy in ("httpx", "httpcore", "apscheduler", "uvicorn", "alembic"):
        library = logging.getLogger(noisy)
        library.handlers[:] = [handler]
        library.setLevel(logging.WARNING)
        library.propagate = False
