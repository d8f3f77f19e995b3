"""One HTTP client for every provider: pooled connections, bounded retries, a concurrency cap.

Creating a voice is not idempotent, and is paid for. Such a request is sent again only when the
answer proves it was not acted on: a connection never made, a 429, or a status the provider
documents as "not processed" (`not_processed`). Any other failure after it left (a 500, a 502
or 504 from a gateway, a timeout, a reset, a malformed answer) raises `OutcomeUnknown` instead,
and `providers.clone` settles it by the provider's voice list.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from .redact import install_log_filter, redact
from .types import OutcomeUnknown, ProviderError

log = logging.getLogger("providers.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Errors raised before a single byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Settings:
    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    max_total_s: float = 120.0
    retry_after_max_s: float = 60.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    write_timeout_s: float = 60.0
    pool_timeout_s: float = 30.0
    concurrency: int | None = None  # None: $VOXCLONE_<PROVIDER>_CONCURRENCY or 4
    rate_per_s: float | None = None  # None: $VOXCLONE_<PROVIDER>_RATE or unlimited


DEFAULT_CONCURRENCY = 4


class _TokenBucket:
    def __init__(self, rate_per_s: float) -> None:
        self.rate = rate_per_s
        self.capacity = max(1.0, rate_per_s)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self, sleep: Callable[[float], None]) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            sleep(wait)


# Shared per (provider, base URL) so that every Client in the process respects one limit.
_limits: dict[tuple[str, str], tuple[threading.BoundedSemaphore, int]] = {}
_buckets: dict[tuple[str, str], _TokenBucket] = {}
_registry_lock = threading.Lock()


def _env_number(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else None


def _shared_limit(provider: str, base_url: str, limit: int) -> threading.BoundedSemaphore:
    with _registry_lock:
        found = _limits.get((provider, base_url))
        if found is None or found[1] != limit:
            if found is not None:
                log.warning("%s: concurrency limit changed %d -> %d", provider, found[1], limit)
            found = (threading.BoundedSemaphore(limit), limit)
            _limits[(provider, base_url)] = found
        return found[0]


def _shared_bucket(provider: str, base_url: str, rate: float) -> _TokenBucket:
    with _registry_lock:
        bucket = _buckets.get((provider, base_url))
        if bucket is None or bucket.rate != rate:
            bucket = _buckets[(provider, base_url)] = _TokenBucket(rate)
        return bucket


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_details(response: httpx.Response) -> tuple[str, str | None]:
    """The provider's own message and code, from whichever documented error shape it used."""
    try:
        body = response.json()
    except ValueError:
        if response.headers.get("content-type", "").startswith("text/html"):
            return response.reason_phrase or "error", None  # a proxy's error page
        text = response.text.strip()
        return (text[:300] or response.reason_phrase or "error"), None
    message: Any = None
    code: Any = None
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, dict):  # ElevenLabs {"detail": {"status", "message"}}
            message, code = detail.get("message"), detail.get("status")
        elif isinstance(detail, list):  # ElevenLabs / FastAPI 422
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                    parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            message, code = "; ".join(parts) or str(detail), "validation_error"
        elif isinstance(detail, str):
            message = detail
        message = message or body.get("errorMessage") or body.get("message") or body.get("error")
        code = code or body.get("errorCode") or body.get("error_code") or body.get("code")
        if isinstance(message, dict):
            message = message.get("message") or str(message)
        if message is None:  # free-form JSON (Althea/Ultravox 400): say all of it
            message = "; ".join(f"{k}: {v}" for k, v in body.items())
    else:
        message = str(body)
    return str(message)[:500], (str(code) if code is not None else None)


