"""Faults the emulator injects: retried when safe, reconciled when a create's answer is lost."""

from __future__ import annotations

import email.utils
import threading
import time

import httpx
import pytest
from provider_cases import CAN_LIST, CREATE_PATH, Sleeps, request

import providers
from providers.http import Client, error_details, parse_retry_after
from providers.types import OutcomeUnknown, ProviderError


def create_fault(inject, name, kind, **kw):
    return inject(name, kind, path=CREATE_PATH[name], method="POST", **kw)


def creates(state, name):
    return state()["voices"].get(name, [])


@pytest.mark.parametrize("name", providers.NAMES)
def test_429_waits_as_long_as_retry_after_says(name, connect, inject, state):
    sleeps = Sleeps()
    create_fault(inject, name, "429", retry_after=3)
    voice = providers.clone(connect(name, sleep=sleeps), request(name))
    assert sleeps == [3.0]
    assert len(creates(state, name)) == 1
    assert voice.voice_id


def test_retry_after_is_capped_by_the_time_budget(connect, inject, state):
    create_fault(inject, "anam", "429", retry_after=500)
    with pytest.raises(ProviderError) as caught:
        providers.clone(connect("anam", max_total_s=10), request("anam"))
    assert caught.value.status == 429
    assert caught.value.attempts == 1
    assert "time budget" in caught.value.message


def create_posts(state, name) -> int:
    """How many creates the emulator received (its request count, less the lookups)."""
    return state()["requests"].get(name, 0)


@pytest.mark.parametrize("kind", ["500", "502", "504"])
@pytest.mark.parametrize("name", CAN_LIST)
def test_a_create_stored_then_answered_5xx_is_found_not_sent_again(
    name, kind, connect, inject, state
):
    sleeps = Sleeps()
    create_fault(inject, name, kind)
    voice = providers.clone(connect(name, sleep=sleeps), request(name))
    stored = creates(state, name)
    assert len(stored) == 1 and voice.voice_id in str(stored[0])
    assert sleeps == []  # nothing was sent again, not even after a wait
    posts = state()["requests"][name] - lookups(name)
    assert posts == 1


def lookups(name: str) -> int:
    """Requests other than the create itself in one clone with a lost answer: the voice list,
    ElevenLabs' voice record after a create, Faseeh's model list and preview."""
    return {"faseeh": 3, "elevenlabs": 1}.get(name, 1)


@pytest.mark.parametrize("kind", ["500", "502", "504", "503"])
def test_callers_answered_5xx_on_a_create_is_never_sent_again(kind, connect, inject, state):
    sleeps = Sleeps()
    create_fault(inject, "callers", kind)
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(connect("callers", sleep=sleeps), request("callers"))
    assert caught.value.listing == providers.CANNOT_LIST and caught.value.status == int(kind)
    assert "no way to list" in caught.value.message
    assert state()["requests"]["callers"] == 1 and sleeps == []
    assert len(creates(state, "callers")) == (0 if kind == "503" else 1)


@pytest.mark.parametrize("name", CAN_LIST)
def test_a_503_on_a_create_is_looked_up_and_not_sent_again(name, connect, inject, state):
    """None of the six documents a 503 as "not processed": the voice may be in the making."""
    sleeps = Sleeps()
    create_fault(inject, name, "503")
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(connect(name, sleep=sleeps), request(name))
    assert caught.value.listing == providers.NOT_LISTED and caught.value.status == 503
    assert "is not on the" in caught.value.message and "(yet)" in caught.value.message
    assert sleeps == [] and creates(state, name) == []


def test_a_status_the_provider_documents_as_not_processed_is_sent_again(connect, inject, state):
    sleeps = Sleeps()
    create_fault(inject, "cartesia", "503", count=2)
    providers.clone(connect("cartesia", sleep=sleeps, not_processed=(503,)), request("cartesia"))
    assert len(sleeps) == 2
    assert len(creates(state, "cartesia")) == 1


def test_a_voice_the_caller_already_had_is_not_taken_for_a_lost_create(connect, inject, state):
    client = connect("anam")
    first = providers.clone(client, request("anam"))  # an earlier clone with the same name
    create_fault(inject, "anam", "503")  # this one never ran
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(client, request("anam"), known={first.voice_id})
    assert caught.value.listing == providers.NOT_LISTED
    create_fault(inject, "anam", "502")  # this one ran
    second = providers.clone(client, request("anam"), known={first.voice_id})
    assert second.voice_id != first.voice_id
    assert len(creates(state, "anam")) == 2


