"""Keeping secrets inside the process: one redactor for every log record, stored error and raised error.

Two things are removed from any text the sync engine lets out (log records, Dagster events and
metadata, `sync_runs.error`, `sync_journal.last_error`, `sync_record_log.error`, exceptions):

- every configured secret value: the values of the environment variables a destination names with its
  `*_env` keys, registered when a run starts (`register_destination_secrets`) and whenever a
  destination reads one (`DestinationContext.secret`);
- the values of credential-bearing headers and parameters (`Authorization`, API keys, tokens,
  signatures, cookies) in any of the shapes an error body can echo them: `Name: value`,
  `"name": "value"`, `'name': 'value'`, `name=value`.

Destinations do nothing themselves: the engine's error path and the logging filter call `redact`."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "[redacted]"
# A value this short would mask ordinary words; real tokens are far longer. Shorter secrets are still
# caught by the header patterns when they travel in a credential header.
MIN_SECRET_LENGTH = 6
# The loggers the sync engine and its HTTP stack write to; the Dagster sync assets add their own.
ENGINE_LOGGERS = (
    "orchestration.sync",
    "httpx",
    "httpcore",
)

_HEADER_NAMES = (
    r"(?:proxy-)?authori[sz]ation"
    r"|x-api-key|api[-_]?key|apikey|x-api-token|api[-_]?token"
    r"|(?:access|refresh|id|auth|bearer|developer|private)[-_]?token|token"
    r"|client[-_]?secret|secret|password|passwd"
    r"|[a-z0-9-]*signature"
    r"|cookie|set-cookie|x-auth-token|x-csrf-token"
)
# `"authorization": "Bearer x"` / `'api-key': 'x'`: the whole quoted value.
_QUOTED = re.compile(
    rf"""(?P<name>["']?\b(?:{_HEADER_NAMES})\b["']?\s*[:=]\s*)(?P<q>["'])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)""",
    re.IGNORECASE,
)
# `Authorization: Bearer x` / `access_token=x&…` / a quoted value cut short: up to the end of the line
# or the next separator.
_BARE = re.compile(
    rf"""(?P<name>["']?\b(?:{_HEADER_NAMES})\b["']?\s*[:=]\s*["']?)(?!\[redacted\])(?P<value>[^\r\n,;&}}\]"']+)""",
    re.IGNORECASE,
)


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH} - self._values
            if new:
                self._values |= new
                # Longest first, so a secret that contains another is masked whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def pattern(self) -> re.Pattern[str] | None:
        return self._pattern


_registry = _Registry()


def _variants(value: str) -> set[str]:
    """A secret and the forms it takes inside other text: a password inside a DSN, URL-decoded."""
    found = {value, value.strip()}
    decoded = unquote(value)
    found.add(decoded)
    try:
        parts = urlsplit(value)
        if parts.password:
            found |= {parts.password, unquote(parts.password)}
    except ValueError:
        pass
    match = re.search(r"\bpassword\s*=\s*'?([^\s']+)", value, re.IGNORECASE)
    if match:
        found.add(match.group(1))
    return found


def register_secret(*values: str | None) -> None:
    """Mask these values (and their DSN password, URL-decoded form) in everything `redact` sees."""
    found: set[str] = set()
    for value in values:
        if value:
            found |= _variants(value)
    _registry.add(found)


def secret_variables(settings: Any) -> list[str]:
    """The environment variable names a destination's settings point at (`token_env`, `dsn_env`, …)."""
    names = []
    for key, value in dict(settings).items():
        if key.endswith("_env") and isinstance(value, str):
            names.append(value)
    return names


def register_destination_secrets(settings: Any, env: Mapping[str, str]) -> None:
    """Register the values of every `*_env` variable a destination's settings name."""
    register_secret(*(env.get(name) for name in secret_variables(settings)))


def redact(text: str | None) -> str | None:
    """`text` with every registered secret and every credential header's value masked."""
    if not text:
        return text
    pattern = _registry.pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _QUOTED.sub(lambda m: f"{m.group('name')}{m.group('q')}{MASK}{m.group('q')}", text)
    return _BARE.sub(lambda m: f"{m.group('name')}{MASK}", text)


def redact_value(value: Any) -> Any:
    """Strings redacted; containers (dicts, lists, tuples) redacted item by item; others unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value


def scrub_exception(exc: BaseException) -> BaseException:
    """Redact an exception's arguments in place, and those of its causes, so that re-raising it (and
    any traceback printed for it) carries no secret. Returns `exc`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # An exception type with read-only args keeps them.
        with contextlib.suppress(AttributeError, TypeError):
            current.args = tuple(redact_value(arg) for arg in current.args)
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [redact(note) for note in notes]
        current = current.__cause__ or current.__context__
    return exc


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in) and exception text with `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not format is shown as written
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            scrub_exception(record.exc_info[1])
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_filter(*loggers: logging.Logger | str) -> None:
    """Put the redacting filter on the engine's loggers (each existing logger under `ENGINE_LOGGERS`)
    and on `loggers`. A logger's filter sees only that logger's own records, so each gets one.
    Idempotent."""
    targets: list[logging.Logger] = []
    existing = list(logging.root.manager.loggerDict)
    for prefix in ENGINE_LOGGERS:
        targets.append(logging.getLogger(prefix))
        targets += [logging.getLogger(name) for name in existing if name.startswith(prefix + ".")]
    targets += [logging.getLogger(item) if isinstance(item, str) else item for item in loggers]
    for logger in targets:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


__all__ = [
    "MASK",
    "RedactingFilter",
    "install_log_filter",
    "redact",
    "redact_value",
    "register_destination_secrets",
    "register_secret",
    "scrub_exception",
    "secret_variables",
]