class Client:
    """An `httpx.Client` for one provider with the retry and limit policy of this package."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        headers: dict[str, str],
        *,
        settings: Settings | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        not_processed: Collection[int] = (),
        **overrides: Any,
    ) -> None:
        """`not_processed`: statuses besides 429 that the provider documents as "the request was
        not acted on", so a create answered with one may be sent again (none of the six does)."""
        settings = settings or Settings()
        if overrides:
            settings = Settings(**{**settings.__dict__, **overrides})
        self.settings = settings
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._sleep = sleep
        self._not_processed = frozenset(not_processed)
        env = provider.upper()
        limit = settings.concurrency or _env_number(f"VOXCLONE_{env}_CONCURRENCY")
        self.concurrency = int(limit or DEFAULT_CONCURRENCY)
        self._slots = _shared_limit(provider, self._base_url, self.concurrency)
        rate = settings.rate_per_s or _env_number(f"VOXCLONE_{env}_RATE")
        self._bucket = _shared_bucket(provider, self._base_url, rate) if rate else None
        install_log_filter()
        self._http = httpx.Client(
            base_url=self._base_url,
            headers=headers,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.write_timeout_s,
                pool=settings.pool_timeout_s,
            ),
            limits=httpx.Limits(max_connections=max(self.concurrency, 1) * 2),
            transport=transport,
        )

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def auth_headers(self) -> dict[str, str]:
        """The provider's own headers (its key among them): for a URL under its base URL only."""
        return dict(self._headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self._provider} {self._base_url}>"

    @contextmanager
    def _slot(self) -> Iterator[None]:
        if self._bucket is not None:
            self._bucket.take(self._sleep)
        with self._slots:
            yield

    def request(
        self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; a 2xx response, or ProviderError / OutcomeUnknown."""
        response: httpx.Response = self._send(method, path, None, idempotent, kwargs)
        return response

    def json(self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any) -> Any:
        """Like `request`, but the decoded JSON body; a malformed 2xx body counts as a failure."""
        return self._send(method, path, lambda r: r.json(), idempotent, kwargs)

    def _send(
        self,
        method: str,
        path: str,
        parse: Callable[[httpx.Response], Any] | None,
        idempotent: bool | None,
        kwargs: dict[str, Any],
    ) -> Any:
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        s = self.settings
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            log.debug(
                "%s %s %s attempt %d headers=%s",
                self._provider, method, path, attempt, redact(dict(self._http.headers)),
            )  # fmt: skip
            try:
                with self._slot():
                    response = self._http.request(method, path, **kwargs)
            except _NOT_SENT as exc:
                failure = ProviderError(
                    self._provider, f"could not connect ({type(exc).__name__})", retryable=True
                )
            except httpx.TransportError as exc:
                what = f"{method} {path}: no complete answer ({type(exc).__name__})"
                if not idempotent:
                    raise OutcomeUnknown(
                        self._provider, what, retryable=True, attempts=attempt
                    ) from exc
                failure = ProviderError(self._provider, what, retryable=True)
            else:
                if response.is_success:
                    if parse is None:
                        return response
                    try:
                        return parse(response)
                    except ValueError as exc:
                        what = f"{method} {path}: malformed JSON in a {response.status_code} answer"
                        if not idempotent:
                            raise OutcomeUnknown(
                                self._provider, what, retryable=True, attempts=attempt
                            ) from exc
                        failure = ProviderError(
                            self._provider, what, status=response.status_code, retryable=True
                        )
                else:
                    message, code = error_details(response)
                    status = response.status_code
                    if not idempotent and status >= 500 and status not in self._not_processed:
                        raise OutcomeUnknown(
                            self._provider,
                            f"{method} {path} answered {redact(message)}, so it may have been "
                            "acted on",
                            status=status,
                            code=code,
                            retryable=True,
                            attempts=attempt,
                        )
                    retryable = status == 429 or status >= 500
                    if status == 429:
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
                    failure = ProviderError(
                        self._provider,
                        redact(message),
                        status=status,
                        code=code,
                        retryable=retryable,
                        retry_after=retry_after,
                    )
                    if not retryable:
                        failure.attempts = attempt
                        raise failure
            failure.attempts = attempt
            if attempt >= s.max_attempts:
                raise failure
            if retry_after is not None:
                delay = min(retry_after, s.retry_after_max_s)
            else:
                delay = random.uniform(
                    0, min(s.backoff_max_s, s.backoff_base_s * 2 ** (attempt - 1))
                )
            if time.monotonic() - started + delay > s.max_total_s:
                failure.message += f" (gave up: next wait {delay:.2f}s exceeds the time budget)"
                raise failure
            log.info(
                "%s %s %s failed (%s); retry %d/%d in %.2fs",
                self._provider, method, path, failure, attempt + 1, s.max_attempts, delay,
            )  # fmt: skip
            self._sleep(delay)
