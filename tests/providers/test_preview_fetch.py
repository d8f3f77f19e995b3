"""The rules for fetching a preview: http(s) only, every redirect judged, a size cap, the key only
on the provider's own base URL, not-audio refused, a silent server given up on. Each answer is a
PreviewUnavailable with a reason, never another exception."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from provider_cases import Sleeps

from providers.http import Client
from providers.preview import PreviewUnavailable, fetch, under_base
from providers.redact import register_secret

BASE = "https://api.example.test/v1"
KEY = "sk-preview-SECRET"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28


def client(handler, **settings) -> Client:
    register_secret(KEY)  # as providers.connect does
    seen = {"backoff_base_s": 0.0, "backoff_max_s": 0.0, "sleep": Sleeps(), **settings}
    return Client(
        "anam",
        BASE,
        {"Authorization": f"Bearer {KEY}"},
        transport=httpx.MockTransport(handler),
        **seen,
    )


def audio(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=WAV, headers={"content-type": "audio/wav"})


def test_the_key_goes_only_to_urls_under_the_base_url() -> None:
    headers: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        headers[str(request.url)] = request.headers.get("authorization")
        return audio(request)

    c = client(handler)
    fetch(c, f"{BASE}/voices/1/sample.wav")
    fetch(c, "https://cdn.example.test/v1/voices/1/sample.wav")
    fetch(c, "https://api.example.test/other/sample.wav")  # same host, not under the base path
    assert headers == {
        f"{BASE}/voices/1/sample.wav": f"Bearer {KEY}",
        "https://cdn.example.test/v1/voices/1/sample.wav": None,
        "https://api.example.test/other/sample.wav": None,
    }


def test_a_redirect_off_the_base_url_drops_the_key() -> None:
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("authorization")))
        if request.url.host == "api.example.test":
            return httpx.Response(302, headers={"location": "https://bucket.example.test/a.wav"})
        return audio(request)

    preview = fetch(client(handler), f"{BASE}/voices/1/sample")
    assert preview.data == WAV and preview.url == "https://bucket.example.test/a.wav"
    assert seen == [("api.example.test", f"Bearer {KEY}"), ("bucket.example.test", None)]


@pytest.mark.parametrize(
    "url, reason",
    [
        ("file:///etc/passwd", "not an http(s) URL (scheme 'file')"),
        ("ftp://cdn.example.test/a.mp3", "not an http(s) URL (scheme 'ftp')"),
        ("javascript:alert(1)", "not an http(s) URL (scheme 'javascript')"),
        ("/relative/sample.wav", "not an http(s) URL (no scheme)"),
    ],
)
def test_a_url_that_is_not_http_is_refused_before_any_request(url: str, reason: str) -> None:
    calls = []
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(lambda r: calls.append(r) or audio(r)), url)
    assert caught.value.reason == reason
    assert calls == []


def test_a_redirect_to_another_scheme_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"location": "file:///etc/shadow"})

    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(handler), "https://cdn.example.test/a.wav")
    assert (
        caught.value.reason == "redirected (HTTP 301) to a URL that is not http(s) (scheme 'file')"
    )


def test_endless_redirects_end() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": f"{request.url}x"})

    with pytest.raises(PreviewUnavailable, match="more than 5 redirects"):
        fetch(client(handler), "https://cdn.example.test/a")


def test_a_body_over_the_cap_is_refused_whether_declared_or_not() -> None:
    def declared(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": "5000", "content-type": "audio/mpeg"},
                              content=b"\x00" * 5000)  # fmt: skip

    def streamed(request: httpx.Request) -> httpx.Response:
        chunks = (b"\x00" * 1024 for _ in range(8))
        return httpx.Response(200, headers={"content-type": "audio/mpeg"}, stream=_Stream(chunks))

    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(declared), "https://cdn.example.test/a.mp3", limit=4096)
    assert caught.value.reason == "preview too large: 5000 bytes; the limit is 4096 bytes"
    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(streamed), "https://cdn.example.test/a.mp3", limit=4096)
    assert caught.value.reason == "preview too large: more than 4096 bytes; the limit is 4096 bytes"
    assert (
        fetch(client(streamed), "https://cdn.example.test/a.mp3", limit=8192).data == b"\x00" * 8192
    )


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks) -> None:
        self.chunks = chunks

    def __iter__(self):
        yield from self.chunks


def test_a_page_that_is_not_audio_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, text="<html>login</html>", headers={"content-type": "text/html; charset=utf-8"}
        )

    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(handler), "https://cdn.example.test/a.mp3")
    assert caught.value.reason == "not audio: the preview URL answered text/html"


def test_an_error_is_retried_within_the_budget_and_named_without_the_key() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"message": f"upstream saw {KEY}"})

    with pytest.raises(PreviewUnavailable) as caught:
        fetch(client(handler, max_attempts=3), f"{BASE}/voices/1/sample.wav")
    assert len(calls) == 3
    assert "HTTP 503" in caught.value.reason and "after 3 attempt(s)" in caught.value.reason
    assert KEY not in caught.value.reason


def test_a_server_that_never_answers_is_given_up_on() -> None:
    """A real socket that accepts and says nothing: the read timeout and the retry budget end it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        c = Client(
            "anam",
            BASE,
            {},
            read_timeout_s=0.2,
            max_attempts=2,
            backoff_base_s=0.0,
            backoff_max_s=0.0,
        )
        url = f"http://127.0.0.1:{server.getsockname()[1]}/sample.wav"
        with pytest.raises(PreviewUnavailable) as caught:
            fetch(c, url)
        assert "no complete answer (ReadTimeout)" in caught.value.reason
        assert "after 2 attempt(s)" in caught.value.reason
    finally:
        stop.set()
        thread.join()
        for s in accepted:
            s.close()
        server.close()


def test_under_base_is_exact_about_origin_and_path() -> None:
    assert under_base("https://api.example.test/v1/x", BASE)
    assert under_base("https://api.example.test/v1", BASE)
    assert not under_base("https://api.example.test/v10/x", BASE)
    assert not under_base("http://api.example.test/v1/x", BASE)  # another scheme
    assert not under_base("https://api.example.test:8443/v1/x", BASE)  # another port
    assert not under_base("https://api.example.test.evil.test/v1/x", BASE)
