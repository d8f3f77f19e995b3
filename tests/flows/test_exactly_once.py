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
