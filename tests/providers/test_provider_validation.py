"""Every documented constraint is refused before a byte is sent; the emulator refuses the same."""

from __future__ import annotations

import pytest
from provider_cases import audio, request

import providers
from providers.emulator import server
from providers.http import Client
from providers.types import InvalidRequest, ProviderError

LONG = "x" * 41

# (provider, changes to the valid request, field named in the error)
INVALID = [
    ("anam", {"name": "  "}, "name"),
    ("anam", {"files": ()}, "audioFile"),
    ("anam", {"files": (audio(), audio())}, "audioFile"),
    ("anam", {"options": {"enhance": "no"}}, "enhance"),
    ("anam", {"options": {"voice_id": "x"}}, "voice_id"),
    ("althea", {"name": LONG}, "name"),
    ("althea", {"description": "d" * 241}, "description"),
    ("althea", {"files": (audio("take.ogg"),)}, "file"),
    ("althea", {"files": (audio("big.wav", b"\0" * (10 * 1024 * 1024 + 1)),)}, "file"),
    ("althea", {"files": (audio(), audio())}, "file"),
    ("althea", {"language": "english (US)"}, "language"),
    ("althea", {"language": "zh-Hant-TW-x"}, "language"),
    ("faseeh", {"options": {"text": "two words"}}, "text"),
    ("faseeh", {"options": {"text": "a b c d"}}, "text"),
    ("faseeh", {"options": {"similarity": 1.5}}, "similarity"),
    ("faseeh", {"options": {"speed": 0.5}}, "speed"),
    ("faseeh", {"options": {"stability": -0.1}}, "stability"),
    ("faseeh", {"options": {"stability": True}}, "stability"),
    ("faseeh", {"options": {"model": "a", "model_id": "b"}}, "model"),
    ("faseeh", {"options": {"languages": 7}}, "languages"),
    ("faseeh", {"files": ()}, "reference_audio_file"),
    ("callers", {"name": "abcd"}, "name"),
    ("callers", {"files": ()}, "files"),
    ("callers", {"options": {"providerType": "OPENAI"}}, "providerType"),
    ("callers", {"options": {"supportedLocales": ["en-US", "xx-XX"]}}, "supportedLocales"),
    ("callers", {"options": {"stability": 1.01}}, "stability"),
    ("callers", {"options": {"similarityBoost": -0.1}}, "similarityBoost"),
    ("callers", {"options": {"speed": 1.5}}, "speed"),
    ("callers", {"options": {"subAccounts": "false"}}, "subAccounts"),
    ("callers", {"options": {"supportsAllLanguages": 1}}, "supportsAllLanguages"),
    ("elevenlabs", {"files": ()}, "files"),
    ("elevenlabs", {"name": ""}, "name"),
    ("elevenlabs", {"options": {"labels": {"mood": "calm"}}}, "labels"),
    ("elevenlabs", {"options": {"labels": "accent=british"}}, "labels"),
    ("elevenlabs", {"options": {"remove_background_noise": "yes"}}, "remove_background_noise"),
    ("cartesia", {"language": "xx-YY"}, "language"),
    ("cartesia", {"files": (audio("take.m4a"),)}, "clip"),
    ("cartesia", {"files": (audio(), audio())}, "clip"),
    ("cartesia", {"options": {"enhance": "true"}}, "enhance"),
    ("cartesia", {"options": {"stability": 0.5}}, "stability"),
]


@pytest.mark.parametrize(("name", "changes", "field"), INVALID)
def test_invalid_request_is_refused_before_sending(name, changes, field, connect, state):
    client = connect(name)
    with pytest.raises(InvalidRequest) as caught:
        providers.clone(client, request(name, **changes))
    assert caught.value.field == field
    assert caught.value.rule
    assert str(caught.value).startswith(f"{name}: not sent [invalid_request]: {field}: ")
    assert state()["requests"].get(name, 0) == 0


def test_every_provider_has_a_constraint_test():
    assert {case[0] for case in INVALID} == set(providers.NAMES)


def test_callers_locale_outside_the_enum_is_simply_not_sent(connect, state):
    providers.clone(connect("callers"), request("callers", language="sw-KE"))
    assert "supportedLocales" not in state()["last_request"]["callers"]["fields"]


def test_faseeh_model_is_checked_against_models(connect, state):
    client = connect("faseeh")
    with pytest.raises(InvalidRequest) as caught:
        providers.clone(client, request("faseeh", options={"model": "faseeh-v9"}))
    assert caught.value.field == "model"
    s = state()
    assert s["requests"]["faseeh"] == 1  # only GET /models; no preview, no clone
    assert "faseeh" not in s["last_request"]


# The emulator enforces the docs on its own: send what validate() would have refused.
def _raw_clone(client, req):
    return providers.get(client.provider).clone(client, req)


