"""Each provider's happy path, over loopback HTTP, with exactly the fields its docs name."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from provider_cases import CAN_LIST, request

import providers
from providers.types import ProviderError

# provider -> (options, description, form fields the create must carry, file parts)
CASES = {
    "anam": (
        {"enhance": False},
        {"name", "description", "language", "enhance"},
        ["audioFile"],
    ),
    "althea": ({}, {"name", "description", "language"}, ["file"]),
    "faseeh": (
        {
            "text": "Hello there, this is my voice preview.",
            "similarity": 0.8,
            "speed": 1.1,
            "stability": 0.6,
            "age": "middle",
            "dialects": ["najdi", "hijazi"],
            "avatar_url": "https://example.com/a.png",
        },
        {"text", "stability", "name", "model", "description", "gender", "age", "languages",
         "dialects", "avatar_url"},
        ["voice_file", "reference_audio_file"],
    ),
    "callers": (
        {
            "providerType": "ELEVENLABS",
            "supportedLocales": ["en-US", "en-GB"],
            "stability": 0.5,
            "similarityBoost": 0.7,
            "speed": -0.2,
            "subAccounts": False,
            "supportsAllLanguages": False,
        },
        {"name", "description", "providerType", "supportedLocales", "stability",
         "similarityBoost", "speed", "subAccounts", "supportsAllLanguages"},
        ["files", "files"],
    ),
    "elevenlabs": (
        {"remove_background_noise": True, "labels": {"accent": "british"}},
        {"name", "description", "remove_background_noise", "labels"},
        ["files", "files"],
    ),
    "cartesia": (
        {"base_voice_id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
        {"name", "description", "language", "base_voice_id"},
        ["clip"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", providers.NAMES)
def test_clone_sends_the_documented_fields(name, connect, state):
    options, fields, files = CASES[name]
    client = connect(name)
    req = request(name, description="warm narrator", gender="female", options=options)

    voice = providers.clone(client, req)

    seen = state()
    wire = seen["last_request"][name]
    assert set(wire["fields"]) == fields
    assert Counter(wire["files"]) == Counter(files)
    stored = seen["voices"][name]
    assert len(stored) == 1
    assert voice.provider == name
    assert voice.name == req.name
    assert voice.voice_id in json.dumps(stored[0])
    assert voice.raw


def test_field_values_follow_each_providers_conventions(connect, state):
    providers.clone(connect("anam"), request("anam", options={"enhance": False}))
    providers.clone(connect("callers"), request("callers", options={"speed": 0.5}))
    providers.clone(connect("elevenlabs"), request("elevenlabs", gender="male"))
    providers.clone(connect("cartesia"), request("cartesia", language="ar-SA"))
    wire = state()["last_request"]
    assert wire["anam"]["values"]["enhance"] == ["false"]
    assert wire["anam"]["values"]["language"] == ["en"]
    assert wire["callers"]["values"]["supportedLocales"] == ["en-US"]  # default [req.language]
    assert json.loads(wire["elevenlabs"]["values"]["labels"][0]) == {
        "language": "en",
        "gender": "male",
    }
    assert wire["cartesia"]["values"]["language"] == ["ar"]
    assert "cartesia-version" in wire["cartesia"]["headers"]


def test_faseeh_previews_first_and_sends_the_preview_back(connect, state):
    providers.clone(connect("faseeh"), request("faseeh"))
    s = state()
    # /models, the preview, the clone
    assert s["requests"]["faseeh"] == 3
    assert s["last_request"]["faseeh"]["path"].endswith("/voices/clone")
    assert s["voices"]["faseeh"][0]["languages"] == ["en"]


def test_faseeh_pcm_is_wrapped_as_24k_mono_wav():
    import io
    import wave

    from providers import faseeh

    with wave.open(io.BytesIO(faseeh.pcm_to_wav(b"\x01\x00" * 240))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            1, 2, 24000, 240,
        )  # fmt: skip


@pytest.mark.parametrize("name", providers.NAMES)
def test_find_and_delete(name, connect, state):
    client = connect(name)
    module = providers.get(name)
    voice = providers.clone(client, request(name))
    providers.clone(client, request(name, name=f"Other {name} voice"))

    found = module.find_by_name(client, voice.name)
    if name not in CAN_LIST:
        assert found is None
        with pytest.raises(ProviderError, match="no endpoint to delete"):
            module.delete(client, voice.voice_id)
        return
    assert [v.voice_id for v in found] == [voice.voice_id]
    if name == "faseeh":
        with pytest.raises(ProviderError, match="no endpoint to delete"):
            module.delete(client, voice.voice_id)
        return
    module.delete(client, voice.voice_id)
    assert module.find_by_name(client, voice.name) == []
    assert len(state()["voices"][name]) == 1


PAGE_SIZE_ATTR = {
    "anam": "PER_PAGE_MAX",
    "althea": "PAGE_SIZE",
    "elevenlabs": "PAGE_SIZE_MAX",
    "cartesia": "PAGE_LIMIT",
}


@pytest.mark.parametrize("name", list(PAGE_SIZE_ATTR))
def test_find_by_name_follows_pagination(name, connect, monkeypatch):
    client = connect(name)
    module = providers.get(name)
    for i in range(4):  # names that a search for "Paged" also matches, listed first
        providers.clone(client, request(name, name=f"Paged {i}"))
    last = providers.clone(client, request(name, name="Paged"))
    monkeypatch.setattr(module, PAGE_SIZE_ATTR[name], 2)

    found = module.find_by_name(client, "Paged")

    assert [v.voice_id for v in found] == [last.voice_id]