@pytest.mark.parametrize("kind", ["500", "503"])
def test_5xx_on_a_read_is_retried(kind, connect, inject, state):
    sleeps = Sleeps()
    inject("elevenlabs", kind, count=2, method="GET")
    assert providers.get("elevenlabs").find_by_name(connect("elevenlabs", sleep=sleeps), "x") == []
    assert len(sleeps) == 2 and state()["requests"]["elevenlabs"] == 3


def test_persistent_503_on_a_read_gives_up_after_max_attempts(connect, inject, state):
    inject("elevenlabs", "503", count=-1, method="GET")
    with pytest.raises(ProviderError) as caught:
        providers.get("elevenlabs").find_by_name(connect("elevenlabs", max_attempts=4), "x")
    assert caught.value.status == 503
    assert caught.value.attempts == 4
    assert caught.value.retryable
    assert state()["requests"]["elevenlabs"] == 4


def test_a_gateway_page_is_named_by_its_status_not_its_html(connect, inject):
    create_fault(inject, "callers", "502")
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(connect("callers"), request("callers"))
    assert (
        "answered Bad Gateway, so it may have been acted on" in caught.value.message
        and "<html" not in str(caught.value)
    )


def test_backoff_grows_with_full_jitter_and_a_cap(connect, inject):
    sleeps = Sleeps()
    inject("cartesia", "500", count=-1)
    client = connect("cartesia", sleep=sleeps, backoff_base_s=1, backoff_max_s=3, max_attempts=6)
    with pytest.raises(ProviderError):
        client.json("GET", "/voices")
    assert len(sleeps) == 5
    for attempt, slept in enumerate(sleeps, start=1):
        assert 0 <= slept <= min(3, 2 ** (attempt - 1))


def test_delay_within_the_read_timeout_is_just_slow(connect, inject, state):
    create_fault(inject, "cartesia", "delay", delay_s=0.3)
    providers.clone(connect("cartesia", read_timeout_s=5), request("cartesia"))
    assert state()["requests"]["cartesia"] == 1
    assert len(creates(state, "cartesia")) == 1


def test_read_timeout_on_a_get_is_retried(connect, inject, state):
    inject("anam", "delay", delay_s=1.0, method="GET")
    client = connect("anam", read_timeout_s=0.2)
    assert providers.get("anam").find_by_name(client, "nobody") == []
    assert state()["requests"]["anam"] == 2


def test_dropped_connection_on_a_get_is_retried(connect, inject, state):
    client = connect("elevenlabs")
    voice = providers.clone(client, request("elevenlabs"))
    inject("elevenlabs", "drop", method="GET", path="/v2/voices")
    found = providers.get("elevenlabs").find_by_name(client, voice.name)
    assert [v.voice_id for v in found] == [voice.voice_id]
    assert state()["requests"]["elevenlabs"] == 4  # add, get, dropped search, search


def test_a_drop_is_seen_by_httpx_as_no_response(emulator, inject):
    inject("anam", "drop")
    base = emulator.env()["ANAM_BASE_URL"]
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(f"{base}/v1/voices", headers={"Authorization": "Bearer abc"})


def test_malformed_json_on_a_get_is_retried(connect, inject, state):
    inject("cartesia", "malformed", method="GET")
    client = connect("cartesia")
    assert providers.get("cartesia").find_by_name(client, "nobody") == []
    assert state()["requests"]["cartesia"] == 2


@pytest.mark.parametrize("kind", ["lost", "malformed"])
@pytest.mark.parametrize("name", CAN_LIST)
def test_lost_answer_is_reconciled_by_name(name, kind, connect, inject, state):
    create_fault(inject, name, kind)
    voice = providers.clone(connect(name), request(name))
    stored = creates(state, name)
    assert len(stored) == 1
    assert voice.name == request(name).name
    assert voice.voice_id in str(stored[0])


@pytest.mark.parametrize("name", CAN_LIST)
def test_a_drop_before_the_create_ran_is_looked_up_not_sent_again(name, connect, inject, state):
    create_fault(inject, name, "drop")
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(connect(name), request(name))
    assert caught.value.listing == providers.NOT_LISTED
    assert creates(state, name) == []


@pytest.mark.parametrize("kind", ["lost", "malformed", "drop"])
def test_callers_lost_answer_is_outcome_unknown(kind, connect, inject, state):
    create_fault(inject, "callers", kind)
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(connect("callers"), request("callers"))
    assert caught.value.retryable is False
    assert "no way to list" in caught.value.message
    assert state()["requests"]["callers"] == 1  # never re-sent blindly


