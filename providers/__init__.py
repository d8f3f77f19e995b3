"""Clients for six voice-cloning APIs behind one interface.

client = providers.connect("anam")             # key from ANAM_API_KEY
voice = providers.clone(client, CloneRequest(...))
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Collection
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
    "AMBIGUOUS",
    "CANNOT_LIST",
    "LISTING_FAILED",
    "NAMES",
    "NOT_LISTED",
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
    "settle",
    "spec",
]

# The `listing` of the OutcomeUnknown `clone` raises when a create's answer was lost: what the
# provider's voice list showed: it could not be read, the voice is not on it (yet), several new
# voices have the name, or the provider has no list. The first two can clear on their own.
LISTING_FAILED = "listing_failed"
NOT_LISTED = "not_listed"
AMBIGUOUS = "ambiguous"
CANNOT_LIST = "cannot_list"

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

    client_options.setdefault("not_processed", about.not_processed)
    return Client(name, base_url or base_url_of(name), module.headers(key), **client_options)


def base_url_of(name: str) -> str:
    """The provider's base URL: `<NAME>_BASE_URL` when set, else the documented one."""
    about = spec(name)
    return (os.environ.get(about.base_url_env) or about.default_base_url).rstrip("/")


def clone(
    client: Client,
    req: CloneRequest,
    *,
    on_preview: Callable[[bytes], None] | None = None,
    known: Collection[str] = (),
) -> ClonedVoice:
    """Validate and create, at most once: a lost answer is settled by the voice list, never by
    sending again.

    `on_preview`: for providers whose clone makes a preview first (`ProviderSpec.preview` is
    "before-clone": Faseeh), called with it as WAV bytes before the clone call; an exception it
    raises stops the clone.
    `known`: ids of voices that were there before this create (the caller's record of what it
    made), never taken for the one this request made.
    """
    module = get(client.provider)
    module.validate(req)
    before = spec(client.provider).preview == "before-clone"
    extra = {"on_preview": on_preview} if on_preview and before else {}
    try:
        return module.clone(client, req, **extra)
    except OutcomeUnknown as lost:
        return settle(client, req.name, lost, known)


def settle(
    client: Client, name: str, lost: OutcomeUnknown, known: Collection[str] = ()
) -> ClonedVoice:
    """The voice a create whose answer was lost made, found on the provider's list by its name;
    else OutcomeUnknown again, its `listing` saying what the list showed (LISTING_FAILED,
    NOT_LISTED, AMBIGUOUS, CANNOT_LIST). Never sends: behind a gateway's 504 the voice may still
    be in the making, and appear on the list only later."""
    display = spec(client.provider).display_name

    def unknown(why: str, listing: str) -> OutcomeUnknown:
        return OutcomeUnknown(
            client.provider,
            f"{lost.message}; {why}",
            status=lost.status,
            code=lost.code,
            attempts=lost.attempts,
            listing=listing,
        )

    try:
        found = get(client.provider).find_by_name(client, name)
    except ProviderError as failed:
        raise unknown(
            f"looking {name!r} up failed too ({failed.message})", LISTING_FAILED
        ) from failed
    if found is None:
        why = (
            f"{display} documents no way to list voices, so whether {name!r} was created is unknown"
        )
        raise unknown(why, CANNOT_LIST) from lost
    fresh = [v for v in found if v.voice_id not in known]
    if len(fresh) == 1:
        log.info("%s: answer lost, found %r (%s)", client.provider, name, fresh[0].voice_id)
        return fresh[0]
    if fresh:
        why = (
            f"{len(fresh)} voices named {name!r} exist, cannot tell which one this request created"
        )
        raise unknown(why, AMBIGUOUS) from lost
    why = f"{name!r} is not on the {display} voice list (yet): it may not have been created, or still be in the making"
    raise unknown(why, NOT_LISTED) from lost
