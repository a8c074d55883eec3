"""Keeps secrets out of logs, exception text, reports and the store.

Every secret crmsync loads (connector settings typed `SecretStr`) is registered here; `redact()` replaces
each registered value by `***`, and `RedactingFilter` does the same for every log record.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from pydantic import BaseModel, SecretStr

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words


def register(value: str) -> None:
    """Remember `value` as a secret, so it is masked wherever it might be printed."""
    global _pattern
    if len(value) < _MIN_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_model(model: BaseModel) -> None:
    """Register every `SecretStr` field of a settings model (recursively)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            register(value.get_secret_value())
        elif isinstance(value, BaseModel):
            register_model(value)


def redact(text: str) -> str:
    """Return `text` with every registered secret masked."""
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def clip(text: str | None, limit: int = 500) -> str | None:
    """`text` redacted, then cut to `limit` characters (cutting first could split a secret past recognition)."""
    if text is None:
        return None
    masked = redact(text)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secrets in the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        record.msg = redact(str(record.msg))
        if record.args:
            args: Any = record.args
            if isinstance(args, dict):
                record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
            else:
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
