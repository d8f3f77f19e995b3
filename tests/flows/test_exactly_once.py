"""Never pay twice: a create the provider stored but answered with a gateway error, through
`voxclone run --json` against the emulator, on every provider, and again on the rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flow_cases import PROVIDERS, emulator_voices

from flows.cli import main
from providers.emulator import control
from providers.registry import SPECS

pytestmark = pytest.mark.integration  # a real Prefect server

# A gateway's 502 on four providers, its 504 on two: the voice was stored either way.
GATEWAY = {"anam": "502", "althea": "504", "faseeh": "502", "callers": "502",
           "elevenlabs": "504", "cartesia": "502"}  # fmt: skip


def _run(capsys: pytest.CaptureFixture, inbox: Path, *extra: str) -> tuple[int, dict[str, dict]]:
    code = main(["run", str(inbox), "--providers", "all", "--workers", "2", "--json", *extra])
    run = json.loads(capsys.readouterr().out)
    return code, {r["provider"]: r for r in run["results"]}


def _creates(url: str) -> dict[str, int]:
    return {p: len(v) for p, v in emulator_voices(url).items()}


def test_a_create_stored_then_answered_by_a_gateway_error_makes_one_voice_each(
    prefect_api, env, inbox: Path, emulator, capsys
) -> None:
    url = emulator.url
    for provider, status in GATEWAY.items():
        control.inject(url, provider, status, path=SPECS[provider].create_path, method="POST")
    code, results = _run(capsys, inbox)

    assert _creates(url) == {p: 1 for p in PROVIDERS}  # five paid duplicates before
    stored = {p: v[0] for p, v in emulator_voices(url).items()}
    for provider in PROVIDERS:
        if provider == "callers":
            continue
        result = results[provider]
        assert result["status"] == "created", result  # found on its voice list, not sent again
        assert result["voice_id"] in json.dumps(stored[provider])
    callers = results["callers"]
    assert code == 1 and callers["status"] == "held"  # cannot list: held, with how to go on
    assert f"HTTP {GATEWAY['callers']}" in callers["error"]
    assert "no way to list voices" in callers["error"] and "--force" in callers["error"]

    sent = control.state(url)["requests"]
    code, again = _run(capsys, inbox)
    assert _creates(url) == {p: 1 for p in PROVIDERS}
    assert {p: r["status"] for p, r in again.items()} == {
        **{p: "exists" for p in PROVIDERS},
        "callers": "held",
    }
    assert control.state(url)["requests"]["callers"] == sent["callers"]  # never re-sent blindly
    assert {p: again[p]["voice_id"] for p in PROVIDERS if p != "callers"} == {
        p: results[p]["voice_id"] for p in PROVIDERS if p != "callers"
    }


def test_a_create_lost_before_it_ran_is_held_then_sent_once_by_the_next_run(
    prefect_api, env, inbox: Path, emulator, capsys
) -> None:
    """A dropped connection, or a 503: not on the list (yet). Nothing is sent again in the run
    (behind a gateway the voice may still be in the making); the next run looks and sends."""
    url = emulator.url
    control.inject(url, "anam", "drop", path=SPECS["anam"].create_path, method="POST")
    control.inject(url, "cartesia", "503", path=SPECS["cartesia"].create_path, method="POST")
    code, results = _run(capsys, inbox, "--providers", "anam,cartesia")
    assert code == 1
    for provider in ("anam", "cartesia"):
        assert results[provider]["status"] == "held", results[provider]
        assert "is not on the" in results[provider]["error"]
        assert "sends only if it is still not there" in results[provider]["error"]
    assert emulator_voices(url).get("anam", []) == emulator_voices(url).get("cartesia", []) == []

    code, again = _run(capsys, inbox, "--providers", "anam,cartesia")
    assert code == 0 and {r["status"] for r in again.values()} == {"created"}, again
    assert _creates(url) == {"anam": 1, "cartesia": 1}


def test_a_changed_description_or_name_says_the_provider_keeps_the_old_one(
    prefect_api, env, inbox: Path, emulator, capsys
) -> None:
    """The takes and the options that shape a voice make a new clone; the fields the provider
    keeps with it (name, description, language, gender, labels) do not: the result says so."""
    url = emulator.url
    manifest = inbox / "breathe" / "voice.toml"
    pair = ("--providers", "anam,elevenlabs")
    code, first = _run(capsys, inbox, *pair)
    assert code == 0 and {r["status"] for r in first.values()} == {"created"}
    sent = sum(control.state(url)["requests"].values())

    manifest.write_text(manifest.read_text().replace("test voice", "a calm narrator"))
    code, edited = _run(capsys, inbox, *pair)
    assert code == 0
    for provider, result in edited.items():
        assert result["status"] == "exists" and result["voice_id"] == first[provider]["voice_id"]
        assert result["note"] == (
            "exists; its description changed since it was cloned; the provider keeps the old "
            "one; --force clones again"
        )
    assert sum(control.state(url)["requests"].values()) == sent  # nothing was sent
    report = Path(json.loads(_last_run_json(capsys, inbox, *pair))["report"]).read_text()
    assert "its description changed since it was cloned" in report

    text = manifest.read_text().replace('"Breathe Test"', '"Breathe Narrator"')
    manifest.write_text(text + '\n[options.elevenlabs]\nlabels = {accent = "british"}\n')
    code, renamed = _run(capsys, inbox, *pair)
    assert renamed["anam"]["note"].startswith("exists; its name and description changed")
    assert renamed["elevenlabs"]["note"].startswith(
        "exists; its name, description and labels changed since it was cloned; the provider "
        "keeps the old ones"
    )
    assert sum(control.state(url)["requests"].values()) == sent

    code, forced = _run(capsys, inbox, *pair, "--force")
    assert code == 0 and {r["status"] for r in forced.values()} == {"created"}, forced
    assert all("note" not in r for r in forced.values())
    voices = emulator_voices(url)
    assert [v["displayName"] for v in voices["anam"]] == ["Breathe Test", "Breathe Narrator"]
    assert [v["name"] for v in voices["elevenlabs"]] == ["Breathe Test", "Breathe Narrator"]

    code, settled = _run(capsys, inbox, *pair)
    assert {r["status"] for r in settled.values()} == {"exists"}
    assert {p: r["voice_id"] for p, r in settled.items()} == {
        p: r["voice_id"] for p, r in forced.items()
    }
    assert all("note" not in r for r in settled.values())


def _last_run_json(capsys: pytest.CaptureFixture, inbox: Path, *extra: str) -> str:
    """One more run with the same inputs, for its whole --json (the report's path)."""
    main(["run", str(inbox), "--workers", "2", "--json", *extra])
    return capsys.readouterr().out
