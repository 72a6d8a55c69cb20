"""Structured log lines on stderr: ``LEVEL logger: message key=value ...``; journald adds time and unit."""

from __future__ import annotations

import logging
import sys
from typing import Any


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {}) or {}
        extra = "".join(f" {key}={_quote(value)}" for key, value in fields.items())
        line = f"{record.levelname} {record.name}: {record.getMessage()}{extra}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f'"{text}"' if (" " in text or not text) else text


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def kv(**fields: Any) -> dict[str, Any]:
    """``log.info("msg", extra=kv(a=1))`` attaches key=value fields to a line."""
    return {"fields": fields}
