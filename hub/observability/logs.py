"""Structured JSON logs with correlation ids, masked personal data in every line.

``configure_logging(level, stream)`` installs one handler on the root logger that writes one JSON
object per line::

    {"time": "2026-05-01T08:00:00.123Z", "level": "INFO", "logger": "hub.worker",
     "message": "leg submitted", "case_id": "...", "leg_id": "...", "message_id": "...",
     "department": "social_security", "event": "leg.submitted"}

Correlation fields come from ``log_context(case_id=..., leg_id=...)`` (a contextvar, so they
attach to every line logged in that scope, including nested calls) and from ``extra={...}`` on
one call; ``extra`` wins on a clash.

Guarantee: the message text, every extra and context value and any exception traceback pass
through ``hub.observability.masking`` before they are written, so ID numbers, mobile numbers and values under
personal keys (``applicant_name``, ``id_number``, ``phone`` ...) never appear unmasked. Names in
free text cannot be recognised: pass them under a personal key, never inside the message.
Context variables do not follow work into a new thread; hand work over with
``contextvars.copy_context().run`` to keep the ids.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from hub.observability.masking import scrub, scrub_obj

__all__ = ["JsonFormatter", "ScrubFilter", "configure_logging", "current_context", "log_context"]

CORRELATION_FIELDS = ("case_id", "leg_id", "message_id", "department", "event")
_CONTEXT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "hub_log_context", default=None)
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
) | {"message", "asctime", "taskName", "_hub_scrubbed"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach ``fields`` (None values skipped) to every log line inside the ``with`` block."""
    merged = {**(_CONTEXT.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_CONTEXT.get() or {})


def _jsonable(value: Any) -> Any:
    """Plain JSON types; anything else becomes its ``str`` so masking can see it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class ScrubFilter(logging.Filter):
    """Masks a record in place: message, args, extras, exception text; adds the log context.

    Install it on handlers (filters on a logger do not see records propagated from children).
    Runs in the logging thread, so the contextvar context is the caller's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_hub_scrubbed", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = scrub(message), None
        for key, value in (_CONTEXT.get() or {}).items():
            if key not in _STANDARD_ATTRS and not hasattr(record, key):
                setattr(record, key, value)
        for key, value in _extras(record).items():
            setattr(record, key, scrub_obj({key: _jsonable(value)})[key])
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        record._hub_scrubbed = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; scrubs again so it is safe even without ``ScrubFilter``."""

    def format(self, record: logging.LogRecord) -> str:
        created = dt.datetime.fromtimestamp(record.created, dt.UTC)
        data: dict[str, Any] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        fields = {**(_CONTEXT.get() or {}), **_extras(record)}
        for key, value in scrub_obj({k: _jsonable(v) for k, v in fields.items()}).items():
            data.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = scrub(record.exc_text)
        if record.stack_info:
            data["stack"] = scrub(record.stack_info)
        return json.dumps(data, ensure_ascii=False)


_HANDLER_MARK = "_hub_json_handler"


def configure_logging(level: int | str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Route all logging (root logger, warnings) to masked JSON lines on ``stream`` (stderr).

    Idempotent: a handler installed by an earlier call is replaced. Returns the new handler.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
            old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubFilter())
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # Wire-level loggers of the transports print whole envelopes and files at DEBUG, where
    # names sit in department-specific elements no pattern can recognise: never below INFO.
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))
    logging.captureWarnings(True)
    return handler


WIRE_LOGGERS = ("zeep", "zeep.transports", "zeep.xsd", "zeep.wsdl", "httpx", "httpcore",
                "paramiko", "paramiko.transport", "urllib3", "pika")
