"""Structured logs: every record carries the id of the request it was written for (docs/deployment.md, "Logs").

* ``request_id_var``: the current request's id, set by ``kgsite.request_id.RequestIdMiddleware`` for the time of
  the request (a context variable, so threads of a gthread worker do not see each other's ids). Outside a request
  (commands, the worker) it is ``-``.
* ``RequestIdFilter`` puts it on every record as ``record.request_id``; attached to the handler, it sees every record
  the handler writes, whichever logger made it.
* ``JsonFormatter``: one JSON object per line, ``{"time", "level", "logger", "message", "request_id", "process"}``
  plus ``"exception"`` (the traceback) when there is one.
* ``logging_config(level=..., fmt="json"|"text")``: the ``LOGGING`` dict of the settings.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured

NO_REQUEST = "-"
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("kgsite_request_id", default=NO_REQUEST)

LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (keeps one already set, e.g. by ``extra=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a message's newlines are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(*, level: str = "WARNING", fmt: str = "json", stream: str = "ext://sys.stderr") -> dict:
    """The ``LOGGING`` setting: one console handler (``stream``) with the request-id filter, in ``fmt``."""
    if fmt not in LOG_FORMATS:
        raise ImproperlyConfigured(f"KGSITE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "kgsite.logs.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "kgsite.logs.JsonFormatter"},
            "text": {"format": TEXT_FORMAT},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "stream": stream, "filters": ["request_id"],
                        "formatter": fmt},
        },
        "root": {"handlers": ["console"], "level": level.upper()},
    }
