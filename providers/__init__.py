"""Clients for six voice-cloning APIs behind one interface.

client = providers.connect("anam")             # key from ANAM_API_KEY
voice = providers.clone(client, CloneRequest(...))
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .redact import register_secret
from .registry import NAMES, SPECS, ClientModule, ProviderName, ProviderSpec, spec
from .types import (
    AudioFile,
    ClonedVoice,
    CloneRequest,
    InvalidRequest,
    OutcomeUnknown,
    ProviderError,
)

__all__ = [
    "LISTING_FAILED",
    "NAMES",
    "SPECS",
    "AudioFile",
    "Client",
    "ClientModule",
    "CloneRequest",
    "ClonedVoice",
    "InvalidRequest",
    "OutcomeUnknown",
    "ProviderError",
    "ProviderName",
    "ProviderSpec",
    "base_url_of",
    "clone",
    "connect",
    "get",
    "spec",
]

# The `code` of an OutcomeUnknown whose look-up by name failed (the listing, not the create).
LISTING_FAILED = "listing_failed"

log = logging.getLogger("providers")

if TYPE_CHECKING:
    from .http import Client


def __getattr__(name: str) -> Any:
    """`Client` is imported on first use: httpx costs 0.1 s that `voxclone prepare` never needs."""
    if name == "Client":
        from .http import Client

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get(name: str) -> ClientModule:
    """The provider's client module (a ValueError naming the valid ones for any other name)."""
    return cast(ClientModule, importlib.import_module(f"{__name__}.{spec(name).name}"))


def connect(
    name: str, *, key: str | None = None, base_url: str | None = None, **client_options: Any
) -> Client:
    """A Client for `name`, with the key from its env var unless given. See http.Settings."""
    module, about = get(name), spec(name)
    key = key if key is not None else os.environ.get(about.key_env, "")
    if not key.strip():
        raise ProviderError(name, f"no API key: set {about.key_env}")
    register_secret(key)
    from .http import Client

    return Client(name, base_url or base_url_of(name), module.headers(key), **client_options)


def base_url_of(name: str) -> str:
    """The provider's base URL: `<NAME>_BASE_URL` when set, else the documented one."""
    about = spec(name)
    return (os.environ.get(about.base_url_env) or about.default_base_url).rstrip("/")


def clone(
    client: Client, req: CloneRequest, *, on_preview: Callable[[bytes], None] | None = None
) -> ClonedVoice:
    """Validate, create, and settle a lost answer without ever creating the voice twice.

    `on_preview`: for providers whose clone makes a preview first (Faseeh), called with it as
    WAV bytes before the clone call; an exception it raises stops the clone.

    When a create's answer is lost after the request went out, the voice may exist. Providers
    that can list are asked; if the voice is not there the create is retried once. Providers
    that cannot list raise OutcomeUnknown (not retryable) so the caller can hold the request.
    """
    module = get(client.provider)
    module.validate(req)
    extra = {"on_preview": on_preview} if on_preview and hasattr(module, "preview") else {}
    try:
        return module.clone(client, req, **extra)
    except OutcomeUnknown as lost:
        first = lost
    try:
        found = module.find_by_name(client, req.name)
    except ProviderError as failed:
        raise OutcomeUnknown(
            client.provider,
            f"{first.message}; looking {req.name!r} up failed too ({failed.message})",
            code=LISTING_FAILED,  # the caller may look again later: it can clear on its own
            attempts=first.attempts,
        ) from failed
    if found is None:
        raise OutcomeUnknown(
            client.provider,
            f"{first.message}; {spec(client.provider).display_name} documents no way to list voices, so "
            f"whether {req.name!r} was created is unknown",
            attempts=first.attempts,
        ) from first
    if len(found) == 1:
        log.info("%s: answer lost, found %r (%s)", client.provider, req.name, found[0].voice_id)
        return found[0]
    if len(found) > 1:
        raise OutcomeUnknown(
            client.provider,
            f"{first.message}; {len(found)} voices named {req.name!r} exist, cannot tell which "
            "one this request created",
            attempts=first.attempts,
        ) from first
    log.info("%s: answer lost and %r not found; creating once more", client.provider, req.name)
    try:
        return module.clone(client, req, **extra)
    except OutcomeUnknown as again:
        raise OutcomeUnknown(
            client.provider, f"{again.message} (second create after a lost answer)",
            attempts=first.attempts + again.attempts,
        ) from again  # fmt: skip