def test_two_voices_with_the_name_are_not_guessed_between(connect, inject, state):
    client = connect("anam")
    providers.clone(client, request("anam"))
    create_fault(inject, "anam", "lost")
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(client, request("anam"))
    assert "2 voices named" in caught.value.message
    assert len(creates(state, "anam")) == 2


def test_lost_answer_and_failed_lookup_is_outcome_unknown(connect, inject, state):
    create_fault(inject, "cartesia", "lost")
    inject("cartesia", "503", count=-1, method="GET")
    with pytest.raises(OutcomeUnknown) as caught:
        providers.clone(connect("cartesia", max_attempts=2), request("cartesia"))
    assert caught.value.retryable is False
    assert "looking 'Voice cartesia' up failed" in caught.value.message
    assert len(creates(state, "cartesia")) == 1


@pytest.mark.parametrize("kind", ["drop", "502"])
def test_faseeh_preview_lost_fails_the_clone_without_sending_it_again(kind, connect, inject, state):
    """The preview may be billed: it is not sent twice; no voice was made, so a rerun is safe."""
    inject("faseeh", kind, path="/voices/preview")
    with pytest.raises(ProviderError) as caught:
        providers.clone(connect("faseeh"), request("faseeh"))
    assert not isinstance(caught.value, OutcomeUnknown)
    assert "the preview's answer was lost" in caught.value.message
    assert creates(state, "faseeh") == []
    assert state()["requests"]["faseeh"] == 2  # models, the preview; no clone


def test_nothing_listening_is_a_connect_error_retried_to_the_limit():
    with socket_closed_port() as port:
        sleeps = Sleeps()
        client = Client("anam", f"http://127.0.0.1:{port}", {}, sleep=sleeps, max_attempts=3)
        with client, pytest.raises(ProviderError) as caught:
            client.json("POST", "/v1/voices")
    assert caught.value.attempts == 3
    assert str(caught.value) == "anam: could not connect (ConnectError) after 3 attempt(s)"
    assert len(sleeps) == 2


def test_an_error_without_a_status_says_what_happened(connect, inject) -> None:
    """No answer, so no status: the text is what went wrong, never 'no response' for all."""
    with pytest.raises(ProviderError) as caught:
        providers.connect("anam", key=" ")
    assert str(caught.value) == "anam: no API key: set ANAM_API_KEY"

    inject("anam", "delay", delay_s=1.0, method="POST")  # a create that outlives the read timeout
    with pytest.raises(OutcomeUnknown) as lost:
        providers.clone(connect("anam", read_timeout_s=0.2), request("anam"))
    assert str(lost.value).startswith("anam: POST /v1/voices: no complete answer (ReadTimeout); ")


def socket_closed_port():
    import contextlib
    import socket

    @contextlib.contextmanager
    def port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        number = s.getsockname()[1]
        s.close()
        yield number

    return port()


def test_concurrency_limit_holds_across_clients(connect, inject, state):
    inject("althea", "delay", delay_s=0.3, count=-1, method="GET")
    clients = [connect("althea", concurrency=2) for _ in range(3)]
    threads = [threading.Thread(target=lambda c=c: c.json("GET", "/voices")) for c in clients * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state()["max_in_flight"]["althea"] == 2
    assert state()["requests"]["althea"] == 9


def test_rate_limit_spaces_requests(connect):
    sleeps = Sleeps()
    client = connect("cartesia", rate_per_s=2, sleep=sleeps)
    for _ in range(4):
        client.json("GET", "/voices")
    assert sleeps  # the bucket (2 tokens) ran dry and made the client wait


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31
    assert parse_retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"errorCode": "40201", "errorMessage": "Insufficient wallet balance"},
         "Insufficient wallet balance", "40201"),
        ({"detail": {"status": "voice_limit_reached", "message": "10 / 10"}},
         "10 / 10", "voice_limit_reached"),
        ({"detail": [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}]},
         "name: Field required", "validation_error"),
        ({"error_code": "model_sunsetted", "message": "gone", "title": "t"},
         "gone", "model_sunsetted"),
        ({"name": ["Must be unique within your account."]},
         "name: ['Must be unique within your account.']", None),
    ],
)  # fmt: skip
def test_error_details_reads_each_documented_shape(body, message, code):
    parsed = error_details(httpx.Response(400, json=body))
    assert parsed == (message, code)
