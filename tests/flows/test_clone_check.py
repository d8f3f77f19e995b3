"""Hear every clone, through `voxclone run --json` and `voxclone check` against the emulator, whose
previews are a few seconds of the upload as low-rate MP3 (or, with a preview fault, another
speaker, bytes that are not audio, an HTML page, a redirect to file://)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from flow_cases import KEY, emulator_voices

from flows import ledger
from flows.cli import main
from flows.ledger.schema import clone_checks
from flows.pipeline.clonecheck import THRESHOLD
from providers.emulator import control

ALL = "anam,althea,faseeh,callers,elevenlabs,cartesia"


def _run(capsys, *args: str) -> tuple[int, dict]:
    code = main(["run", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _checks(run: dict) -> dict[str, dict]:
    return {r["provider"]: r["clone_check"] for r in run["results"]}


def _rows() -> list[dict]:
    with ledger.engine().connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(clone_checks))]


@pytest.mark.integration  # a real Prefect server
def test_each_preview_is_heard_warned_or_said_why_not_and_reruns_keep_the_check(
    prefect_api, env, emulator, inbox: Path, monkeypatch, capsys
) -> None:
    control.inject(emulator.url, "anam", "preview-other")
    control.inject(emulator.url, "althea", "preview-broken")
    control.inject(emulator.url, "elevenlabs", "preview-redirect")
    code, run = _run(capsys, str(inbox), "--providers", ALL)

    assert code == 0, run["results"]  # a warning keeps the clone and does not fail the run
    assert {r["status"] for r in run["results"]} == {"created"}
    checks = _checks(run)
    faseeh = checks["faseeh"]  # the emulator's preview is the upload: the speaker
    assert faseeh["verdict"] == "pass" and faseeh["similarity"] >= THRESHOLD, faseeh
    assert faseeh["source"] == "faseeh-preview" and faseeh["bytes"] > 0
    assert faseeh["ovrl"] is not None and len(faseeh["sha256"]) == 64
    anam = checks["anam"]  # another speaker's audio
    assert anam["verdict"] == "warn" and anam["similarity"] < THRESHOLD, anam
    assert f"similarity {anam['similarity']:.2f}" in anam["reason"]
    assert f"below {THRESHOLD:.2f}" in anam["reason"]
    assert checks["althea"]["verdict"] == "not-run"
    assert checks["althea"]["reason"].startswith(
        "could not run: the preview is not audio we can decode"
    )
    assert checks["elevenlabs"] == {
        **checks["elevenlabs"],
        "verdict": "not-run",
        "reason": "could not run: redirected (HTTP 302) to a URL that is not http(s) "
        "(scheme 'file')",
        "sha256": None,
    }
    for name, provider in (("cartesia", "Cartesia"), ("callers", "Callers.ai")):
        assert checks[name]["reason"] == (
            f"no preview to check: {provider} returns no audio of the new voice"
        )
        assert checks[name]["verdict"] == "no-preview"

    rows = _rows()
    assert sorted(r["provider"] for r in rows) == sorted(ALL.split(","))
    by_provider = {r["provider"]: r for r in rows}
    assert by_provider["anam"]["similarity"] == anam["similarity"]
    assert by_provider["anam"]["voice_id"] == next(
        r["voice_id"] for r in run["results"] if r["provider"] == "anam"
    )
    report = Path(run["report"]).read_text()
    assert "sounds most like the speaker: Faseeh" in report
    assert report.count("<audio") >= 2 + 4  # each checked preview beside its voice's take
    for text in (json.dumps(run), json.dumps(rows, default=str), report):
        assert KEY not in text

    # A rerun answers every clone from the ledger, with the check it had; nothing is fetched.
    code, again = _run(capsys, str(inbox), "--providers", ALL)
    assert code == 0
    assert {r["status"] for r in again["results"]} == {"exists"}
    assert _checks(again) == checks
    assert len(_rows()) == len(rows)

    # `voxclone check` fetches the previews again: the faults are spent, so each is heard now,
    # first under a size cap no preview fits.
    monkeypatch.setenv("VOXCLONE_PREVIEW_MAX_BYTES", "2000")
    assert main(["check", "breathe", "--providers", "anam", "--json"]) == 1  # not checked
    monkeypatch.delenv("VOXCLONE_PREVIEW_MAX_BYTES")
    out, err = capsys.readouterr()
    assert "1 of 1 clones need a listen: anam/breathe could not be checked" in err
    capped = json.loads(out)
    assert capped[0]["clone_check"]["verdict"] == "not-run"
    assert "preview too large" in capped[0]["clone_check"]["reason"]
    assert "the limit is 2000 bytes" in capped[0]["clone_check"]["reason"]
    assert main(["check", "breathe", "--json"]) == 0
    fresh = {r["provider"]: r["clone_check"] for r in json.loads(capsys.readouterr().out)}
    for name in ("anam", "althea", "elevenlabs"):
        assert fresh[name]["verdict"] == "pass" and fresh[name]["similarity"] >= THRESHOLD
    assert fresh["cartesia"]["verdict"] == "no-preview"
    assert len(_rows()) == len(rows) + 1 + 6

    # and the next rerun, answered from the ledger, shows the latest check of each voice
    code, last = _run(capsys, str(inbox), "--providers", ALL)
    assert code == 0 and {r["status"] for r in last["results"]} == {"exists"}
    assert _checks(last) == fresh

    # A preview that is not the speaker is a check that asks for a listen: exit 1, as prepare.
    control.inject(emulator.url, "anam", "preview-other")
    assert main(["check", "breathe", "--providers", "anam,cartesia"]) == 1
    out, err = capsys.readouterr()
    assert (
        "warn" in out and "1 of 2 clones need a listen: anam/breathe may not be the speaker" in err
    )


@pytest.mark.integration  # a real Prefect server
def test_gate_holds_faseeh_when_its_preview_is_not_the_speaker(
    prefect_api, env, emulator, inbox: Path, capsys
) -> None:
    control.inject(emulator.url, "faseeh", "preview-other")
    control.inject(emulator.url, "anam", "preview-html")
    code, run = _run(capsys, str(inbox), "--providers", "faseeh,anam", "--clone-check", "gate")

    assert code == 1  # something to act on: the held clone
    results = {r["provider"]: r for r in run["results"]}
    faseeh = results["faseeh"]
    assert faseeh["status"] == "held" and faseeh["voice_id"] is None
    assert faseeh["error"].startswith("held by --clone-check gate: Faseeh's preview is not")
    assert f"similarity {faseeh['clone_check']['similarity']:.2f}" in faseeh["error"]
    assert "faseeh" not in {p for p, v in emulator_voices(emulator.url).items() if v}
    assert results["anam"]["status"] == "created"  # gate stops only what it can stop before
    assert results["anam"]["clone_check"]["reason"] == (
        "could not run: not audio: the preview URL answered text/html"
    )

    # warn: the same preview (another speaker) is cloned anyway, with the warning.
    control.inject(emulator.url, "faseeh", "preview-other")
    code, run = _run(capsys, str(inbox), "--providers", "faseeh,anam")
    faseeh = {r["provider"]: r for r in run["results"]}["faseeh"]
    assert code == 0 and faseeh["status"] == "created"
    assert faseeh["clone_check"]["verdict"] == "warn"


@pytest.mark.integration  # a real Prefect server
def test_off_fetches_nothing(prefect_api, env, emulator, inbox: Path, capsys) -> None:
    code, run = _run(capsys, str(inbox), "--providers", "anam", "--clone-check", "off")
    assert code == 0
    assert run["results"][0]["status"] == "created"
    assert run["results"][0]["clone_check"] is None
    assert _rows() == []


def test_check_says_when_it_knows_no_such_voice(env, capsys) -> None:
    assert main(["check", "nobody"]) == 1
    assert "voxclone check: no cloned voice 'nobody' in the ledger" in capsys.readouterr().err


@pytest.mark.integration  # a real Prefect server
def test_a_trickling_preview_ends_at_its_deadline_and_nothing_unheard_is_stored(
    prefect_api, env, emulator, inbox: Path, monkeypatch, capsys
) -> None:
    """A preview sent a byte a second ends at the deadline (3 s here, 30 s by default); one
    redirected to the cloud metadata address is never fetched; a broken one is not kept."""
    from flows import config

    monkeypatch.setenv("VOXCLONE_PREVIEW_DEADLINE_S", "3")
    control.inject(emulator.url, "anam", "preview-trickle", delay_s=1.0)
    control.inject(emulator.url, "althea", "preview-internal")
    control.inject(emulator.url, "elevenlabs", "preview-broken")
    code, run = _run(capsys, str(inbox), "--providers", "anam,althea,elevenlabs")

    assert code == 0 and {r["status"] for r in run["results"]} == {"created"}
    checks = _checks(run)
    assert checks["anam"]["reason"] == (
        "could not run: gave up after 3 s, the deadline for a whole preview (connect to last byte)"
    )
    assert checks["althea"]["reason"].startswith(
        "could not run: refused: 169.254.169.254 is not a public address (169.254.169.254 "
        "(link-local)) and not the provider's base URL"
    )
    assert checks["elevenlabs"]["reason"].startswith("could not run: the preview is not audio")
    broken = checks["elevenlabs"]["sha256"]
    assert len(broken) == 64
    stored = {p.stem for p in config.store_dir().rglob("*.preview")}
    assert broken not in stored and stored == set()  # only audio that decodes is kept
