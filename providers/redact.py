"""Keep key material out of logs, exception texts and stored responses.

Keys reach us in headers; providers sometimes echo them back in error bodies. Anything that
leaves this package as text goes through `redact` first, and a logging filter on our loggers and
httpx's catches what slips past.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "[redacted]"

# Header or field names whose value is a credential, whatever it contains.
_SENSITIVE_NAME = re.compile(r"authorization|api[-_]?key|secret|password|cookie", re.IGNORECASE)

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a key so it is scrubbed wherever it later appears as text."""
    if value and len(value) >= 8:  # shorter strings are not keys; masking them mangles text
        with _lock:
            _secrets.add(value)
    install_log_filter()


def is_sensitive_name(name: str) -> bool:
    return bool(_SENSITIVE_NAME.search(name))


def _scrub(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(value: Any) -> Any:
    """A copy of `value` with registered secrets and credential-named entries masked."""
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, bytes):
        return _scrub(value.decode("utf-8", "replace")).encode()
    if isinstance(value, Mapping) or hasattr(value, "multi_items"):
        items = value.multi_items() if hasattr(value, "multi_items") else value.items()
        return {
            str(k): (MASK if isinstance(k, str) and is_sensitive_name(k) else redact(v))
            for k, v in items
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with secrets masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        clean = _scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()
# Filters on a logger do not apply to its children, so list the children httpx and httpcore use.
_LOGGERS = (
    "providers",
    "providers.http",
    "providers.emulator",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def install_log_filter() -> None:
    """Attach the filter to our loggers and httpx's (idempotent)."""
    names = set(_LOGGERS) | {
        n for n in logging.root.manager.loggerDict if n.startswith(("providers.", "httpcore."))
    }
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
