"""Fetch a provider's preview of a new voice: the audio the clone check listens to.

The URL comes from the provider's answer, so it is data, not trust. The first URL and every
redirect (at most MAX_REDIRECTS) are judged the same way before anything is sent to them:

- http(s) only;
- the API key goes only where the *normalised* URL (percent-encoding decoded once, dot segments
  resolved, as a server reads it) is under the provider's base URL, on its scheme, host and port;
  anything else (a CDN, a bucket) gets a plain request without the provider's headers;
- the host is resolved once and the connection goes to the address judged: a loopback, private,
  link-local or otherwise non-public one is refused unless the URL is on the base URL's own
  origin (the emulator, a gateway the user configured) or in $VOXCLONE_PREVIEW_ALLOW_NETWORKS.

One deadline (connect to last byte, redirects and retries included) and a size cap bound the
whole fetch, which takes none of the provider's request slots: a slow preview never holds up
another voice's create.
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote, urlsplit

from .redact import redact

if TYPE_CHECKING:
    import httpx

    from .http import Client

MAX_BYTES_ENV = "VOXCLONE_PREVIEW_MAX_BYTES"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # a minute of 320 kbps mp3 is 2.4 MB; a preview is seconds
DEADLINE_ENV = "VOXCLONE_PREVIEW_DEADLINE_S"
DEFAULT_DEADLINE_S = 30.0
ALLOW_ENV = "VOXCLONE_PREVIEW_ALLOW_NETWORKS"  # e.g. "10.20.0.0/16,fd00:1::/64"
MAX_REDIRECTS = 5
ERROR_BYTES = 64 * 1024  # of an error page, read for its message
# Content types that are not audio whatever the bytes say (an error page, a JSON body).
NOT_AUDIO = ("text/", "application/json", "application/xml", "application/xhtml", "image/")
PORTS = {"http": 80, "https": 443}


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


class Target(NamedTuple):
    """A URL as the server it names will read it."""

    scheme: str
    host: str
    port: int
    path: str


def max_bytes() -> int:
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    return int(raw) if raw.isdigit() else DEFAULT_MAX_BYTES


def deadline_s() -> float:
    raw = os.environ.get(DEADLINE_ENV, "").strip()
    try:
        return float(raw) if raw else DEFAULT_DEADLINE_S
    except ValueError:
        return DEFAULT_DEADLINE_S


def is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme.lower() in PORTS and bool(parts.hostname)


def target(url: str) -> Target:
    """Scheme, host, port (the default one filled in) and the path with its percent-encoding
    decoded once and its dot segments resolved (a backslash read as a slash, as some servers do)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    path = unquote(parts.path).replace("\\", "/")
    return Target(scheme, parts.hostname or "", parts.port or PORTS.get(scheme, 0), _resolved(path))


def _resolved(path: str) -> str:
    """RFC 3986 §5.2.4, remove_dot_segments: "/v1/../secret/x" is "/secret/x"."""
    segments = path.split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/".join(out) or "/"


def same_origin(url: str, base_url: str) -> bool:
    return target(url)[:3] == target(base_url)[:3]


def under_base(url: str, base_url: str) -> bool:
    """True when `url`, normalised, is on the provider's own origin and under its base path: only
    there may the key go (a preview on the same host but another path is someone else's)."""
    u, b = target(url), target(base_url)
    base = b.path.rstrip("/")
    return u[:3] == b[:3] and (u.path == base or u.path.startswith(base + "/"))


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order (a seam for tests)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def not_public(address: str) -> str | None:
    """What kind of address this is when it is not a public one ("loopback", "private", …)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "unspecified", "link_local", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = [x.strip() for x in os.environ.get(ALLOW_ENV, "").split(",") if x.strip()]
    try:
        return [ipaddress.ip_network(x, strict=False) for x in raw]
    except ValueError as e:
        raise PreviewUnavailable(f"${ALLOW_ENV}: {e}") from None


def _address(url: str, base_url: str, deadline: float) -> str:
    """The one address to connect to for `url`, judged; PreviewUnavailable when none may be."""
    host, port = target(url).host, target(url).port
    pool = ThreadPoolExecutor(1)  # getaddrinfo has no timeout of its own
    try:
        addresses = pool.submit(resolve, host, port).result(max(0.0, deadline - time.monotonic()))
    except Late:
        raise PreviewUnavailable(f"{host} did not resolve before the deadline") from None
    except OSError as e:
        raise PreviewUnavailable(f"{host} does not resolve ({e.strerror or e})") from None
    finally:
        pool.shutdown(wait=False)
    if same_origin(url, base_url):
        return addresses[0]  # the configured base URL: the emulator, a local gateway
    allowed = allowed_networks()
    refused = []
    for address in addresses:
        kind = not_public(address)
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if kind is None or any(ip in net for net in allowed):
            return address
        refused.append(f"{address} ({kind})")
    raise PreviewUnavailable(
        f"refused: {host} is not a public address ({', '.join(refused)}) and not the provider's "
        f"base URL; allow its network in ${ALLOW_ENV} if it is yours"
    )


class _Retry(Exception):
    """A failure worth another try while the deadline allows (a 5xx, a 429, a lost connection)."""


def fetch(client: Client, url: str, *, limit: int | None = None) -> Preview:
    """The preview's bytes, or PreviewUnavailable with the reason; never the key off its base."""
    limit = limit or max_bytes()
    budget = deadline_s()
    deadline = time.monotonic() + budget
    hop: int | None = None  # the status of the redirect that led here
    for _ in range(MAX_REDIRECTS + 1):
        if not is_http(url) and hop is None:
            raise PreviewUnavailable(f"not an http(s) URL ({_scheme(url)})")
        if not is_http(url):
            raise PreviewUnavailable(
                f"redirected (HTTP {hop}) to a URL that is not http(s) ({_scheme(url)})"
            )
        got = _one(client, url, limit, deadline, budget)
        if isinstance(got, Preview):
            return got
        hop, url = got
    raise PreviewUnavailable(f"more than {MAX_REDIRECTS} redirects")