@pytest.mark.parametrize(
    ("name", "changes", "status", "says"),
    [
        ("anam", {"name": " "}, 400, "name is required"),
        ("althea", {"name": LONG}, 400, "40 characters"),
        ("althea", {"files": (audio("take.ogg"),)}, 400, ".mp3 or .wav"),
        ("faseeh", {"options": {"text": "too short"}}, 400, "at least 3 words"),
        ("callers", {"name": "abcd"}, 400, "5 characters"),
        ("callers", {"options": {"providerType": "OPENAI"}}, 400, "providerType"),
        ("elevenlabs", {"options": {"labels": {"mood": "calm"}}}, 422, "labels"),
        ("cartesia", {"language": "xx"}, 400, "language must be one of"),
    ],
)
def test_emulator_refuses_what_the_docs_refuse(name, changes, status, says, connect, state):
    with pytest.raises(ProviderError) as caught:
        _raw_clone(connect(name), request(name, **changes))
    assert caught.value.status == status
    assert caught.value.attempts == 1
    assert says in caught.value.message
    assert not state()["voices"].get(name)


def test_althea_names_are_unique(connect, state):
    client = connect("althea")
    providers.clone(client, request("althea"))
    with pytest.raises(ProviderError) as caught:
        providers.clone(client, request("althea"))
    assert (caught.value.status, caught.value.attempts) == (400, 1)
    assert "unique" in caught.value.message
    assert len(state()["voices"]["althea"]) == 1


def test_elevenlabs_422_lists_the_fields(connect):
    client = connect("elevenlabs")
    with pytest.raises(ProviderError) as caught:
        client.json("POST", "/v1/voices/add", data={"description": "no name"})
    assert caught.value.status == 422
    assert caught.value.code == "validation_error"
    assert "name: Field required" in caught.value.message


def test_faseeh_clone_needs_a_preview_it_issued(connect):
    from providers import faseeh

    client = connect("faseeh")
    fake = faseeh.pcm_to_wav(b"\x00\x01" * 12000)
    data = {
        "text": "Hello there, my voice.",
        "stability": "0.5",
        "name": "n",
        "model": "faseeh-v1-preview",
    }
    files = [("voice_file", ("p.wav", fake, "audio/wav")),
             ("reference_audio_file", ("r.wav", audio().data, "audio/wav"))]  # fmt: skip
    with pytest.raises(ProviderError) as caught:
        client.json("POST", "/voices/clone", data=data, files=files)
    assert caught.value.status == 400
    assert caught.value.code == "40001"
    assert "preview" in caught.value.message


def test_cartesia_version_header_is_required(emulator):
    base = emulator.env()["CARTESIA_BASE_URL"]
    with (
        Client("cartesia", base, {"Authorization": "Bearer k"}) as client,
        pytest.raises(ProviderError) as caught,
    ):
        client.json("GET", "/voices")
    assert caught.value.status == 400
    assert "Cartesia-Version" in caught.value.message


MESSAGES_401 = {
    "anam": "Unauthorized",
    "althea": "Invalid API key.",
    "faseeh": "Invalid or missing API key",
    "callers": "Unauthorized",
    "elevenlabs": "Invalid API key",
    "cartesia": "invalid API key",
}


@pytest.mark.parametrize("name", providers.NAMES)
def test_bad_key_is_401_without_retry(name, connect, state):
    with pytest.raises(ProviderError) as caught:
        providers.clone(connect(name, key="invalid"), request(name))
    assert caught.value.status == 401
    assert caught.value.attempts == 1
    assert MESSAGES_401[name] in caught.value.message
    assert state()["requests"][name] == 1


def test_emulator_with_fixed_keys_accepts_only_those():
    with server.start(keys={"anam": "right-key-1"}) as running:
        base = running.env()["ANAM_BASE_URL"]
        with providers.connect("anam", key="wrong-key-2", base_url=base) as wrong:
            with pytest.raises(ProviderError) as caught:
                providers.clone(wrong, request("anam"))
            assert caught.value.status == 401
        with providers.connect("anam", key="right-key-1", base_url=base) as right:
            assert providers.clone(right, request("anam")).voice_id


def test_connect_needs_a_key(monkeypatch):
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="CARTESIA_API_KEY"):
        providers.connect("cartesia")


def test_connect_reads_key_and_base_url_from_env(monkeypatch, emulator):
    monkeypatch.setenv("ANAM_API_KEY", "env-key-123")
    monkeypatch.setenv("ANAM_BASE_URL", emulator.env()["ANAM_BASE_URL"])
    with providers.connect("anam") as client:
        assert client.base_url == emulator.env()["ANAM_BASE_URL"]
        assert providers.clone(client, request("anam")).voice_id


def test_unknown_provider_names_the_valid_ones():
    with pytest.raises(ValueError, match="anam, althea, faseeh, callers, elevenlabs, cartesia"):
        providers.get("openai")
