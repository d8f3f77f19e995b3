"""The rules for fetching a preview, against real HTTP servers on loopback: the key only under the
provider's base URL as a server reads the path, every redirect judged again, no address that is
not public unless it is the base URL's own origin, one deadline for a trickle or a silence, a size
cap, not-audio refused, and no request slot held. Each answer is a PreviewUnavailable with a
reason, never another exception.

Three loopback addresses stand for three places: 127.0.0.1 is the provider (its base URL),
127.0.0.2 a CDN (allowed through $VOXCLONE_PREVIEW_ALLOW_NETWORKS, as a public host would be),
127.0.0.3 a service of the user's own that no preview may reach.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from preview_server import WAV, Server, redirect, serve
from provider_cases import Sleeps

from providers import preview
from providers.http import Client
from providers.preview import PreviewUnavailable, fetch, not_public, under_base
from providers.redact import register_secret

KEY = "sk-preview-SECRET"


@pytest.fixture
def provider() -> Iterator[Server]:
    with serve("127.0.0.1") as server:
        yield server


@pytest.fixture
def cdn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv(preview.ALLOW_ENV, "127.0.0.2/32")
    with serve("127.0.0.2") as server:
        yield server


@pytest.fixture
def internal() -> Iterator[Server]:
    with serve("127.0.0.3") as server:
        yield server


def client(server: Server, **settings) -> Client:
    register_secret(KEY)  # as providers.connect does
    seen = {"backoff_base_s": 0.0, "backoff_max_s": 0.0, "sleep": Sleeps(), **settings}
    return Client("anam", f"{server.origin}/v1", {"Authorization": f"Bearer {KEY}"}, **seen)


def keys(server: Server) -> dict[str, str | None]:
    return {path: headers.get("Authorization") for _, path, headers in server.seen}


def test_the_key_goes_only_where_the_normalised_path_is_under_the_base(provider, cdn) -> None:
    c = client(provider)
    base, origin = f"{provider.origin}/v1", provider.origin
    for url in (
        f"{base}/voices/1/sample.wav",
        f"{base}/../secret/x.wav",  # dot segments: the server reads /secret/x.wav
        f"{base}/%2e%2e/secret/y.wav",  # encoded dot segments, decoded once
        f"{base}/voices/..%2F..%2Fsecret/z.wav",  # an encoded slash
        f"{origin}/v10/a.wav",  # the same host, not under the base path
        f"{cdn.origin}/v1/voices/1/sample.wav",  # another host
    ):
        assert fetch(c, url).data == WAV
    assert keys(provider) == {
        "/v1/voices/1/sample.wav": f"Bearer {KEY}",
        "/secret/x.wav": None,
        "/v1/%2e%2e/secret/y.wav": None,
        "/v1/voices/..%2F..%2Fsecret/z.wav": None,
        "/v10/a.wav": None,
    }
    assert keys(cdn) == {"/v1/voices/1/sample.wav": None}


def test_every_redirect_is_judged_the_same_way(provider, cdn) -> None:
    c = client(provider)
    back_under = f"{provider.origin}/v1/voices/2/sample.wav"
    back_outside = f"{provider.origin}/v1/../elsewhere.wav"
    first = fetch(c, redirect(provider.origin, redirect(cdn.origin, back_under, 307)))
    assert first.data == WAV and first.url == back_under
    fetch(c, redirect(provider.origin, redirect(cdn.origin, back_outside)))
    assert [(p.split("?")[0], k) for p, k in keys(provider).items()] == [
        ("/v1/redirect", f"Bearer {KEY}"),
        ("/v1/voices/2/sample.wav", f"Bearer {KEY}"),  # back on the provider's own base path
        ("/v1/redirect", f"Bearer {KEY}"),
        ("/elsewhere.wav", None),
    ]
    assert set(keys(cdn).values()) == {None}


def test_no_address_that_is_not_public_unless_it_is_the_base_urls_origin(
    provider, cdn, internal
) -> None:
    c = client(provider)
    with serve("127.0.0.1") as neighbour:  # another service on the provider's own host
        for url, where in (
            (f"{internal.origin}/a.wav", "127.0.0.3 (loopback)"),
            (f"{neighbour.origin}/a.wav", "127.0.0.1 (loopback)"),
            (redirect(provider.origin, f"{internal.origin}/b.wav"), "127.0.0.3 (loopback)"),
            (redirect(cdn.origin, f"{internal.origin}/c.wav"), "127.0.0.3 (loopback)"),
        ):
            with pytest.raises(PreviewUnavailable) as caught:
                fetch(c, url)
            assert caught.value.reason.startswith("refused: ") and where in caught.value.reason
            assert preview.ALLOW_ENV in caught.value.reason
        assert neighbour.seen == []
    assert internal.seen == []  # nothing reached it, not even a request without the key
    assert fetch(c, f"{provider.origin}/_samples/a.wav").data == WAV  # the base URL's origin


def test_the_host_is_resolved_once_and_the_judged_address_is_the_one_connected_to(
    monkeypatch, cdn
) -> None:
    """DNS rebinding: the name answers a public address when judged, an internal one after."""
    with serve("127.0.0.3", cdn.server_address[1]) as internal:  # the same port, another address
        answers = iter([["127.0.0.2"], ["127.0.0.3"], ["127.0.0.3"]])
        asked = []
        monkeypatch.setattr(preview, "resolve", lambda h, p: asked.append(h) or next(answers))
        with serve("127.0.0.1") as provider:
            got = fetch(client(provider), f"http://cdn.example.test:{cdn.server_address[1]}/a.wav")
        assert got.data == WAV
        assert asked == ["cdn.example.test"]
        assert internal.seen == []
        assert cdn.seen[0][2]["Host"] == f"cdn.example.test:{cdn.server_address[1]}"


def test_a_trickle_ends_at_the_deadline_whatever_the_read_timeout(provider, monkeypatch) -> None:
    """One byte every 0.2 s never trips a 120 s read timeout; the deadline ends it."""
    monkeypatch.setenv(preview.DEADLINE_ENV, "1.5")
    c = client(provider, read_timeout_s=120)
    for path in ("v1/trickle?bytes=400&every=0.2", "v1/silent"):
        started = time.monotonic()
        with pytest.raises(PreviewUnavailable) as caught:
            fetch(c, f"{provider.origin}/{path}")
        took = time.monotonic() - started
        assert 1.4 <= took < 6, (path, took)  # not before the deadline, nor long after
        assert caught.value.reason.startswith("gave up after 1.5 s, the deadline for a whole")


def test_a_slow_preview_holds_no_request_slot(provider, monkeypatch) -> None:
    """With one request slot for the provider, a create goes out while a preview trickles."""
    monkeypatch.setenv(preview.DEADLINE_ENV, "5")
    c = client(provider, concurrency=1)
    done: dict[str, float] = {}

    def slow_preview() -> None:
        fetch(c, f"{provider.origin}/v1/trickle?bytes=8&every=0.2")
        done["preview"] = time.monotonic()

    thread = threading.Thread(target=slow_preview)
    thread.start()
    time.sleep(0.3)
    c.json("POST", "/voices")
    done["create"] = time.monotonic()
    thread.join()
    assert done["create"] < done["preview"]


@pytest.mark.parametrize(
    "url, reason",
    [
        ("file:///etc/passwd", "not an http(s) URL (scheme 'file')"),
        ("ftp://cdn.example.test/a.mp3", "not an http(s) URL (scheme 'ftp')"),
        ("javascript:alert(1)", "not an http(s) URL (scheme 'javascript')"),
        ("/relative/sample.wav", "not an http(s) URL (no scheme)"),
        ("http://cdn.example.test:port/a.mp3", "not an http(s) URL (scheme 'http')"),
    ],
)
def test_a_url_that_is_not_http_is_refused_before_any_request(provider, url, reason) -> None:
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(provider), url)
    assert caught.value.reason == reason
    assert provider.seen == []


def test_a_redirect_to_another_scheme_is_refused(provider) -> None:
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(provider), redirect(provider.origin, "file:///etc/shadow", 301))
    assert (
        caught.value.reason == "redirected (HTTP 301) to a URL that is not http(s) (scheme 'file')"
    )


def test_endless_redirects_end(provider) -> None:
    with pytest.raises(PreviewUnavailable, match="more than 5 redirects"):
        fetch(client(provider), f"{provider.origin}/v1/loop")


def test_a_body_over_the_cap_is_refused_whether_declared_or_not(provider) -> None:
    c = client(provider)
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(c, f"{provider.origin}/v1/big?bytes=5000", limit=4096)
    assert caught.value.reason == "preview too large: 5000 bytes; the limit is 4096 bytes"
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(c, f"{provider.origin}/v1/big?bytes=9000&declare=0", limit=4096)
    assert caught.value.reason == "preview too large: more than 4096 bytes; the limit is 4096 bytes"
    got = fetch(c, f"{provider.origin}/v1/big?bytes=8192&declare=0", limit=8192)
    assert got.data == b"\x00" * 8192


@pytest.mark.parametrize(
    "path, reason",
    [
        ("html", "not audio: the preview URL answered text/html"),
        ("empty", "the preview URL answered no content"),
        ("error?status=404", "could not download the preview: HTTP 404: upstream saw Bearer "),
    ],
)
def test_what_is_not_a_preview_says_why(provider, path, reason) -> None:
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(provider), f"{provider.origin}/v1/{path}")
    assert caught.value.reason.startswith(reason)
    assert KEY not in caught.value.reason


def test_an_error_is_retried_within_the_attempts_and_named_without_the_key(provider) -> None:
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(provider, max_attempts=3), f"{provider.origin}/v1/error?status=503")
    assert len(provider.seen) == 3
    assert "HTTP 503" in caught.value.reason and "after 3 attempt(s)" in caught.value.reason
    assert KEY not in caught.value.reason and "[redacted]" in caught.value.reason


def test_under_base_is_exact_about_origin_and_path() -> None:
    base = "https://api.example.test/v1"
    assert under_base("https://api.example.test/v1/x", base)
    assert under_base("https://api.example.test/v1", base)
    assert under_base("https://API.example.test:443/v1/./x", base)
    assert not under_base("https://api.example.test/v10/x", base)
    assert not under_base("https://api.example.test/v1/../x", base)
    assert not under_base("https://api.example.test/v1/%2E%2E/x", base)
    assert not under_base("https://api.example.test/v1/..\\x", base)
    assert not under_base("http://api.example.test/v1/x", base)  # another scheme
    assert not under_base("https://api.example.test:8443/v1/x", base)  # another port
    assert not under_base("https://api.example.test.evil.test/v1/x", base)


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("fe80::1%eth0", "link-local"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("8.8.8.8", None),
        ("2606:4700::1", None),
    ],
)
def test_what_counts_as_not_public(address, kind) -> None:
    assert not_public(address) == kind