def _one(
    client: Client, url: str, limit: int, deadline: float, budget: float
) -> Preview | tuple[int, str]:
    """One judged URL: its preview, or (status, location) of its redirect. Transient failures
    are tried again within the client's attempts and the deadline."""
    import httpx

    from .pinned import PinnedTransport

    address = _address(url, client.base_url, deadline)
    headers = {"accept-encoding": "identity"}  # audio is compressed already; no gzip bombs
    if under_base(url, client.base_url):
        headers.update(client.auth_headers)
    s = client.settings
    timeout = httpx.Timeout(
        connect=s.connect_timeout_s, read=s.read_timeout_s, write=s.write_timeout_s, pool=1.0
    )
    attempt = 0
    while True:
        attempt += 1
        try:
            transport = PinnedTransport(address, deadline)
            with (
                httpx.Client(transport=transport, trust_env=False, timeout=timeout) as http,
                http.stream("GET", url, headers=headers) as response,
            ):
                return _read(response, limit)
        except httpx.TransportError as e:
            if time.monotonic() >= deadline:
                raise PreviewUnavailable(_late(budget)) from None
            failure = f"no complete answer ({type(e).__name__})"
        except _Retry as e:
            failure = str(e)
        if attempt >= s.max_attempts:
            raise PreviewUnavailable(
                f"could not download the preview: {failure} after {attempt} attempt(s)"
            )
        delay = random.uniform(0, min(s.backoff_max_s, s.backoff_base_s * 2 ** (attempt - 1)))
        if time.monotonic() + delay >= deadline:
            raise PreviewUnavailable(f"{_late(budget)}; the last try: {failure}")
        time.sleep(delay)


def _read(response: httpx.Response, limit: int) -> Preview | tuple[int, str]:
    import httpx

    from .http import error_details

    if response.is_redirect:
        return response.status_code, str(response.url.join(response.headers.get("location", "")))
    if not response.is_success:  # an error page: its first 64 kB say enough
        head = bytearray()
        for chunk in response.iter_bytes():
            head += chunk
            if len(head) >= ERROR_BYTES:
                break
        kind = {"content-type": response.headers.get("content-type", "")}
        message, _ = error_details(
            httpx.Response(response.status_code, headers=kind, content=bytes(head[:ERROR_BYTES]))
        )
        failure = f"HTTP {response.status_code}: {redact(message)}"
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(failure)
        raise PreviewUnavailable(f"could not download the preview: {failure}")
    kind = response.headers.get("content-type")
    if kind and kind.lower().startswith(NOT_AUDIO):
        raise PreviewUnavailable(f"not audio: the preview URL answered {kind.split(';')[0]}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PreviewUnavailable(f"preview too large: {declared} bytes; the limit is {limit} bytes")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise PreviewUnavailable(
                f"preview too large: more than {limit} bytes; the limit is {limit} bytes"
            )
    if not body:
        raise PreviewUnavailable("the preview URL answered no content")
    return Preview(bytes(body), kind, str(response.url))


def _late(budget: float) -> str:
    return f"gave up after {budget:g} s, the deadline for a whole preview (connect to last byte)"


def _scheme(url: str) -> str:
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        return "unparseable"
    return f"scheme {scheme!r}" if scheme else "no scheme"
