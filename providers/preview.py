"""Fetch a provider's preview of a new voice: the audio the clone check listens to.

The URL comes from the provider's answer, so it is data, not trust: only http(s), at most
MAX_REDIRECTS hops each judged again, a size cap, the client's own retry budget and timeouts.
The API key goes only to URLs under the provider's base URL; anything else (a CDN, a bucket)
gets a plain request without the provider's headers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from .http import Client, Redirected, TooLarge
from .types import ProviderError

MAX_BYTES_ENV = "VOXCLONE_PREVIEW_MAX_BYTES"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # a minute of 320 kbps mp3 is 2.4 MB; a preview is seconds
MAX_REDIRECTS = 5
# Content types that are not audio whatever the bytes say (an error page, a JSON body).
NOT_AUDIO = ("text/", "application/json", "application/xml", "application/xhtml", "image/")


class PreviewUnavailable(Exception):
    """The preview could not be fetched; `reason` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Preview:
    data: bytes
    content_type: str | None
    url: str  # where it was finally read from (after redirects)


def max_bytes() -> int:
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    return int(raw) if raw.isdigit() else DEFAULT_MAX_BYTES


def is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def under_base(url: str, base_url: str) -> bool:
    """True when `url` is on the provider's own origin and under its base path: only there may
    the key go (a preview on the same host but another path, a CDN, is someone else's)."""
    u, b = urlsplit(url), urlsplit(base_url.rstrip("/"))
    same_origin = (u.scheme.lower(), u.hostname, u.port) == (b.scheme.lower(), b.hostname, b.port)
    return same_origin and (u.path == b.path or u.path.startswith(b.path + "/"))


def fetch(client: Client, url: str, *, limit: int | None = None) -> Preview:
    """The preview's bytes, or PreviewUnavailable with the reason; never the key off its host."""
    limit = limit or max_bytes()
    for _ in range(MAX_REDIRECTS + 1):
        if not is_http(url):
            raise PreviewUnavailable(f"not an http(s) URL ({_scheme(url)})")
        try:
            response = client.download(
                url, max_bytes=limit, with_key=under_base(url, client.base_url)
            )
        except Redirected as hop:
            url = hop.location
            if not is_http(url):
                raise PreviewUnavailable(
                    f"redirected (HTTP {hop.status}) to a URL that is not http(s) ({_scheme(url)})"
                ) from None
            continue
        except TooLarge as big:
            raise PreviewUnavailable(f"preview too large: {big}") from None
        except ProviderError as failed:
            raise PreviewUnavailable(f"could not download the preview: {failed}") from None
        kind = response.headers.get("content-type")
        if kind and kind.lower().startswith(NOT_AUDIO):
            raise PreviewUnavailable(f"not audio: the preview URL answered {kind.split(';')[0]}")
        if not response.content:
            raise PreviewUnavailable("the preview URL answered no content")
        return Preview(response.content, kind, url)
    raise PreviewUnavailable(f"more than {MAX_REDIRECTS} redirects")


def _scheme(url: str) -> str:
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        return "unparseable"
    return f"scheme {scheme!r}" if scheme else "no scheme"
