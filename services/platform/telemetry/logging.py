"""Structured logs (structlog) that carry tenant, saga and trace ids and never a secret.

`configure_logging` routes both structlog loggers and the standard `logging` calls every
service already makes through one processor chain, ending in one JSON object per line:

    {"event": "...", "level": "error", "logger": "arbiter.saga.service",
     "timestamp": "...", "tenant_id": "t1", "saga_id": "t1:op-7", "trace_id": "...", ...}

or, in the `console` format, one human-readable line (structlog's ConsoleRenderer, coloured
only on a terminal). The level and format an operator chose (`arbiter --log-level/--log-format`,
ARBITER_LOG_LEVEL/ARBITER_LOG_FORMAT) are recorded once with `set_log_options` and win over
the defaults each entry point passes, so no flag has to be threaded through the services.

Ids come from context, not from call sites: bind them around a unit of work with
`structlog.contextvars.bound_contextvars(tenant_id=..., saga_id=...)`; the trace and span
ids are read from the current OpenTelemetry span.

Redaction runs last before rendering, over every value, nested ones included:
* a key named like a credential (secret, passphrase, private key, signature,
  authorization, password, api key) has its value replaced;
* inside any text: `key: value` / `"key": "value"` pairs with such keys, PEM private-key
  blocks, and 0x + 64 hex digits (an EVM private key looks exactly like an order hash, so
  both are replaced by a short one-way fingerprint: equal values stay correlatable, and an
  operator can fingerprint a known order hash to find it);
* exact values registered with `register_secret` (credentials loaded at start-up).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any

import structlog

from arbiter.platform.telemetry import tracing

REDACTED = "[REDACTED]"
_SECRET_WORD = r"(?:secret|passphrase|private[_-]?key|signature|authorization|password|api[_-]?key)"
_SECRET_KEY = re.compile(rf"(?i)^[\w.-]*{_SECRET_WORD}[\w.-]*$")
_SECRET_PAIR = re.compile(
    rf"""(?ix)
    ( ["']? [\w.-]*{_SECRET_WORD}[\w.-]* ["']? \s* [:=] \s* )   # the key and separator
    ( b?["'] [^"']* ["']                                         # a quoted value,
    | (?:(?:bearer|basic|token)\s+)? [^\s,;}}\]]+ )              # or a bare one
    """)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                  re.DOTALL)
_HEX_KEY = re.compile(r"\b0x[0-9a-fA-F]{64}\b")
_registered: set[str] = set()


def register_secret(value: str) -> None:
    """Scrub this exact value wherever it appears (ignored if too short to be specific)."""
    if len(value) >= 8:
        _registered.add(value)


def _fingerprint(match: re.Match[str]) -> str:
    return f"[REDACTED:{hashlib.sha256(match.group().lower().encode()).hexdigest()[:10]}]"


def scrub(text: str) -> str:
    """`text` with every secret-looking part replaced."""
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _PEM.sub(REDACTED, text)
    text = _SECRET_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    return _HEX_KEY.sub(_fingerprint, text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bytes):
        return scrub(value.decode(errors="replace"))
    if isinstance(value, Mapping):
        return {k: REDACTED if isinstance(k, str) and _SECRET_KEY.match(k) else _clean(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the last step before rendering."""
    return _clean(event)  # type: ignore[no-any-return]


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ids = tracing.current_ids()
    if ids is not None:
        event["trace_id"], event["span_id"] = ids
    return event


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


@dataclass(frozen=True, slots=True)
class LogOptions:
    """What the operator chose; None: the entry point's default."""

    level: LogLevel | None = None
    format: LogFormat | None = None


_options = LogOptions()


def set_log_options(level: str | None = None, fmt: str | None = None) -> None:
    """Record the operator's choice for every later `configure_logging` of the process; a
    value that is not a `LogLevel`/`LogFormat` raises ValueError."""
    global _options
    _options = LogOptions(LogLevel(level.lower()) if level else None,
                          LogFormat(fmt.lower()) if fmt else None)


def log_options() -> LogOptions:
    return _options


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def configure_logging(
    level: int | str | None = None, stream: IO[str] | None = None,
    fmt: str | None = None, *, default_level: int | str = logging.INFO,
    default_format: str = "auto",
) -> None:
    """Every log record of the process (structlog or stdlib) becomes one redacted line on
    `stream` (stderr by default): a JSON object, or a console line. Replaces handlers
    installed before.

    `level`/`fmt` given here win; then the operator's `set_log_options`; then
    `default_level`/`default_format`. `auto` is `console` when the stream is a terminal and
    `json` otherwise (a pod, a pipe, a file)."""
    out = stream or sys.stderr
    chosen_level = level if level is not None else _options.level or default_level
    if isinstance(chosen_level, str):
        chosen_level = chosen_level.upper()
    chosen_format = str(fmt or _options.format or default_format).lower()
    if chosen_format == "auto":
        chosen_format = "console" if _is_terminal(out) else "json"
    LogFormat(chosen_format)  # refuses a typo
    renderer: structlog.typing.Processor
    if chosen_format == LogFormat.CONSOLE:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_is_terminal(out) and "NO_COLOR" not in os.environ)
    else:
        renderer = structlog.processors.JSONRenderer(default=str)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen_level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
