"""The provider-neutral request, result and error. Every provider module speaks these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AudioFile:
    filename: str
    data: bytes
    content_type: str = "audio/wav"


@dataclass(frozen=True)
class CloneRequest:
    """One voice to create on one provider. `options` holds provider-specific documented fields."""

    name: str
    files: tuple[AudioFile, ...]
    language: str = "en"
    description: str | None = None
    gender: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClonedVoice:
    provider: str
    voice_id: str
    name: str
    preview_url: str | None
    raw: dict[str, Any]


class ProviderError(Exception):
    """A provider said no, or could not be reached. Never carries a key in its text."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        attempts: int = 0,
    ) -> None:
        self.provider = provider
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = attempts
        super().__init__(str(self))

    def __str__(self) -> str:
        tries = f" after {self.attempts} attempt(s)" if self.attempts else ""
        return f"{_where(self.provider, self.status, self.code)}: {self.message}{tries}"


class InvalidRequest(ProviderError):
    """A documented constraint broken before a byte was sent; names the field and the rule."""

    def __init__(self, provider: str, field_name: str, rule: str) -> None:
        self.field = field_name
        self.rule = rule
        super().__init__(provider, f"{field_name}: {rule}", code="invalid_request")

    def __str__(self) -> str:  # nothing went out
        return f"{self.provider}: not sent [{self.code}]: {self.message}"


class OutcomeUnknown(ProviderError):
    """The request may have created a voice but its answer was lost. `listing` says what the
    provider's voice list showed when it was asked (providers.NOT_LISTED, …; None: not asked)."""

    def __init__(self, *args: Any, listing: str | None = None, **kwargs: Any) -> None:
        self.listing = listing
        super().__init__(*args, **kwargs)

    def __str__(self) -> str:  # what happened, in words; the attempts were one create
        return f"{_where(self.provider, self.status, None)}: {self.message}"


def _where(provider: str, status: int | None, code: str | None) -> str:
    """'anam: HTTP 502 [busy]' when the provider answered; just the provider otherwise: the
    message says what happened (no API key, could not connect, no complete answer, not audio)."""
    answered = f": HTTP {status}" if status else ""
    return f"{provider}{answered}{f' [{code}]' if code else ''}"
