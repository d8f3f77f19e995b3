"""The key in use appears nowhere: not in logs (ours, httpx's, httpcore's), errors or raw answers."""

from __future__ import annotations

import json
import logging
import traceback

import httpx
import pytest
from provider_cases import CAN_LIST, CREATE_PATH, KEY, request

import providers
from providers import redact as r
from providers.http import Client
from providers.types import ProviderError


def texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def test_key_never_leaks_across_providers_failures_and_retries(connect, inject, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "providers"):
        caplog.set_level(logging.DEBUG, logger=name)
    seen: list[str] = []
    for name in providers.NAMES:
        client = connect(name, max_attempts=3)
        inject(name, "429", path=CREATE_PATH[name], method="POST", retry_after=0)
        inject(name, "500", path=CREATE_PATH[name], method="POST")  # stored, then answered 500
        for kind, number in (("500", "First"), ("lost", "Second")):
            if kind == "lost":
                inject(name, "lost", path=CREATE_PATH[name], method="POST")
            try:
                voice = providers.clone(client, request(name, name=f"{number} {name}"))
                seen.append(json.dumps(voice.raw))
            except ProviderError as lost:
                assert name not in CAN_LIST
                seen += texts_of(lost)
        inject(name, "503", count=-1)
        with pytest.raises(ProviderError) as caught:
            providers.clone(client, request(name, name=f"Third {name}"))
        seen += texts_of(caught.value)
        with pytest.raises(ProviderError) as caught:
            providers.clone(connect(name, key="invalid"), request(name))
        seen += texts_of(caught.value)
    seen.append(caplog.text)
    seen += [record.getMessage() for record in caplog.records]
    assert any("httpcore" in record.name for record in caplog.records)  # debug logs were on
    assert any("HTTP Request" in record.getMessage() for record in caplog.records)
    assert any("headers=" in record.getMessage() for record in caplog.records)
    for text in seen:
        assert KEY not in text


def echo(request: httpx.Request) -> httpx.Response:
    """A server that repeats the credentials back, as some error pages do."""
    headers = dict(request.headers)
    if request.url.path.endswith("/fail"):
        return httpx.Response(400, json={"message": f"bad key {headers['authorization']}"})
    return httpx.Response(201, json={"id": "v1", "displayName": "n", "echo": headers})


def test_echoed_keys_are_scrubbed_from_errors_answers_and_logs(caplog):
    caplog.set_level(logging.DEBUG)
    r.register_secret(KEY)
    client = Client("anam", "http://anam.test", {"Authorization": f"Bearer {KEY}"},
                    transport=httpx.MockTransport(echo))  # fmt: skip
    with client:
        voice = providers.clone(client, request("anam"))
        with pytest.raises(ProviderError) as caught:
            client.json("GET", "/fail")
    assert voice.raw["echo"]["authorization"] == r.MASK
    assert "bad key Bearer [redacted]" in caught.value.message
    logging.getLogger("providers.http").warning("sending with %s", KEY)
    logging.getLogger("httpx").debug("headers %s", {"xi-api-key": KEY})
    assert "sending with [redacted]" in caplog.text
    for text in [json.dumps(voice.raw), caplog.text, *texts_of(caught.value)]:
        assert KEY not in text


def test_redact_masks_credential_headers_and_registered_values():
    r.register_secret("another-secret-value-42")
    headers = httpx.Headers({"X-API-Key": "abc", "xi-api-key": "def", "Accept": "json"})
    assert r.redact(headers) == {"x-api-key": r.MASK, "xi-api-key": r.MASK, "accept": "json"}
    assert r.redact({"Authorization": "Bearer x", "nested": ["another-secret-value-42"]}) == {
        "Authorization": r.MASK,
        "nested": [r.MASK],
    }
    assert r.redact("key=another-secret-value-42;") == f"key={r.MASK};"
    assert r.redact({"api_key": 5, "next_page_token": "t"}) == {
        "api_key": r.MASK,
        "next_page_token": "t",
    }
